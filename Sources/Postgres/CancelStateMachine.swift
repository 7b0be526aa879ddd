/// The bookkeeping of server-side cancellation on one connection, without any I/O: when to send a
/// cancel request (`PQcancel`), and what to do with a request that a cancel stopped.
///
/// A cancel request stops whatever the backend runs when it arrives, not a statement of the
/// driver's choosing. So a cancel is only ever sent for the head of the pipeline (the request the
/// server runs now, or runs next), at most once per head; a request behind others is cancelled
/// when it becomes the head. Between the driver sending a cancel and the server acting on it, the
/// head may finish and the next request start: the cancel then stops that one instead. Such a
/// request is sent again (``Verdict/resend``) when that is safe: it is a pool statement outside
/// any transaction (it ran in its own implicit transaction, which the cancel rolled back), it has
/// not been sent again before, and a cancel was in flight when it was sent. A `query_canceled`
/// error caused by the server's own `statement_timeout` is never resent.
///
/// A request that could not be sent again (a transaction's statement, or one on a connection of
/// the caller's own) is not sent at all while a cancel is in flight (``mustHoldBack(isShared:cancelsFinished:)``):
/// a stray cancel would abort its transaction. It leaves once the cancel request has finished,
/// which is when the server has signalled the backend; a backend signalled while idle ignores
/// the cancel.
///
/// ``ConnectionDriver`` feeds it the events (a request sent, a caller gave up, a request
/// completed) and performs what it returns; the cancel requests themselves run on threads of their
/// own, which report through ``ConnectionDriver``'s counter of finished cancels, passed in to
/// ``sent(_:cancelsFinished:)``.
struct CancelStateMachine {
  typealias RequestID = UInt64

  /// What the driver does after an event.
  enum Action: Equatable, Sendable {
    /// Nothing.
    case none
    /// Send a cancel request now; it is meant for request `RequestID`, the head.
    case sendCancel(RequestID)
  }

  /// What becomes of a request that completed.
  enum Verdict: Equatable, Sendable {
    /// Give the caller its result or error.
    case deliver
    /// A cancel meant for another request stopped it: send it again (first, before new work),
    /// without telling the caller.
    case resend
  }

  /// How a request completed, as far as cancellation is concerned.
  enum Outcome: Equatable, Sendable {
    /// It succeeded, or failed with an error other than `query_canceled`.
    case other
    /// It failed with `query_canceled` (SQLSTATE 57014) because of a cancel request.
    case cancelled
    /// It failed with `query_canceled` because of the server's `statement_timeout`.
    case statementTimeout
  }

  /// Requests whose callers gave up and whose server-side work must be stopped.
  private var targets: Set<RequestID> = []
  /// The head a cancel was last sent for (never two for one head).
  private var sentFor: RequestID?
  /// Cancel requests sent so far.
  private(set) var cancelsSent = 0
  /// Per request in flight: how many cancel requests had finished when it was sent. A cancel
  /// sent but not finished by then may stop it instead of the request it was meant for.
  private var finishedWhenSent: [RequestID: Int] = [:]

  /// The number of requests in flight that the machine tracks.
  var trackedCount: Int { self.finishedWhenSent.count }

  /// Request `id` was sent; `cancelsFinished` is how many cancel requests have finished so far.
  mutating func sent(_ id: RequestID, cancelsFinished: Int) {
    self.finishedWhenSent[id] = cancelsFinished
  }

  /// The caller of request `id`, which is in flight, gave up: its server-side work must stop.
  /// `head` is the request at the head of the pipeline.
  mutating func cancel(_ id: RequestID, head: RequestID?) -> Action {
    self.targets.insert(id)
    return self.cancelHeadIfAsked(head)
  }

  /// Request `id` completed with `outcome`; `abandoned` is true when its caller had already
  /// given up (its result is dropped either way), `isShared` and `retried` come from the request.
  /// `head` is the head of the pipeline now, after `id` left it.
  ///
  /// - Returns: What becomes of the request, and whether to cancel the new head.
  mutating func completed(
    _ id: RequestID,
    outcome: Outcome,
    abandoned: Bool,
    isShared: Bool,
    retried: Bool,
    head: RequestID?
  ) -> (Verdict, Action) {
    self.targets.remove(id)
    let finishedWhenSent = self.finishedWhenSent.removeValue(forKey: id)
    let action = self.cancelHeadIfAsked(head)
    guard !abandoned, outcome == .cancelled, isShared, !retried, let finishedWhenSent,
      self.cancelsSent > finishedWhenSent
    else {
      return (.deliver, action)
    }
    return (.resend, action)
  }

  /// Whether a request must wait before it is sent: it cannot be sent again if a stray cancel
  /// stops it (`isShared` false), and a cancel request sent by this machine has not finished
  /// (`cancelsFinished` of them have).
  func mustHoldBack(isShared: Bool, cancelsFinished: Int) -> Bool {
    !isShared && self.cancelsSent > cancelsFinished
  }

  /// The connection closed: nothing is in flight any more.
  mutating func reset() {
    self.targets.removeAll()
    self.finishedWhenSent.removeAll()
    self.sentFor = nil
  }

  private mutating func cancelHeadIfAsked(_ head: RequestID?) -> Action {
    guard let head, self.targets.contains(head), self.sentFor != head else { return .none }
    self.sentFor = head
    self.cancelsSent += 1
    return .sendCancel(head)
  }
}
