import NIOCore

/// Joins a message split across MESSAGE frames (flag MORE) and enforces the message size limit
/// before buffering each fragment.
struct MessageAssembler: Sendable {
  let maxMessageSize: Int
  private var partial: ByteBuffer?

  init(maxMessageSize: Int) {
    self.maxMessageSize = maxMessageSize
  }

  enum Result: Sendable {
    /// A whole message.
    case message(ByteBuffer)
    /// More fragments are needed.
    case incomplete
    /// The message would exceed the limit; its bytes so far were dropped.
    case tooLarge(size: Int)
  }

  /// Whether a message is partly received.
  var isAssembling: Bool { partial != nil }

  /// Bytes of the partly received message.
  var partialSize: Int { partial?.readableBytes ?? 0 }

  mutating func append(_ fragment: ByteBuffer, more: Bool) -> Result {
    let size = (partial?.readableBytes ?? 0) + fragment.readableBytes
    guard size <= maxMessageSize else {
      partial = nil
      return .tooLarge(size: size)
    }
    if var buffered = partial {
      var fragment = fragment
      partial = nil  // keep the buffer uniquely referenced while appending
      buffered.writeBuffer(&fragment)
      if more {
        partial = buffered
        return .incomplete
      }
      return .message(buffered)
    }
    if more {
      partial = fragment
      return .incomplete
    }
    return .message(fragment)
  }
}
