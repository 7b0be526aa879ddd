import NIOCore
import Testing

@testable import RPC

@Suite("Keepalive timing")
struct KeepaliveTests {
  let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

  @Test("a PING goes out exactly one interval after the last received byte")
  func pingsAfterInterval() {
    var keepalive = Keepalive(interval: .seconds(60), timeout: .seconds(20), now: start)
    #expect(keepalive.firstCheck == start + .seconds(60))
    // Traffic just before the check moves the ping to one interval after that traffic.
    keepalive.received(at: start + .seconds(59))
    #expect(keepalive.check(now: start + .seconds(60)) == .wait(until: start + .seconds(119)))
    #expect(keepalive.check(now: start + .seconds(119)) == .sendPing(checkAt: start + .seconds(139)))
  }

  @Test("an unanswered PING times out exactly after the timeout; an answered one does not")
  func timeout() {
    var keepalive = Keepalive(interval: .seconds(60), timeout: .seconds(20), now: start)
    #expect(keepalive.check(now: start + .seconds(60)) == .sendPing(checkAt: start + .seconds(80)))
    #expect(keepalive.check(now: start + .seconds(79)) == .wait(until: start + .seconds(80)))
    #expect(keepalive.check(now: start + .seconds(80)) == .timedOut)

    keepalive = Keepalive(interval: .seconds(60), timeout: .seconds(20), now: start)
    _ = keepalive.check(now: start + .seconds(60))
    keepalive.received(at: start + .seconds(61))
    keepalive.acknowledged()
    #expect(keepalive.check(now: start + .seconds(80)) == .wait(until: start + .seconds(121)))
  }

  @Test("the server's defaults are those of docs/PROTOCOL.md §14: ping after 60 s idle, wait 20 s")
  func defaults() {
    let configuration = RPCServer.Configuration()
    #expect(configuration.keepaliveInterval == .seconds(60))
    #expect(configuration.keepaliveTimeout == .seconds(20))
  }
}
