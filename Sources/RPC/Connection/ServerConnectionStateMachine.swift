import Messages
import NIOCore

/// How many PING and CANCEL frames a client may send; past either rate the server answers
/// GOAWAY ENHANCE_YOUR_CALM and closes the connection.
public struct FloodLimits: Hashable, Sendable {
  /// PING frames accepted per second (bursts of twice that). Default 10.
  public var pingsPerSecond = 10
  /// CANCEL frames accepted per second (bursts of twice that). Default 200.
  public var cancelsPerSecond = 200
  /// How far a client's zstd stream may inflate: at most `inflationAllowance` plus
  /// `maxInflationRatio` times the compressed bytes received. Default 1024 and 16 MiB.
  public var maxInflationRatio = 1024
  public var inflationAllowance = 16 << 20

  public init() {}
}

/// The server side of one connection, as a pure state machine: bytes and frames in, actions out.
/// No I/O, no clocks (time is passed in), so every rule of docs/PROTOCOL.md that the server
/// enforces is unit-tested without sockets. `ServerConnectionHandler` runs the actions.
struct ServerConnectionStateMachine {
  enum Phase: Hashable, Sendable {
    /// Waiting for the client's 8-byte preface.
    case awaitingPreface
    /// Preface seen; waiting for the client's SETTINGS.
    case awaitingSettings
    /// Our SETTINGS sent; waiting for the client's ACK, after which its bytes are compressed.
    case awaitingSettingsAck
    case active
    /// GOAWAY sent: calls above `lastCallID` are refused; the connection closes when the last
    /// call ends.
    case draining(lastCallID: UInt32)
    case closed
  }

  typealias Limits = FloodLimits

  enum Action: Sendable {
    case none
    /// Write the preface and SETTINGS (with the chosen compression); compress everything
    /// written after them.
    case sendHandshake(ConnectionSettings)
    /// The client acknowledged our SETTINGS: the handshake is complete. With
    /// `decompressInbound`, every byte received from now on is compressed with the negotiated
    /// algorithm.
    case handshakeCompleted(decompressInbound: Bool)
    /// Start a handler for a new call.
    case startCall(callID: UInt32, CallOpen)
    /// Answer a call with TRAILERS and no handler (`path`: the method it named, when known).
    case rejectCall(callID: UInt32, path: String?, RPCError)
    /// A whole request message for a running call (`endStream`: the client sends no more).
    /// Consuming it returns `charge` bytes of credit.
    case deliverMessage(callID: UInt32, ByteBuffer, charge: Int, endStream: Bool)
    /// The client sends no more messages on the call.
    case deliverHalfClose(callID: UInt32)
    /// End a running call with an error (its handler is cancelled).
    case failCall(callID: UInt32, RPCError)
    /// The client cancelled the call: cancel its handler, send nothing more for it. `code`: the
    /// reason the client gave (CANCELLED, or DEADLINE_EXCEEDED when its deadline passed).
    case cancelCall(callID: UInt32, code: RPCStatusCode)
    /// Credit for the server's own messages on a call.
    case addOutboundCredit(callID: UInt32, UInt32)
    case sendCredit(callID: UInt32, UInt32)
    case sendPingAck(UInt64)
    /// A PING ACK for our keepalive ping arrived.
    case keepaliveAcknowledged
    /// The client sent GOAWAY: it opens no more calls. With `closeNow` the connection closes at
    /// once (no calls are open, or the client reported an error); otherwise it closes when the
    /// last open call ends (``callEnded(callID:)`` returns true then).
    case peerGoingAway(closeNow: Bool)
    /// Send GOAWAY with this code and close the connection.
    case closeWithError(ProtocolViolation)
  }

  private struct InboundCall {
    var messages: InboundMessages
    var halfClosed = false
  }

  private(set) var phase: Phase = .awaitingPreface
  let local: ConnectionSettings
  private(set) var peer = ConnectionSettings()
  private(set) var compression: ConnectionSettings.Compression = .none
  /// The highest call id the client has opened.
  private(set) var highestCallID: UInt32 = 0
  private var calls: [UInt32: InboundCall] = [:]
  /// The client sent GOAWAY NO_ERROR: a new call is a protocol error, and the connection closes
  /// when its last call ends.
  private(set) var clientGoingAway = false
  /// MESSAGE bytes the client may still send for calls that have ended: one call window for
  /// each call the server ended before the client half-closed it (those bytes may have been in
  /// flight), at most MAX_CONCURRENT_CALLS windows. More is ENHANCE_YOUR_CALM.
  private var staleAllowance = 0
  private var pings: TokenBucket
  private var cancels: TokenBucket

  init(settings: ConnectionSettings, limits: Limits = Limits()) {
    self.local = settings
    self.pings = TokenBucket(capacity: limits.pingsPerSecond * 2, perSecond: limits.pingsPerSecond)
    self.cancels = TokenBucket(capacity: limits.cancelsPerSecond * 2, perSecond: limits.cancelsPerSecond)
  }

  // MARK: Handshake

  /// The client's preface. Returns a violation when it is not ours or its version is too old.
  mutating func receivedPreface(_ bytes: [UInt8]) -> ProtocolViolation? {
    precondition(phase == .awaitingPreface)
    guard bytes.count == Wire.prefaceLength, Array(bytes.prefix(6)) == Wire.magic else {
      phase = .closed
      return ProtocolViolation(.protocolError, "not an Emporium RPC connection (bad preface)")
    }
    let version = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
    guard version >= Wire.version else {
      phase = .closed
      return ProtocolViolation(.unsupportedVersion, "client speaks version \(version); this server speaks \(Wire.version)")
    }
    phase = .awaitingSettings
    return nil
  }

  // MARK: Frames

  /// `now` is read only for the frames whose limits are rates (CANCEL, PING).
  mutating func receivedFrame(_ frame: Frame, now: @autoclosure () -> NIODeadline) -> Action {
    switch phase {
    case .awaitingPreface, .closed:
      return .none
    case .awaitingSettings:
      guard case .settings(ack: false, let values) = frame else {
        return close(.protocolError, "the first frame must be SETTINGS")
      }
      return receivedClientSettings(values)
    case .awaitingSettingsAck:
      guard case .settings(ack: true, _) = frame else {
        return close(.protocolError, "expected the SETTINGS acknowledgement")
      }
      phase = .active
      return .handshakeCompleted(decompressInbound: compression != .none)
    case .active, .draining:
      return receivedInActivePhase(frame, now: now)
    }
  }

  private mutating func receivedClientSettings(_ values: [Frame.Setting]) -> Action {
    do {
      peer = try ConnectionSettings.decode(values.map { ($0.id, $0.value) })
    } catch {
      return closeWith(error)
    }
    // Prefer zstd when both sides offer it.
    compression = local.compression.contains(.zstd) && peer.compression.contains(.zstd) ? .zstd : .none
    var answer = local
    answer.compression = [compression]
    phase = .awaitingSettingsAck
    return .sendHandshake(answer)
  }

  private mutating func receivedInActivePhase(_ frame: Frame, now: () -> NIODeadline) -> Action {
    switch frame {
    case .settings:
      return close(.protocolError, "SETTINGS may be sent only once")
    case .callOpen(let callID, let open):
      if clientGoingAway { return close(.protocolError, "HEADERS after the client's GOAWAY") }
      if let violation = checkNewCallID(callID) { return violation }
      if case .draining(let last) = phase, callID > last {
        allowStaleBytes()
        return .rejectCall(
          callID: callID, path: open.path, ServerCore.drainingError)
      }
      guard calls.count < Int(local.maxConcurrentCalls) else {
        allowStaleBytes()
        return .rejectCall(
          callID: callID, path: open.path,
          .rpc(
            .resourceExhausted, .concurrencyLimit,
            "connection is at its limit of \(local.maxConcurrentCalls) concurrent calls",
            retryAfter: .milliseconds(100), refused: true))
      }
      calls[callID] = InboundCall(
        messages: InboundMessages(maxMessageSize: local.maxMessageSize, window: local.initialCallWindow))
      return .startCall(callID: callID, open)
    case .oversizedHeaders(let callID, let size):
      if clientGoingAway { return close(.protocolError, "HEADERS after the client's GOAWAY") }
      if let violation = checkNewCallID(callID) { return violation }
      allowStaleBytes()
      return .rejectCall(
        callID: callID, path: nil,
        .rpc(
          .resourceExhausted, .metadataTooLarge, "call metadata of \(size) bytes exceeds the limit of \(local.maxHeaderSize)",
          metadata: ["limitBytes": "\(local.maxHeaderSize)"]))
    case .message(let callID, let payload, let endStream, let more):
      if let violation = checkKnown(callID) { return violation }
      guard let halfClosed = calls[callID]?.halfClosed else {
        // A call that already ended: bytes that were in flight are expected, more are not.
        staleAllowance -= payload.readableBytes
        guard staleAllowance >= 0 else { return close(.enhanceYourCalm, "too many MESSAGE bytes for ended calls") }
        return .none
      }
      guard !halfClosed else { return close(.protocolError, "MESSAGE after half-close on call \(callID)") }
      // Mutated in place: a copy of the call would share the partial message's storage, and
      // appending a fragment would then copy the whole partial message each time.
      switch calls[callID]!.messages.receive(payload, more: more) {
      case .creditExceeded:
        return close(.flowControlError, "call \(callID) sent more than its credit")
      case .tooLarge(let size):
        calls[callID] = nil
        allowStaleBytes()
        return .failCall(
          callID: callID,
          .rpc(
            .resourceExhausted, .messageTooLarge,
            "request message of \(size)+ bytes exceeds the limit of \(local.maxMessageSize)",
            metadata: ["limitBytes": "\(local.maxMessageSize)", "actualBytes": "\(size)"]))
      case .incomplete(let increment):
        return increment.map { .sendCredit(callID: callID, $0) } ?? .none
      case .message(let message, let charge):
        if endStream { calls[callID]!.halfClosed = true }
        return .deliverMessage(callID: callID, message, charge: charge, endStream: endStream)
      }
    case .halfClose(let callID):
      if let violation = checkKnown(callID) { return violation }
      guard var call = calls[callID] else { return .none }
      guard !call.halfClosed, !call.messages.isAssembling else {
        return close(.protocolError, "unexpected HALF_CLOSE on call \(callID)")
      }
      call.halfClosed = true
      calls[callID] = call
      return .deliverHalfClose(callID: callID)
    case .cancel(let callID, let code):
      if let violation = checkKnown(callID) { return violation }
      guard cancels.take(now: now()) else {
        return close(.enhanceYourCalm, "too many CANCEL frames")
      }
      guard calls.removeValue(forKey: callID) != nil else { return .none }
      return .cancelCall(callID: callID, code: RPCStatusCode(rawValue: UInt8(clamping: code)) ?? .cancelled)
    case .credit(let callID, let increment):
      if let violation = checkKnown(callID) { return violation }
      return calls[callID] == nil ? .none : .addOutboundCredit(callID: callID, increment)
    case .ping(let ack, let payload):
      if ack { return .keepaliveAcknowledged }
      guard pings.take(now: now()) else { return close(.enhanceYourCalm, "too many PING frames") }
      return .sendPingAck(payload)
    case .goAway(_, let code, _):
      // NO_ERROR: the client leaves gracefully and its open calls finish. Any other code: the
      // client found a connection error and is closing; nothing more can be delivered.
      guard code == ConnectionErrorCode.noError.rawValue, !calls.isEmpty else {
        phase = .closed
        return .peerGoingAway(closeNow: true)
      }
      clientGoingAway = true
      return .peerGoingAway(closeNow: false)
    case .trailers, .responseHeaders:
      return close(.protocolError, "a client may not send TRAILERS")
    }
  }

  /// New call ids must increase.
  private mutating func checkNewCallID(_ callID: UInt32) -> Action? {
    guard callID > highestCallID else {
      return close(.protocolError, "call id \(callID) is not greater than \(highestCallID)")
    }
    highestCallID = callID
    return nil
  }

  /// Frames for ids never opened are an error; for ids already closed they are stale and ignored.
  private mutating func checkKnown(_ callID: UInt32) -> Action? {
    callID > highestCallID ? close(.protocolError, "frame for call \(callID), which was never opened") : nil
  }

  // MARK: Events from the server side

  /// The handler consumed a request message charged `charge` bytes; returns a CREDIT to send,
  /// if due.
  mutating func messageConsumed(callID: UInt32, charge: Int) -> UInt32? {
    guard var call = calls[callID], !call.halfClosed else { return nil }
    let increment = call.messages.consumed(charge: charge)
    calls[callID] = call
    return increment
  }

  /// The server finished a call (sent TRAILERS or dropped it). Returns true when a draining
  /// connection, or one the client is leaving, now has no calls left and should close.
  mutating func callEnded(callID: UInt32) -> Bool {
    if let call = calls.removeValue(forKey: callID), !call.halfClosed { allowStaleBytes() }
    if case .draining = phase, calls.isEmpty { return true }
    if clientGoingAway, calls.isEmpty { return true }
    return false
  }

  /// Starts a graceful drain. Returns the last call id that will be processed (for GOAWAY),
  /// and whether the connection can close at once.
  mutating func beginDraining() -> (lastCallID: UInt32, closeNow: Bool) {
    switch phase {
    case .active:
      phase = .draining(lastCallID: highestCallID)
      return (highestCallID, calls.isEmpty)
    case .draining(let last):
      return (last, calls.isEmpty)
    default:
      phase = .closed
      return (0, true)
    }
  }

  /// A call ended while the client may still be sending on it: one more window of its bytes
  /// may be in flight.
  private mutating func allowStaleBytes() {
    let cap = Int(local.maxConcurrentCalls) * Int(local.initialCallWindow)
    staleAllowance = min(staleAllowance + Int(local.initialCallWindow), max(cap, Int(local.initialCallWindow)))
  }

  private mutating func close(_ code: ConnectionErrorCode, _ message: String) -> Action {
    closeWith(ProtocolViolation(code, message))
  }

  private mutating func closeWith(_ violation: ProtocolViolation) -> Action {
    phase = .closed
    return .closeWithError(violation)
  }
}
