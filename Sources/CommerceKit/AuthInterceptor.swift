import CommerceAPI
import Messages
public import NIOCore
public import RPC

/// Enforces every method's access rule (`option (emporium.rpc.v1.access)`) before its handler
/// runs, for socket and in-process calls alike.
///
/// - The `authorization` entry ("Bearer <token>") is verified when present; an invalid or
///   expired token is UNAUTHENTICATED (reasons TOKEN_EXPIRED, or none), even on methods anyone
///   may call.
/// - A service identity's call may carry the user it acts for in `x-on-behalf-of` (that user's
///   own access token, or one the gateway asserts for them, verified the same way); users
///   cannot send it, and an asserted identity is never a caller's own token.
/// - A front door's call (the gateway's service identity) is judged as the client it forwards:
///   the user it carries, or an anonymous caller, at the address in `x-forwarded-for`.
/// - No token where the rule needs one is UNAUTHENTICATED; a principal the rule does not admit
///   is PERMISSION_DENIED.
/// - The handler then finds the caller in ``CallAuth/current`` (``ServerContext/principal()``),
///   and checks ownership itself where the rule admits owners.
///
/// Methods without a rule (the runtime's health, reflection and echo) pass untouched.
public struct AuthInterceptor: ServerInterceptor {
  /// The metadata entry of the user a service acts for.
  public static let onBehalfOfKey = "x-on-behalf-of"
  /// The metadata entry in which a front door names the address of the client it serves.
  public static let forwardedForKey = "x-forwarded-for"
  /// The service identity of the API gateway, the default front door.
  public static let gatewayIdentity = "gateway"

  private let tokens: AccessTokens
  private let frontDoors: Set<String>

  /// - Parameter frontDoors: service identities whose calls are judged as the client they
  ///   forward: the user in `x-on-behalf-of` (the caller itself then), or an anonymous caller
  ///   when there is none, from the address in `x-forwarded-for`.
  public init(tokens: AccessTokens, frontDoors: Set<String> = [AuthInterceptor.gatewayIdentity]) {
    self.tokens = tokens
    self.frontDoors = frontDoors
  }

  public func intercept(
    context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
  ) async throws {
    guard let rule = context.method.access else { return try await next(context) }
    let presented = try Presented(context.metadata)
    // A token seen before is answered by the cache without leaving this function: no async
    // calls, no copy of the token.
    let auth: CallAuth
    if let cached = try authenticateFromCache(presented, rule: rule) {
      auth = cached
    } else {
      auth = try await authenticate(presented, rule: rule)
    }
    try await CallAuth.$current.withValue(auth) { try await next(context) }
  }

  /// The synchronous form, for calls answered on the event loop: a call whose tokens are all in
  /// the verification cache is judged there, as ``intercept(context:next:)`` judges it, and `next`
  /// runs with ``CallAuth/current`` bound; a token the cache does not hold leaves the call to
  /// the async form, which verifies it.
  public func interceptImmediately(
    context: ServerContext, next: (ServerContext) throws -> ByteBuffer?
  ) throws -> ByteBuffer? {
    guard let rule = context.method.access else { return try next(context) }
    guard let auth = try authenticateFromCache(try Presented(context.metadata), rule: rule) else { return nil }
    return try CallAuth.$current.withValue(auth) { try next(context) }
  }

  /// The tokens a call carries, as slices of its metadata values.
  struct Presented {
    /// The caller's token, from `authorization: Bearer <token>`.
    var bearer: Substring?
    /// The token of the user a service acts for, from `x-on-behalf-of`.
    var onBehalfOf: Substring?
    /// The client address a front door forwards.
    var forwardedFor: String?

    init(_ metadata: Metadata) throws(CommerceError) {
      if let header = metadata["authorization"] { bearer = try AuthInterceptor.bearerToken(header) }
      if let user = metadata[AuthInterceptor.onBehalfOfKey] { onBehalfOf = user[...] }
      forwardedFor = metadata[AuthInterceptor.forwardedForKey]
    }
  }

  /// Who calls and how the rule admits them, when every token the call carries is in the
  /// verification cache (valid, unexpired); nil when one is not, for the full path to verify it
  /// and say why.
  private func authenticateFromCache(_ presented: Presented, rule: ProtoAccessRule) throws(CommerceError) -> CallAuth? {
    var caller: AccessTokens.Claims?
    var user: AccessTokens.Claims?
    if let bearer = presented.bearer {
      guard let claims = tokens.cachedClaims(of: bearer) else { return nil }
      caller = claims
    }
    if let onBehalfOf = presented.onBehalfOf {
      guard let claims = tokens.cachedClaims(of: onBehalfOf) else { return nil }
      user = claims
    }
    return try callAuth(presented, caller: caller, onBehalfOf: user, rule: rule)
  }

  /// Who calls and how the rule admits them, or the error the caller gets, verifying each token
  /// (through the cache): the caller's token first, then whether it may act for a user, then
  /// that user's token.
  private func authenticate(_ presented: Presented, rule: ProtoAccessRule) async throws(CommerceError) -> CallAuth {
    var caller: AccessTokens.Claims?
    var user: AccessTokens.Claims?
    if let bearer = presented.bearer { caller = try await verify(bearer) }
    if let onBehalfOf = presented.onBehalfOf {
      guard caller?.principal.kind == .service else { throw Self.notAService }
      user = try await verify(onBehalfOf)
    }
    return try callAuth(presented, caller: caller, onBehalfOf: user, rule: rule)
  }

  private static let notAService = CommerceError.permissionDenied("only service identities may act on behalf of a user")
  /// What a caller gets for presenting an asserted identity as its own token.
  public static let assertedAsBearer = CommerceError.unauthenticated(
    "an identity asserted by a front door is valid only as the user a service acts for")

  /// The call's authentication from its verified tokens' claims.
  private func callAuth(
    _ presented: Presented, caller: AccessTokens.Claims?, onBehalfOf user: AccessTokens.Claims?, rule: ProtoAccessRule
  ) throws(CommerceError) -> CallAuth {
    guard caller?.assertedBy == nil else { throw Self.assertedAsBearer }
    var principal = caller?.principal
    var token = presented.bearer
    let frontDoor = principal.map { $0.kind == .service && frontDoors.contains($0.subject) } ?? false
    if let user {
      guard principal?.kind == .service else { throw Self.notAService }
      guard user.principal.kind == .user else { throw .unauthenticated("the on-behalf-of token is not a user's") }
      if frontDoor {
        principal = user.principal
      } else {
        principal?.onBehalfOf = user.principal
      }
      token = presented.onBehalfOf
    } else if frontDoor {
      // An anonymous client, through the gateway.
      principal = nil
      token = nil
    }
    let admission = try Self.admission(of: principal, by: rule)
    // The end user's own token (the caller's, or the one a service forwarded), which calls the
    // handler makes forward in turn.
    let endUserToken = principal.map { $0.kind == .user || $0.onBehalfOf != nil } == true ? token : nil
    return CallAuth(
      principal: principal, admission: admission, bearerTokenText: endUserToken,
      forwardedFor: frontDoor ? presented.forwardedFor : nil)
  }

  private func verify(_ token: Substring) async throws(CommerceError) -> AccessTokens.Claims {
    try await Self.verify(token, with: tokens)
  }

  /// Verifies `token` (through the cache): its claims, or UNAUTHENTICATED saying why not
  /// (TOKEN_EXPIRED for an expired one).
  public static func verify(_ token: Substring, with tokens: AccessTokens) async throws(CommerceError) -> AccessTokens.Claims {
    if let claims = tokens.cachedClaims(of: token) { return claims }
    do {
      return try await tokens.verify(String(token))
    } catch .expired {
      throw .unauthenticated("the access token has expired", reason: .tokenExpired)
    } catch {
      throw .unauthenticated("the access token is not valid")
    }
  }

  /// The token of an `authorization` value "Bearer <token>" ("bearer" in any case, spaces
  /// around the token ignored), a slice of `header`.
  public static func bearerToken(_ header: String) throws(CommerceError) -> Substring {
    // Bytes, not characters: the header is ASCII when well formed, and counting or lowercasing
    // characters of a 300-byte token on every call costs more than the cached verification.
    guard header.isContiguousUTF8 else {
      var copy = header
      copy.makeContiguousUTF8()
      return try bearerToken(copy)
    }
    let utf8 = header.utf8
    let range = utf8.withContiguousStorageIfAvailable { bytes -> Range<Int>? in
      let prefix: StaticString = "bearer "
      guard bytes.count > prefix.utf8CodeUnitCount else { return nil }
      for offset in 0..<prefix.utf8CodeUnitCount {
        let byte = bytes[offset]
        guard (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == prefix.utf8Start[offset] else { return nil }
      }
      var start = prefix.utf8CodeUnitCount
      var end = bytes.count
      while start < end, bytes[start] == 0x20 { start += 1 }
      while start < end, bytes[end - 1] == 0x20 { end -= 1 }
      return start..<end
    }
    guard let range = range ?? nil else { throw malformedAuthorization }
    let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
    let end = utf8.index(utf8.startIndex, offsetBy: range.upperBound)
    return Substring(utf8[start..<end])
  }

  private static let malformedAuthorization = CommerceError.unauthenticated(
    "the authorization entry must be \"Bearer <access token>\"")

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
