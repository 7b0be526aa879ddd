/// The open model's decision for each arrival, as a pure value: send it now, wait for a free
/// slot, or drop it; and the counts of late and dropped sends.
///
/// At most `maxInFlight` calls run at once. An arrival that finds every slot taken waits for
/// one, unless it is already `maxQueueDelay` behind its intended time: then it is dropped and
/// counted (with `maxQueueDelay` 0, arrivals at the cap are dropped at once). A send more than
/// `lateAfter` behind its intended time is counted as late; its latency is still measured
/// from the intended time. The engine holds one in a lock and calls it with its clock's times;
/// tests call it with any times they like.
public struct OpenLoopAdmission: Sendable, Hashable {
  /// What to do with the arrival at hand.
  public enum Decision: Sendable, Hashable {
    /// Send it now (it holds a slot until ``completed()``).
    case send(late: Bool)
    /// Every slot is taken: ask again when one frees (or later).
    case wait
    /// Dropped at the concurrency cap: never sent.
    case drop
  }

  public var maxInFlight: Int
  public var maxQueueDelay: UInt64
  public var lateAfter: UInt64
  public private(set) var inFlight = 0
  public private(set) var sent = 0
  public private(set) var late = 0
  public private(set) var dropped = 0

  public init(maxInFlight: Int, maxQueueDelay: UInt64, lateAfter: UInt64) {
    precondition(maxInFlight > 0, "maxInFlight must be positive")
    self.maxInFlight = maxInFlight
    self.maxQueueDelay = maxQueueDelay
    self.lateAfter = lateAfter
  }

  /// Decides for the arrival intended at `intended`, asked at `now` (both nanoseconds).
  public mutating func admit(intended: UInt64, now: UInt64) -> Decision {
    let lateness = now > intended ? now - intended : 0
    if inFlight < maxInFlight {
      inFlight += 1
      sent += 1
      let isLate = lateness > lateAfter
      if isLate { late += 1 }
      return .send(late: isLate)
    }
    if lateness >= maxQueueDelay {
      dropped += 1
      return .drop
    }
    return .wait
  }

  /// A sent call finished: its slot is free.
  public mutating func completed() {
    precondition(inFlight > 0, "completed() without a send")
    inFlight -= 1
  }
}
