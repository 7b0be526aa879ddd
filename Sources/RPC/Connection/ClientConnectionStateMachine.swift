import Messages
import NIOCore

/// The client side of one connection, as a pure state machine (see
/// ``ServerConnectionStateMachine`` for the pattern).
struct ClientConnectionStateMachine {
  enum Phase: Hashable, Sendable {
    /// Preface and SETTINGS sent; waiting for the server's.
    case awaitingServerHandshake
    case active
    /// The server sent GOAWAY: no new calls; calls above `lastCallID` were not processed.
    case goingAway(lastCallID: UInt32)
    case closed
  }

  enum Action: Sendable {
    case none
    /// Send the SETTINGS ACK, then compress what follows; decompress what follows the server's
    /// SETTINGS. The connection is ready for calls.
    case handshakeComplete(compression: ConnectionSettings.Compression)
    case deliverHeaders(callID: UInt32, Metadata)
    /// A whole response message; consuming it returns `charge` bytes of credit.
    case deliverMessage(callID: UInt32, ByteBuffer, charge: Int)
    case sendCredit(callID: UInt32, UInt32)
    case deliverTrailers(callID: UInt32, Trailers)
    /// A response message over the limit: cancel the call and fail it locally.
    case failCall(callID: UInt32, RPCError)
    case addOutboundCredit(callID: UInt32, UInt32)
    case sendPingAck(UInt64)
    case pingAcknowledged(UInt64)
    /// Fail calls above `lastCallID` as refused (safe to retry); open no new calls.
    case goAway(lastCallID: UInt32, code: UInt32, debug: String)
    case closeWithError(ProtocolViolation)
  }

  private(set) var phase: Phase = .awaitingServerHandshake
  let local: ConnectionSettings
  private(set) var peer = ConnectionSettings()
  private(set) var compression: ConnectionSettings.Compression = .none
  private var prefaceSeen = false
  private var calls: [UInt32: InboundMessages] = [:]
  private(set) var lastCallID: UInt32 = 0

  init(settings: ConnectionSettings) {
    local = settings
  }

  /// The server's preface (8 bytes).
  mutating func receivedPreface(_ bytes: [UInt8]) -> ProtocolViolation? {
    guard bytes.count == Wire.prefaceLength, Array(bytes.prefix(6)) == Wire.magic else {
      phase = .closed
      return ProtocolViolation(.protocolError, "the server did not answer with an Emporium RPC preface")
    }
    let version = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
    guard version == Wire.version else {
      phase = .closed
      return ProtocolViolation(.unsupportedVersion, "server speaks version \(version)")
    }
    prefaceSeen = true
    return nil
  }

  /// Whether new calls may start.
  var canOpenCalls: Bool { phase == .active }

  /// Allocates the id of a new call (ids increase by one from 1).
  mutating func openCall() -> UInt32? {
    guard phase == .active, lastCallID < UInt32.max - 1 else { return nil }
    lastCallID += 1
    calls[lastCallID] = InboundMessages(maxMessageSize: local.maxMessageSize, window: local.initialCallWindow)
    return lastCallID
  }

  mutating func callEnded(_ callID: UInt32) {
    calls[callID] = nil
  }

  /// The application took a response message charged `charge` bytes.
  mutating func messageConsumed(callID: UInt32, charge: Int) -> UInt32? {
    guard var call = calls[callID] else { return nil }
    let increment = call.consumed(charge: charge)
    calls[callID] = call
    return increment
  }

  mutating func receivedFrame(_ frame: Frame) -> Action {
    if phase == .awaitingServerHandshake {
      guard case .settings(ack: false, let values) = frame else {
        if case .goAway(let last, let code, let debug) = frame {
          phase = .closed
          return .goAway(lastCallID: last, code: code, debug: debug)
        }
        return close(.protocolError, "the server's first frame must be SETTINGS")
      }
      do {
        peer = try ConnectionSettings.decode(values.map { ($0.id, $0.value) })
      } catch {
        return closeWith(error)
      }
      guard peer.compression.count == 1, let chosen = peer.compression.first, local.compression.contains(chosen) else {
        return close(.protocolError, "the server chose a compression that was not offered")
      }
      compression = chosen
      phase = .active
      return .handshakeComplete(compression: chosen)
    }
    guard phase != .closed else { return .none }
    switch frame {
    case .settings:
      return close(.protocolError, "SETTINGS may be sent only once")
    case .responseHeaders(let callID, let metadata):
      guard calls[callID] != nil else { return staleOrUnknown(callID) }
      return .deliverHeaders(callID: callID, metadata)
    case .message(let callID, let payload, _, let more):
      guard calls[callID] != nil else { return staleOrUnknown(callID) }
      // Mutated in place: a copy would share the partial message's storage, and appending a
      // fragment would then copy the whole partial message each time.
      switch calls[callID]!.receive(payload, more: more) {
      case .creditExceeded:
        return close(.flowControlError, "call \(callID) received more than its credit")
      case .tooLarge(let size):
        calls[callID] = nil
        return .failCall(
          callID: callID,
          .rpc(
            .resourceExhausted, .messageTooLarge,
            "response message of \(size)+ bytes exceeds the limit of \(local.maxMessageSize)",
            metadata: ["limitBytes": "\(local.maxMessageSize)", "actualBytes": "\(size)"]))
      case .incomplete(let increment):
        return increment.map { .sendCredit(callID: callID, $0) } ?? .none
      case .message(let message, let charge):
        return .deliverMessage(callID: callID, message, charge: charge)
      }
    case .trailers(let callID, let trailers):
      guard calls.removeValue(forKey: callID) != nil else { return staleOrUnknown(callID) }
      return .deliverTrailers(callID: callID, trailers)
    case .cancel(let callID, let code):
      guard calls.removeValue(forKey: callID) != nil else { return staleOrUnknown(callID) }
      let status = RPCStatusCode(rawValue: UInt8(truncatingIfNeeded: code)) ?? .cancelled
      return .deliverTrailers(
        callID: callID,
        Trailers(code: status, message: "the server cancelled the call", details: [], metadata: [:], refused: false))
    case .credit(let callID, let increment):
      guard calls[callID] != nil else { return staleOrUnknown(callID) }
      return .addOutboundCredit(callID: callID, increment)
    case .ping(let ack, let payload):
      return ack ? .pingAcknowledged(payload) : .sendPingAck(payload)
    case .goAway(let last, let code, let debug):
      phase = .goingAway(lastCallID: last)
      return .goAway(lastCallID: last, code: code, debug: debug)
    case .callOpen, .oversizedHeaders, .halfClose:
      return close(.protocolError, "a server may not open calls")
    }
  }

  private mutating func staleOrUnknown(_ callID: UInt32) -> Action {
    callID > lastCallID ? close(.protocolError, "frame for call \(callID), which was never opened") : .none
  }

  private mutating func close(_ code: ConnectionErrorCode, _ message: String) -> Action {
    closeWith(ProtocolViolation(code, message))
  }

  private mutating func closeWith(_ violation: ProtocolViolation) -> Action {
    phase = .closed
    return .closeWithError(violation)
  }
}
