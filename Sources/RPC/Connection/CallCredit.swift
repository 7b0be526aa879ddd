/// Per-call flow control for one direction, counted in MESSAGE payload bytes.
///
/// The receiver starts the sender with the receiver's INITIAL_CALL_WINDOW; the sender may
/// only send payload bytes it has credit for; the receiver grants more with CREDIT frames as
/// its application consumes messages. A stream reader that stops reading therefore stops its
/// peer after one window, instead of making anyone buffer without bound.
struct OutboundCredit: Hashable, Sendable {
  /// Bytes that may be sent now.
  private(set) var available: Int

  init(initial: UInt32) {
    available = Int(initial)
  }

  /// Takes up to `wanted` bytes of credit; returns how many were granted.
  mutating func take(upTo wanted: Int) -> Int {
    let granted = min(wanted, available)
    available -= granted
    return granted
  }

  /// Adds an increment from a CREDIT frame. False when the window would pass 2^31 - 1.
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

  init(initial: UInt32) {
    self.initial = Int(initial)
    self.window = Int(initial)
  }

  /// Records received payload bytes; false when the peer sent more than its credit.
  mutating func receive(_ bytes: Int) -> Bool {
    guard bytes <= window else { return false }
    window -= bytes
    return true
  }

  /// Records that the application consumed `bytes`; returns a CREDIT increment to send once
  /// at least half a window has been consumed (fewer, larger CREDIT frames), else nil.
  mutating func release(_ bytes: Int) -> UInt32? {
    consumed += bytes
    guard consumed >= initial / 2 || window == 0 else { return nil }
    let increment = consumed
    consumed = 0
    window += increment
    return increment > 0 ? UInt32(increment) : nil
  }
}
