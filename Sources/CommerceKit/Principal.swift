public import CommerceAPI
import Messages
public import RPC

/// Who is calling: a user with roles, or a service identity, as an access token says.
///
/// A service that acts for a user (OrderService reserving stock for the customer who checks
/// out) calls as itself; the user travels beside it as ``onBehalfOf``, verified from the user's
/// own token.
public struct Principal: Hashable, Sendable, CustomStringConvertible {
  /// A user or a service.
  public enum Kind: String, Hashable, Sendable {
    case user
    case service
  }

  public var kind: Kind
  /// The user's id (users), or the service identity's name (services).
  public var subject: String
  /// The roles the token grants (users only), fixed when it was issued.
  public var roles: Set<CommerceV1.Role>
  /// The session (refresh token family) the token belongs to; empty for services.
  public var sessionID: String
  /// When the token expires, in seconds since 1970.
  public var expiresAt: Int64
  private var onBehalfOfStorage: [Principal]

  public init(kind: Kind, subject: String, roles: Set<CommerceV1.Role> = [], sessionID: String = "", expiresAt: Int64) {
    self.kind = kind
    self.subject = subject
    self.roles = roles
    self.sessionID = sessionID
    self.expiresAt = expiresAt
    self.onBehalfOfStorage = []
  }

  /// The user a service acts for, when the call carried one.
  public var onBehalfOf: Principal? {
    get { onBehalfOfStorage.first }
    set { onBehalfOfStorage = newValue.map { [$0] } ?? [] }
  }

  /// The user id, for users.
  public var userID: String? { kind == .user ? subject : nil }
  /// The service name, for services.
  public var serviceName: String? { kind == .service ? subject : nil }

  /// The user this call is for: the caller when a user calls, the user a service acts for
  /// otherwise.
  public var endUser: Principal? { kind == .user ? self : onBehalfOf }

  /// Whether a user holds `role`.
  public func has(_ role: CommerceV1.Role) -> Bool { roles.contains(role) }

  /// The wire form of WhoAmI.
  public var proto: CommerceV1.Principal {
    .with {
      $0.kind = kind == .user ? .user : .service
      if kind == .user {
        $0.userId = subject
        $0.roles = roles.sorted { $0.rawValue < $1.rawValue }
        $0.sessionId = sessionID
      } else {
        $0.serviceName = subject
      }
      $0.expireTime = .with { $0.seconds = expiresAt }
    }
  }

  public var description: String { "\(kind.rawValue):\(subject)" }
}

extension CommerceV1.Role {
  /// The role's name as access rules and tokens spell it: the value name without "ROLE_".
  public var ruleName: String {
    String((Self.protoValueNames[rawValue] ?? "ROLE_UNSPECIFIED").dropFirst("ROLE_".count))
  }

  /// The role a rule or a token names, if any.
  public init?(ruleName: String) {
    guard let number = Self.protoValueNames.first(where: { $0.value == "ROLE_" + ruleName })?.key, number != 0 else {
      return nil
    }
    self.init(rawValue: number)
  }
}

/// What the auth interceptor established about the call the current task serves: who calls
/// and which part of the method's access rule admitted them. Handlers read it through
/// ``CallAuth/current``, ``ServerContext/principal()`` and ``ServerContext/requireOwner(_:or:)``.
public struct CallAuth: Sendable {
  /// How the caller was admitted.
  public enum Admission: Sendable, Hashable {
    /// The method admits anyone; ``CallAuth/principal`` may still be set.
    case anonymous
    /// Any authenticated user.
    case anyUser
    /// The user holds one of the rule's roles.
    case role
    /// A service identity the rule names.
    case service
    /// Any authenticated user, who must own the resource (the handler checks).
    case owner
  }

  /// The verified caller; nil for an anonymous call.
  public var principal: Principal?
  public var admission: Admission
  /// The caller's own bearer token, to forward as the "on behalf of" user on calls the handler
  /// makes. A secret: never logged.
  var bearerToken: String? { bearerTokenText.map(String.init) }
  /// ``bearerToken`` as the interceptor found it: a slice of the call's metadata value, copied
  /// only if a handler's call forwards it.
  private var bearerTokenText: Substring?

  public init(principal: Principal?, admission: Admission, bearerToken: String? = nil) {
    self.init(principal: principal, admission: admission, bearerTokenText: bearerToken.map { $0[...] })
  }

  /// The client's address as the front door that forwarded the call gave it (nil for calls
  /// that did not come through one).
  public var forwardedFor: String?

  init(principal: Principal?, admission: Admission, bearerTokenText: Substring?, forwardedFor: String? = nil) {
    self.principal = principal
    self.admission = admission
    self.bearerTokenText = bearerTokenText
    self.forwardedFor = forwardedFor
  }

  /// The authentication of the call the current task serves, set by ``AuthInterceptor``.
  @TaskLocal public static var current: CallAuth?
}

extension ServerContext {
  /// The address of the client the call is for, without a port: the one the gateway forwarded
  /// when the call came through it, otherwise the connection's peer ("in-process" for calls
  /// within the process). Per-client throttles key on it.
  public var clientAddress: String {
    CallAuth.current?.forwardedFor ?? Self.hostAddress(ofPeer: peer)
  }

  /// The host part of a `ServerContext.peer` (NIO's "[IPv4]host/127.0.0.1:54321", or
  /// "in-process").
  public static func hostAddress(ofPeer peer: String) -> String {
    var text = Substring(peer)
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") { text = text[text.index(after: close)...] }
    if let slash = text.lastIndex(of: "/") { text = text[text.index(after: slash)...] }
    if let colon = text.lastIndex(of: ":"), text[text.index(after: colon)...].allSatisfy(\.isNumber), colon != text.startIndex {
      text = text[..<colon]
    }
    return String(text)
  }

  /// The verified caller, or UNAUTHENTICATED when the call carried no valid token.
  public func principal() throws(CommerceError) -> Principal {
    guard let principal = CallAuth.current?.principal else {
      throw .unauthenticated("this call needs an access token")
    }
    return principal
  }

  /// The user the call is for: the calling user, or the user a calling service acts for;
  /// UNAUTHENTICATED when there is none.
  public func endUser() throws(CommerceError) -> Principal {
    guard let user = CallAuth.current?.principal?.endUser else {
      throw .unauthenticated("this call needs a user's access token")
    }
    return user
  }

  /// Checks that the caller may act on a resource owned by the user `ownerID`: the owner
  /// itself, a caller the rule admitted by role or as a service, or a service acting for the
  /// owner. Anyone else is told the resource does not exist (common.proto: another customer's
  /// resource reads as NOT_FOUND), through `notFound`.
  public func requireOwner(_ ownerID: String, or notFound: @autoclosure () -> CommerceError) throws(CommerceError) {
    guard let auth = CallAuth.current else { throw notFound() }
    switch auth.admission {
    case .role, .service: return
    case .anonymous, .anyUser, .owner:
      guard let user = auth.principal?.endUser, user.subject == ownerID else { throw notFound() }
    }
  }

  /// Whether the caller owns, or may act on, a resource owned by `ownerID` (see
  /// ``requireOwner(_:or:)``), for lists that show only what the caller may see.
  public func mayActFor(_ ownerID: String) -> Bool {
    (try? requireOwner(ownerID, or: .notFound("", ""))) != nil
  }
}
