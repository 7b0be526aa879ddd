import NIOCore

/// The receiving side of one call's messages: fragments joined under the message size limit,
/// and flow-control credit counted and returned (docs/PROTOCOL.md §10). Both connection state
/// machines keep one per open call.
struct InboundMessages: Sendable {
  private var assembler: MessageAssembler
  private var credit: InboundCredit
  /// Bytes of the partial message already credited back (see ``InboundCredit``).
  private var prepaid = 0

  init(maxMessageSize: UInt32, window: UInt32) {
    assembler = MessageAssembler(maxMessageSize: Int(maxMessageSize))
    credit = InboundCredit(initial: window)
  }

  enum Outcome: Sendable {
    /// A whole message; consuming it returns `charge` bytes of credit.
    case message(ByteBuffer, charge: Int)
    /// More fragments are needed; send this CREDIT, if any, now.
    case incomplete(credit: UInt32?)
    /// The message would exceed the size limit (the call must end).
    case tooLarge(size: Int)
    /// The peer sent more than its credit (a connection error).
    case creditExceeded
  }

  /// Whether a message is partly received.
  var isAssembling: Bool { assembler.isAssembling }

  /// One MESSAGE frame's payload.
  mutating func receive(_ payload: ByteBuffer, more: Bool) -> Outcome {
    guard credit.receive(payload.readableBytes) else { return .creditExceeded }
    switch assembler.append(payload, more: more) {
    case .tooLarge(let size):
      return .tooLarge(size: size)
    case .incomplete:
      // A message larger than the window: once the window runs dry, credit what arrived.
      guard credit.window == 0 else { return .incomplete(credit: nil) }
      let increment = credit.releaseEarly(assembler.partialSize - prepaid)
      prepaid = assembler.partialSize
      return .incomplete(credit: increment)
    case .message(let message):
      let charge = message.readableBytes - prepaid
      prepaid = 0
      return .message(message, charge: charge)
    }
  }

  /// The application consumed a message charged `charge`; returns a CREDIT to send, if due.
  mutating func consumed(charge: Int) -> UInt32? {
    credit.release(charge)
  }
}
