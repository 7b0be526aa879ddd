import CommerceAPI
import Messages
public import RPC

/// Enforces every method's access rule (`option (emporium.rpc.v1.access)`) before its handler
/// runs, for socket and in-process calls alike.
///
/// - The `authorization` entry ("Bearer <token>") is verified when present; an invalid or
///   expired token is UNAUTHENTICATED (reasons TOKEN_EXPIRED, or none), even on methods anyone
///   may call.
/// - A service identity's call may carry the user it acts for in `x-on-behalf-of` (that user's
///   own access token, verified the same way); users cannot send it.
/// - No token where the rule needs one is UNAUTHENTICATED; a principal the rule does not admit
///   is PERMISSION_DENIED.
/// - The handler then finds the caller in ``CallAuth/current`` (``ServerContext/principal()``),
///   and checks ownership itself where the rule admits owners.
///
/// Methods without a rule (the runtime's health, reflection and echo) pass untouched.
public struct AuthInterceptor: ServerInterceptor {
  /// The metadata entry of the user a service acts for.
  public static let onBehalfOfKey = "x-on-behalf-of"

  private let tokens: AccessTokens

  public init(tokens: AccessTokens) {
    self.tokens = tokens
  }

  public func intercept(
    context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
  ) async throws {
    guard let rule = context.method.access else { return try await next(context) }
    let auth = try await authenticate(context.metadata, rule: rule)
    try await CallAuth.$current.withValue(auth) { try await next(context) }
  }

  /// Who calls and how the rule admits them, or the error the caller gets.
  func authenticate(_ metadata: Metadata, rule: ProtoAccessRule) async throws(CommerceError) -> CallAuth {
    var principal: Principal?
    var token: String?
    if let header = metadata["authorization"] {
      let bearer = try Self.bearerToken(header)
      principal = try await verify(bearer)
      token = bearer
    }
    if let onBehalfOf = metadata[Self.onBehalfOfKey] {
      guard principal?.kind == .service else {
        throw .permissionDenied("only service identities may act on behalf of a user")
      }
      let user = try await verify(onBehalfOf)
      guard user.kind == .user else { throw .unauthenticated("the on-behalf-of token is not a user's") }
      principal?.onBehalfOf = user
      token = onBehalfOf
    }
    let admission = try Self.admission(of: principal, by: rule)
    // The end user's own token (the caller's, or the one a service forwarded), which calls the
    // handler makes forward in turn.
    let endUserToken = principal?.endUser == nil ? nil : token
    return CallAuth(principal: principal, admission: admission, bearerToken: endUserToken)
  }

  private func verify(_ token: String) async throws(CommerceError) -> Principal {
    do {
      return try await tokens.verify(token).principal
    } catch .expired {
      throw .unauthenticated("the access token has expired", reason: .tokenExpired)
    } catch {
      throw .unauthenticated("the access token is not valid")
    }
  }

  static func bearerToken(_ header: String) throws(CommerceError) -> String {
    // Bytes, not characters: the header is ASCII when well formed, and counting or lowercasing
    // characters of a 300-byte token on every call costs more than the cached verification.
    let bytes = header.utf8
    let prefix = "bearer ".utf8
    guard bytes.count > prefix.count,
      zip(bytes, prefix).allSatisfy({ byte, expected in (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == expected })
    else {
      throw .unauthenticated("the authorization entry must be \"Bearer <access token>\"")
    }
    var start = bytes.index(bytes.startIndex, offsetBy: prefix.count)
    var end = bytes.endIndex
    while start < end, bytes[start] == 0x20 { start = bytes.index(after: start) }
    while start < end, bytes[bytes.index(before: end)] == 0x20 { end = bytes.index(before: end) }
    return String(Substring(bytes[start..<end]))
  }

  /// Which part of `rule` admits `principal`, or why none does.
  static func admission(of principal: Principal?, by rule: ProtoAccessRule) throws(CommerceError) -> CallAuth.Admission {
    guard let principal else {
      if rule.anonymous { return .anonymous }
      throw .unauthenticated("this method needs an access token")
    }
    switch principal.kind {
    case .service:
      if rule.admitsService(named: principal.subject) { return .service }
    case .user:
      if rule.roles.contains(where: { name in CommerceV1.Role(ruleName: name).map(principal.has) ?? false }) { return .role }
      if rule.anyUser { return .anyUser }
      if rule.owner { return .owner }
    }
    if rule.anonymous { return .anonymous }
    throw .permissionDenied(
      principal.kind == .user ? "the caller's roles do not allow this method" : "service '\(principal.subject)' may not call this method")
  }
}
