import Testing

@testable import Postgres

@Suite("CancelStateMachine")
struct CancelStateMachineTests {
  @Test("a cancel goes to the head at once, only once, and to a later request when it becomes the head")
  func cancelsOnlyTheHead() {
    var machine = CancelStateMachine()
    machine.sent(1, cancelsFinished: 0)
    machine.sent(2, cancelsFinished: 0)
    machine.sent(3, cancelsFinished: 0)
    #expect(machine.cancel(1, head: 1) == .sendCancel(1))
    // Asked again (the deadline passed after the task was cancelled): no second cancel.
    #expect(machine.cancel(1, head: 1) == .none)
    // Request 3 waits behind 2 on the server: a cancel now would stop 2.
    #expect(machine.cancel(3, head: 1) == .none)
    #expect(machine.cancelsSent == 1)
    // 1 stops; 2 becomes the head and nobody gave up on it.
    #expect(machine.completed(1, outcome: .cancelled, abandoned: true, isShared: true, retried: false, head: 2) == (.deliver, .none))
    // 2 completes; 3 becomes the head and is cancelled now.
    #expect(machine.completed(2, outcome: .other, abandoned: false, isShared: true, retried: false, head: 3) == (.deliver, .sendCancel(3)))
    #expect(machine.cancelsSent == 2)
    #expect(machine.completed(3, outcome: .cancelled, abandoned: true, isShared: true, retried: false, head: nil) == (.deliver, .none))
    #expect(machine.trackedCount == 0)
  }

  @Test("a cancel that reaches the next pool statement instead of its target has that statement sent again")
  func misdirectedCancelResends() {
    var machine = CancelStateMachine()
    machine.sent(1, cancelsFinished: 0)
    machine.sent(2, cancelsFinished: 0)
    #expect(machine.cancel(1, head: 1) == .sendCancel(1))
    // 1 finished before the cancel arrived...
    #expect(machine.completed(1, outcome: .other, abandoned: true, isShared: true, retried: false, head: 2) == (.deliver, .none))
    // ...so it stopped 2, which was sent while the cancel was in flight: send 2 again.
    #expect(machine.completed(2, outcome: .cancelled, abandoned: false, isShared: true, retried: false, head: nil) == (.resend, .none))
  }

  @Test("a request sent after the cancel was sent is resent too: the cancel was still in flight")
  func sentAfterTheCancelResends() {
    var machine = CancelStateMachine()
    machine.sent(1, cancelsFinished: 0)
    #expect(machine.cancel(1, head: 1) == .sendCancel(1))
    #expect(machine.completed(1, outcome: .other, abandoned: true, isShared: true, retried: false, head: nil) == (.deliver, .none))
    machine.sent(2, cancelsFinished: 0)
    #expect(machine.completed(2, outcome: .cancelled, abandoned: false, isShared: true, retried: false, head: nil) == (.resend, .none))
  }

  @Test("a request is not resent when it is not a pool statement, was resent before, or a cancel was not in flight")
  func resendOnlyWhenSafe() {
    func race(isShared: Bool, retried: Bool, cancelsFinishedWhenSent: Int) -> CancelStateMachine.Verdict {
      var machine = CancelStateMachine()
      machine.sent(1, cancelsFinished: 0)
      _ = machine.cancel(1, head: 1)
      _ = machine.completed(1, outcome: .other, abandoned: true, isShared: true, retried: false, head: 2)
      machine.sent(2, cancelsFinished: cancelsFinishedWhenSent)
      return machine.completed(2, outcome: .cancelled, abandoned: false, isShared: isShared, retried: retried, head: nil).0
    }
    #expect(race(isShared: true, retried: false, cancelsFinishedWhenSent: 0) == .resend)
    // Inside a transaction (or on a connection of the caller's own): the cancel aborted it.
    #expect(race(isShared: false, retried: false, cancelsFinishedWhenSent: 0) == .deliver)
    // At most one resend per request.
    #expect(race(isShared: true, retried: true, cancelsFinishedWhenSent: 0) == .deliver)
    // Every cancel had finished before 2 was sent: someone else cancelled it (pg_cancel_backend).
    #expect(race(isShared: true, retried: false, cancelsFinishedWhenSent: 1) == .deliver)
  }

  @Test("a request that could not be sent again waits while a cancel is in flight; a pool statement does not")
  func holdsBackWhatCannotBeResent() {
    var machine = CancelStateMachine()
    #expect(!machine.mustHoldBack(isShared: false, cancelsFinished: 0))
    machine.sent(1, cancelsFinished: 0)
    #expect(machine.cancel(1, head: 1) == .sendCancel(1))
    _ = machine.completed(1, outcome: .other, abandoned: true, isShared: true, retried: false, head: nil)
    // The cancel has not finished: it may still stop whatever the backend runs next.
    #expect(machine.mustHoldBack(isShared: false, cancelsFinished: 0))
    #expect(!machine.mustHoldBack(isShared: true, cancelsFinished: 0))
    // Once it has finished, the backend has had its signal.
    #expect(!machine.mustHoldBack(isShared: false, cancelsFinished: 1))
  }

  @Test("query_canceled with no cancel of ours, or from the server's statement_timeout, reaches the caller")
  func foreignCancelsAreDelivered() {
    var machine = CancelStateMachine()
    machine.sent(1, cancelsFinished: 0)
    #expect(machine.completed(1, outcome: .cancelled, abandoned: false, isShared: true, retried: false, head: nil) == (.deliver, .none))
    machine.sent(2, cancelsFinished: 0)
    machine.sent(3, cancelsFinished: 0)
    _ = machine.cancel(2, head: 2)
    _ = machine.completed(2, outcome: .other, abandoned: true, isShared: true, retried: false, head: 3)
    #expect(machine.completed(3, outcome: .statementTimeout, abandoned: false, isShared: true, retried: false, head: nil) == (.deliver, .none))
  }

  @Test("after the connection closes nothing is tracked and a new head can be cancelled")
  func resetForgetsEverything() {
    var machine = CancelStateMachine()
    machine.sent(1, cancelsFinished: 0)
    _ = machine.cancel(1, head: 1)
    machine.reset()
    #expect(machine.trackedCount == 0)
    machine.sent(1, cancelsFinished: 1)
    #expect(machine.cancel(1, head: 1) == .sendCancel(1))
  }
}
