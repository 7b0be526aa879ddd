import Messages

extension RPCError {
  /// The ErrorInfo domain of errors raised by the RPC layer itself.
  static let rpcDomain = "rpc.emporium"

  /// An error of the RPC layer, with an `ErrorInfo` naming its `RpcErrorReason` (the value name
  /// without its prefix) in the domain "rpc.emporium", and optionally a `RetryInfo`.
  static func rpc(
    _ code: RPCStatusCode, _ reason: RpcV1.RpcErrorReason, _ message: String,
    metadata: [String: String] = [:], retryAfter: Duration? = nil, refused: Bool = false
  ) -> RPCError {
    let name = RpcV1.RpcErrorReason.protoValueNames[reason.rawValue] ?? "UNSPECIFIED"
    var details = RpcV1.ErrorDetails()
    details.details.append(.with {
      $0.detail = .errorInfo(.with {
        $0.reason = String(name.dropFirst("RPC_ERROR_REASON_".count))
        $0.domain = rpcDomain
        $0.metadata = metadata
      })
    })
    if let retryAfter {
      let (seconds, attoseconds) = retryAfter.components
      details.details.append(.with {
        $0.detail = .retryInfo(.with {
          $0.retryDelay = .with {
            $0.seconds = seconds
            $0.nanos = Int32(attoseconds / 1_000_000_000)
          }
        })
      })
    }
    return RPCError(code: code, message: message, details: details, refused: refused)
  }

  /// A request message that could not be decoded, mapped to the status docs/PROTOCOL.md names.
  static func undecodableRequest(_ error: ProtoError, limits: ProtoDecodingLimits) -> RPCError {
    switch error.code {
    case .messageTooLarge:
      return .rpc(
        .resourceExhausted, .messageTooLarge, "request message too large: \(error.message)",
        metadata: ["limitBytes": "\(limits.maxMessageSize)"])
    case .nestingTooDeep:
      return .rpc(
        .invalidArgument, .nestingTooDeep, "request message nests too deeply: \(error.message)",
        metadata: ["maxDepth": "\(limits.maxNestingDepth)"])
    case .allocationBudgetExceeded:
      return .rpc(.resourceExhausted, .decodeBudgetExceeded, "request message too costly to decode: \(error.message)")
    default:
      return .rpc(.invalidArgument, .malformedMessage, "request message could not be decoded: \(error.message)")
    }
  }

  /// A response message that could not be decoded.
  static func undecodableResponse(_ error: any Error) -> RPCError {
    .rpc(.internal, .malformedMessage, "response message could not be decoded: \(error)")
  }
}
