public import CommerceKit
public import RPC
public import Testing

/// Runs `body`, expecting it to fail with `code` (and `reason`, when given); returns the error.
@discardableResult
public func expectFailure(
  _ code: RPCStatusCode, reason: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> some Any
) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    if let reason { #expect(error.commerceReason == reason, "\(error)", sourceLocation: sourceLocation) }
    return error
  } catch {
    Issue.record("expected an RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
