import NIOCore
import Testing

@testable import RPC

@Suite("Server connection state machine")
struct ServerStateMachineTests {
  let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

  private func preface() -> [UInt8] { Wire.magic + [0, 1] }

  /// A machine past the handshake, with optional settings of its own.
  private func active(_ settings: ConnectionSettings = ConnectionSettings(), client: ConnectionSettings = ConnectionSettings())
    -> ServerConnectionStateMachine
  {
    var machine = ServerConnectionStateMachine(settings: settings)
    let refused = machine.receivedPreface(preface())
    #expect(refused == nil)
    let values = client.encode().map { Frame.Setting(id: $0.0, value: $0.1) }
    guard case .sendHandshake = machine.receivedFrame(.settings(ack: false, values: values), now: now) else {
      Issue.record("no handshake")
      return machine
    }
    _ = machine.receivedFrame(.settings(ack: true, values: []), now: now)
    #expect(machine.phase == .active)
    return machine
  }

  private func open(_ id: UInt32) -> Frame {
    .callOpen(callID: id, CallOpen(path: "/x.Y/Z", timeoutMicroseconds: nil, metadata: [:]))
  }

  @Test("handshake: a bad preface, an old version and a first frame that is not SETTINGS are refused")
  func handshake() {
    var machine = ServerConnectionStateMachine(settings: ConnectionSettings())
    #expect(machine.receivedPreface(Array("GET / HT".utf8))?.code == .protocolError)
    machine = ServerConnectionStateMachine(settings: ConnectionSettings())
    #expect(machine.receivedPreface(Wire.magic + [0, 0])?.code == .unsupportedVersion)
    machine = ServerConnectionStateMachine(settings: ConnectionSettings())
    #expect(machine.receivedPreface(preface()) == nil)
    guard case .closeWithError(let violation) = machine.receivedFrame(.ping(ack: false, payload: 1), now: now) else {
      Issue.record("expected close")
      return
    }
    #expect(violation.code == .protocolError)
  }

  @Test("zstd is chosen when both offer it, none otherwise; decompression starts after the ACK")
  func compressionNegotiation() {
    var noneOnly = ConnectionSettings()
    noneOnly.compression = [.none]
    for (client, expected) in [(ConnectionSettings(), ConnectionSettings.Compression.zstd), (noneOnly, .none)] {
      var machine = ServerConnectionStateMachine(settings: ConnectionSettings())
      _ = machine.receivedPreface(preface())
      let values = client.encode().map { Frame.Setting(id: $0.0, value: $0.1) }
      guard case .sendHandshake(let answer) = machine.receivedFrame(.settings(ack: false, values: values), now: now) else {
        Issue.record("no handshake")
        continue
      }
      #expect(answer.compression == [expected])
      let afterAck = machine.receivedFrame(.settings(ack: true, values: []), now: now)
      guard case .handshakeCompleted(let decompressInbound) = afterAck else { Issue.record("no completion"); continue }
      #expect(decompressInbound == (expected == .zstd))
    }
  }

  @Test("call ids must increase; frames for never-opened calls are errors, for ended calls ignored")
  func callIDs() {
    var machine = active()
    guard case .startCall(3, _) = machine.receivedFrame(open(3), now: now) else { Issue.record("no start"); return }
    guard case .closeWithError(let violation) = machine.receivedFrame(.halfClose(callID: 9), now: now) else {
      Issue.record("expected close")
      return
    }
    #expect(violation.code == .protocolError)

    machine = active()
    _ = machine.receivedFrame(open(3), now: now)
    _ = machine.callEnded(callID: 3)
    guard case .none = machine.receivedFrame(.halfClose(callID: 3), now: now) else { Issue.record("stale frame not ignored"); return }
    guard case .closeWithError = machine.receivedFrame(open(2), now: now) else { Issue.record("reused id accepted"); return }
  }

  @Test("calls past MAX_CONCURRENT_CALLS are refused with RESOURCE_EXHAUSTED, marked retryable")
  func concurrencyLimit() {
    var settings = ConnectionSettings()
    settings.maxConcurrentCalls = 2
    var machine = active(settings)
    _ = machine.receivedFrame(open(1), now: now)
    _ = machine.receivedFrame(open(2), now: now)
    guard case .rejectCall(3, _, let error) = machine.receivedFrame(open(3), now: now) else { Issue.record("not refused"); return }
    #expect(error.code == .resourceExhausted && error.refused)
    _ = machine.callEnded(callID: 1)
    guard case .startCall(4, _) = machine.receivedFrame(open(4), now: now) else { Issue.record("slot not freed"); return }
  }

  @Test("messages: fragments assemble, the size limit fails the call, credit violations close the connection")
  func messages() {
    var settings = ConnectionSettings()
    settings.maxMessageSize = 10
    settings.initialCallWindow = 16
    var machine = active(settings)
    _ = machine.receivedFrame(open(1), now: now)
    _ = machine.receivedFrame(.message(callID: 1, ByteBuffer(bytes: [1, 2, 3]), endStream: false, more: true), now: now)
    guard case .deliverMessage(1, let message, 5, true) = machine.receivedFrame(
      .message(callID: 1, ByteBuffer(bytes: [4, 5]), endStream: true, more: false), now: now)
    else { Issue.record("no message"); return }
    #expect(message == ByteBuffer(bytes: [1, 2, 3, 4, 5]))

    _ = machine.receivedFrame(open(2), now: now)
    guard case .failCall(2, let error) = machine.receivedFrame(
      .message(callID: 2, ByteBuffer(bytes: Array(repeating: 0, count: 11)), endStream: false, more: false), now: now)
    else { Issue.record("not failed"); return }
    #expect(error.code == .resourceExhausted)

    _ = machine.receivedFrame(open(3), now: now)
    settings.maxMessageSize = 100
    var big = active(settings)
    _ = big.receivedFrame(open(1), now: now)
    guard case .closeWithError(let violation) = big.receivedFrame(
      .message(callID: 1, ByteBuffer(bytes: Array(repeating: 0, count: 17)), endStream: false, more: false), now: now)
    else { Issue.record("credit overrun accepted"); return }
    #expect(violation.code == .flowControlError)
  }

  @Test("consuming messages returns credit at half a window or once everything received is consumed")
  func creditReturn() {
    var settings = ConnectionSettings()
    settings.initialCallWindow = 100
    var machine = active(settings)
    _ = machine.receivedFrame(open(1), now: now)
    for _ in 0..<3 {
      _ = machine.receivedFrame(.message(callID: 1, ByteBuffer(bytes: Array(repeating: 0, count: 20)), endStream: false, more: false), now: now)
    }
    let first = machine.messageConsumed(callID: 1, charge: 20)
    #expect(first == nil)  // 20 consumed, 40 still queued
    let second = machine.messageConsumed(callID: 1, charge: 20)
    #expect(second == nil)  // 40 consumed: less than half the window, 20 still queued
    let third = machine.messageConsumed(callID: 1, charge: 20)
    #expect(third == 60)  // everything consumed
  }

  @Test("PING and CANCEL floods end the connection with ENHANCE_YOUR_CALM")
  func floods() {
    var limits = FloodLimits()
    limits.pingsPerSecond = 5
    limits.cancelsPerSecond = 5
    var machine = ServerConnectionStateMachine(settings: ConnectionSettings(), limits: limits)
    _ = machine.receivedPreface(preface())
    _ = machine.receivedFrame(.settings(ack: false, values: []), now: now)
    _ = machine.receivedFrame(.settings(ack: true, values: []), now: now)
    var closedAfter: Int?
    for index in 0..<100 {
      if case .closeWithError(let violation) = machine.receivedFrame(.ping(ack: false, payload: 1), now: now) {
        #expect(violation.code == .enhanceYourCalm)
        closedAfter = index
        break
      }
    }
    #expect(closedAfter == 10)  // the burst allowance, all in the same instant

    machine = ServerConnectionStateMachine(settings: ConnectionSettings(), limits: limits)
    _ = machine.receivedPreface(preface())
    _ = machine.receivedFrame(.settings(ack: false, values: []), now: now)
    _ = machine.receivedFrame(.settings(ack: true, values: []), now: now)
    var calmed = false
    for id in UInt32(1)...100 {
      _ = machine.receivedFrame(open(id), now: now)
      if case .closeWithError(let violation) = machine.receivedFrame(.cancel(callID: id, code: 1), now: now) {
        calmed = violation.code == .enhanceYourCalm
        break
      }
    }
    #expect(calmed)
    // Spread out over time, the same number of pings is fine.
    machine = active()
    for second in 0..<100 {
      let later = now + .seconds(Int64(second))
      guard case .sendPingAck = machine.receivedFrame(.ping(ack: false, payload: 1), now: later) else {
        Issue.record("paced ping refused")
        return
      }
    }
  }

  @Test("draining refuses calls above the GOAWAY id as retryable and closes when the last call ends")
  func draining() {
    var machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    let drain = machine.beginDraining()
    let (last, closeNow) = (drain.lastCallID, drain.closeNow)
    #expect(last == 1 && !closeNow)
    guard case .rejectCall(2, _, let error) = machine.receivedFrame(open(2), now: now) else { Issue.record("not refused"); return }
    #expect(error.code == .unavailable && error.refused)
    let closes = machine.callEnded(callID: 1)
    #expect(closes)
  }

  @Test("client GOAWAY: NO_ERROR lets open calls finish, then closes; an error code or no open calls close at once")
  func clientGoAway() {
    var machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    guard case .peerGoingAway(closeNow: false) = machine.receivedFrame(.goAway(lastCallID: 1, code: 0, debug: ""), now: now)
    else { Issue.record("open call not kept"); return }
    guard case .deliverMessage = machine.receivedFrame(
      .message(callID: 1, ByteBuffer(), endStream: true, more: false), now: now)
    else { Issue.record("open call stopped"); return }
    guard case .closeWithError(let violation) = machine.receivedFrame(open(2), now: now) else {
      Issue.record("a call after GOAWAY accepted")
      return
    }
    #expect(violation.code == .protocolError)

    machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    _ = machine.receivedFrame(.goAway(lastCallID: 1, code: 0, debug: ""), now: now)
    let closes = machine.callEnded(callID: 1)
    #expect(closes)

    machine = active()
    guard case .peerGoingAway(closeNow: true) = machine.receivedFrame(.goAway(lastCallID: 0, code: 0, debug: ""), now: now)
    else { Issue.record("idle connection kept"); return }

    machine = active()
    _ = machine.receivedFrame(open(1), now: now)
    guard case .peerGoingAway(closeNow: true) = machine.receivedFrame(.goAway(lastCallID: 1, code: 1, debug: ""), now: now)
    else { Issue.record("failed client's connection kept"); return }
  }
}
