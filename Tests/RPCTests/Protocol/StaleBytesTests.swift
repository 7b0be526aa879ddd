import NIOCore
import Testing

@testable import RPC

@Suite("Server state machine: MESSAGE bytes for ended calls")
struct StaleBytesTests {
  let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

  /// A machine past the handshake with a 1 KiB call window and `maxCalls` concurrent calls.
  private func active(maxCalls: UInt32 = 512) -> ServerConnectionStateMachine {
    var settings = ConnectionSettings()
    settings.initialCallWindow = 1024
    settings.maxConcurrentCalls = maxCalls
    var machine = ServerConnectionStateMachine(settings: settings)
    _ = machine.receivedPreface(Wire.magic + [0, 1])
    let values = ConnectionSettings().encode().map { Frame.Setting(id: $0.0, value: $0.1) }
    _ = machine.receivedFrame(.settings(ack: false, values: values), now: now)
    _ = machine.receivedFrame(.settings(ack: true, values: []), now: now)
    return machine
  }

  private func open(_ id: UInt32) -> Frame {
    .callOpen(callID: id, CallOpen(path: "/x.Y/Z", timeoutMicroseconds: nil, metadata: [:]))
  }

  private func message(_ id: UInt32, _ size: Int, endStream: Bool = false) -> Frame {
    .message(callID: id, ByteBuffer(repeating: 0, count: size), endStream: endStream, more: false)
  }

  private func isCalmDown(_ action: ServerConnectionStateMachine.Action) -> Bool {
    if case .closeWithError(let violation) = action { violation.code == .enhanceYourCalm } else { false }
  }

  @Test("a call the server ended before the half-close allows one window of late bytes, not more")
  func oneWindowPerEndedCall() {
    var machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    _ = machine.callEnded(callID: 1)
    #expect(!isCalmDown(machine.receivedFrame(message(1, 1024), now: now)))
    #expect(isCalmDown(machine.receivedFrame(message(1, 1), now: now)))
  }

  @Test("a call that ended after its half-close, or that the client cancelled, allows none")
  func noAllowanceAfterHalfCloseOrCancel() {
    var machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    _ = machine.receivedFrame(message(1, 10, endStream: true), now: now)
    _ = machine.callEnded(callID: 1)
    _ = machine.receivedFrame(open(3), now: now)
    _ = machine.receivedFrame(.cancel(callID: 3, code: 1), now: now)
    _ = machine.callEnded(callID: 3)
    #expect(isCalmDown(machine.receivedFrame(message(3, 1), now: now)))
  }

  @Test("refused calls and calls failed for a message too large each allow one window")
  func refusedAndTooLarge() {
    var machine = active(maxCalls: 1)
    _ = machine.receivedFrame(open(1), now: now)
    guard case .rejectCall = machine.receivedFrame(open(3), now: now) else {
      Issue.record("call 3 should be refused at the concurrency limit")
      return
    }
    #expect(!isCalmDown(machine.receivedFrame(message(3, 1024), now: now)))
    // Call 1 crosses the 4 MiB message limit: the window is credited early fragment by fragment.
    var action = ServerConnectionStateMachine.Action.none
    for _ in 0..<(4 << 10) + 1 {
      action = machine.receivedFrame(.message(callID: 1, ByteBuffer(repeating: 0, count: 1024), endStream: false, more: true), now: now)
      if case .failCall = action { break }
    }
    guard case .failCall = action else {
      Issue.record("call 1 should fail for its size")
      return
    }
    #expect(!isCalmDown(machine.receivedFrame(message(1, 1024), now: now)))
    #expect(isCalmDown(machine.receivedFrame(message(1, 1), now: now)))
  }

  @Test("the allowance is capped at MAX_CONCURRENT_CALLS windows")
  func allowanceIsCapped() {
    var machine = active(maxCalls: 2)
    for id in stride(from: UInt32(1), through: 19, by: 2) {
      _ = machine.receivedFrame(open(id), now: now)
      _ = machine.callEnded(callID: id)
    }
    #expect(!isCalmDown(machine.receivedFrame(message(1, 2048), now: now)))
    #expect(isCalmDown(machine.receivedFrame(message(1, 1), now: now)))
  }
}
