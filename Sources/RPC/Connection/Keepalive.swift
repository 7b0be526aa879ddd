import NIOCore

/// When a server pings an idle client and when it gives up on that ping (docs/PROTOCOL.md §14),
/// as a pure state machine: time is passed in, and each check says what to do and when to check
/// next, so the ping goes out exactly `interval` after the last received byte and the connection
/// closes exactly `timeout` after an unanswered ping.
struct Keepalive {
  enum Action: Hashable, Sendable {
    /// Nothing due; check again at this time.
    case wait(until: NIODeadline)
    /// Send a PING now; check again at this time (when it is due to be answered).
    case sendPing(checkAt: NIODeadline)
    /// A PING went unanswered for `timeout`: close with KEEPALIVE_TIMEOUT.
    case timedOut
  }

  /// Idle time (nothing received) after which a PING is sent.
  let interval: TimeAmount
  /// How long a PING may go unanswered.
  let timeout: TimeAmount
  /// When the peer last sent anything.
  private(set) var lastReceived: NIODeadline
  /// When the unanswered PING was sent, if one is outstanding.
  private(set) var pingSent: NIODeadline?

  init(interval: TimeAmount, timeout: TimeAmount, now: NIODeadline) {
    self.interval = interval
    self.timeout = timeout
    self.lastReceived = now
  }

  /// When the first check is due.
  var firstCheck: NIODeadline { lastReceived + interval }

  /// Bytes arrived from the peer.
  mutating func received(at now: NIODeadline) {
    lastReceived = now
  }

  /// The peer answered our PING.
  mutating func acknowledged() {
    pingSent = nil
  }

  /// A scheduled check ran at `now`.
  mutating func check(now: NIODeadline) -> Action {
    if let sent = pingSent {
      let expiry = sent + timeout
      return now >= expiry ? .timedOut : .wait(until: expiry)
    }
    let idleSince = lastReceived + interval
    guard now >= idleSince else { return .wait(until: idleSince) }
    pingSent = now
    return .sendPing(checkAt: now + timeout)
  }
}
