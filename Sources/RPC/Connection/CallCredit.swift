/// Per-call flow control for one direction, counted in MESSAGE payload bytes
/// (docs/PROTOCOL.md, "Flow control").
///
/// The receiver starts the sender with the receiver's INITIAL_CALL_WINDOW and grants more with
/// CREDIT frames as its application consumes messages. A message that fits the window is sent
/// only when the sender has credit for all of it; a message larger than the whole window is
/// started only when the sender holds the whole window, and then goes out as credit arrives (the
/// receiver credits such a partial message when the window runs dry). So a reader that stops
/// reading stops its peer after one window, and never more than one window plus one message
/// waits in its buffers.
struct OutboundCredit: Hashable, Sendable {
  /// The receiver's INITIAL_CALL_WINDOW.
  let window: Int
  /// Bytes that may be sent now.
  private(set) var available: Int
  /// A message larger than the window is partly sent.
  private var largeMessageStarted = false

  init(initial: UInt32) {
    window = Int(initial)
    available = Int(initial)
  }

  /// How many bytes of a message with `remaining` bytes left may go out now: 0 (wait for
  /// credit) or a positive count.
  mutating func take(forMessageWith remaining: Int) -> Int {
    if largeMessageStarted {
      let granted = min(remaining, available)
      available -= granted
      if granted == remaining { largeMessageStarted = false }
      return granted
    }
    if remaining <= window {
      guard available >= remaining else { return 0 }
      available -= remaining
      return remaining
    }
    guard available >= window else { return 0 }
    largeMessageStarted = true
    let granted = available
    available = 0
    return granted
  }

  /// Adds an increment from a CREDIT frame. False when the credit would pass 2^31 - 1.
  mutating func add(_ increment: UInt32) -> Bool {
    let (sum, overflow) = available.addingReportingOverflow(Int(increment))
    guard !overflow, sum <= Int(Int32.max) else { return false }
    available = sum
    return true
  }
}

/// The receiving side of a call's flow control.
struct InboundCredit: Hashable, Sendable {
  let initial: Int
  /// Bytes the peer may still send before it needs more credit.
  private(set) var window: Int
  /// Bytes consumed by the application but not yet returned to the peer.
  private var consumed = 0
  /// Bytes received and neither consumed nor returned early.
  private var unconsumed = 0

  init(initial: UInt32) {
    self.initial = Int(initial)
    self.window = Int(initial)
  }

  /// Records received payload bytes; false when the peer sent more than its credit.
  mutating func receive(_ bytes: Int) -> Bool {
    guard bytes <= window else { return false }
    window -= bytes
    unconsumed += bytes
    return true
  }

  /// The application consumed a message charged `bytes`; returns a CREDIT increment when half
  /// a window is due, or when nothing received is left unconsumed (a sender may be waiting for
  /// room for a bigger message), else nil.
  mutating func release(_ bytes: Int) -> UInt32? {
    consumed += bytes
    unconsumed -= bytes
    guard consumed >= initial / 2 || unconsumed <= 0 else { return nil }
    let increment = consumed
    consumed = 0
    window += increment
    return increment > 0 ? UInt32(increment) : nil
  }

  /// Returns `bytes` of an incomplete message at once (the window ran dry mid-message, which
  /// only a message larger than the window does).
  mutating func releaseEarly(_ bytes: Int) -> UInt32? {
    guard bytes > 0 else { return nil }
    unconsumed -= bytes
    window += bytes
    return UInt32(bytes)
  }
}
