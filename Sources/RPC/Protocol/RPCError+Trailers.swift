import Messages

extension RPCError {
  /// The error a caller receives for trailers other than OK: what a connection's client makes of
  /// a TRAILERS frame, and what the in-process transport makes of a handler's outcome, so both
  /// give the same value (details that do not decode are dropped).
  init(_ trailers: Trailers) {
    var details: RpcV1.ErrorDetails?
    if !trailers.details.isEmpty { details = try? RpcV1.ErrorDetails(serializedBytes: trailers.details) }
    self.init(
      code: trailers.code, message: trailers.message, details: details, metadata: trailers.metadata,
      refused: trailers.refused)
  }

  /// `self` as a caller receives it from a server: carried by trailers and decoded again.
  var asReceived: RPCError { RPCError(Trailers(self)) }
}
