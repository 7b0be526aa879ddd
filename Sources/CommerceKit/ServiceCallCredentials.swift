import CommerceAPI
import Foundation
import Messages
public import RPC
import Synchronization

/// Where a service gets the access token it calls other services with.
public protocol ServiceTokenSource: Sendable {
  /// A valid token for the service's identity.
  func token() async throws -> String
}

/// Tokens minted by the process itself, for services hosted beside the key set that signs
/// tokens (the default one-process topology). Each token lives an hour and is replaced once half
/// of that has passed.
public final class SelfIssuedServiceTokens: ServiceTokenSource {
  private let tokens: AccessTokens
  private let name: String
  private let lifetime: Duration
  private let current = Mutex<(token: String, renewAt: ContinuousClock.Instant)?>(nil)

  public init(tokens: AccessTokens, serviceName: String, lifetime: Duration = .seconds(3600)) {
    self.tokens = tokens
    self.name = serviceName
    self.lifetime = lifetime
  }

  public func token() async throws -> String {
    let now = ContinuousClock.now
    if let cached = current.withLock({ $0 }), cached.renewAt > now { return cached.token }
    // issue(for:lifetime:) sets the expiry; the principal's own is not read.
    let issued = try await tokens.issue(for: Principal(kind: .service, subject: name, expiresAt: 0), lifetime: lifetime)
    current.withLock { $0 = (issued.token, now + lifetime / 2) }
    return issued.token
  }
}

/// The client side of service identities: every call a service makes carries its own token in
/// `authorization` and, when it serves a call for a user, that user's token in
/// `x-on-behalf-of`, so the service it calls knows both who calls and for whom. The composition
/// root puts one in every transport it hands a service, in-process or pooled.
public struct ServiceCallCredentials: ClientInterceptor {
  private let source: any ServiceTokenSource

  public init(_ source: any ServiceTokenSource) {
    self.source = source
  }

  public func intercept<Result: Sendable>(
    context: ClientCallContext, next: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    var context = context
    context.options.metadata.replace("authorization", "Bearer " + (try await source.token()))
    if let user = CallAuth.current?.bearerToken {
      context.options.metadata.replace(AuthInterceptor.onBehalfOfKey, user)
    } else {
      context.options.metadata.remove(AuthInterceptor.onBehalfOfKey)
    }
    return try await next(context)
  }
}

/// Tokens a service identity gets from AuthService.IssueServiceToken with its client secret, for
/// a process that does not hold the signing keys (a service in another process, the payment
/// sandbox delivering provider events). A token is reused until half of its lifetime has passed;
/// ``invalidate()`` drops it (after the server refused it).
///
/// Give it a transport without ``ServiceCallCredentials`` (IssueServiceToken needs no token).
public final class ClientSecretServiceTokens: ServiceTokenSource {
  private let auth: CommerceV1.AuthService.Client
  private let name: String
  private let secret: String
  private let current = Mutex<(token: String, renewAt: ContinuousClock.Instant)?>(nil)

  /// - Parameters:
  ///   - transport: reaches AuthService.
  ///   - serviceName: the identity ("payment-gateway").
  ///   - clientSecret: its client secret, as provisioned.
  public init(transport: any ClientTransport, serviceName: String, clientSecret: String) {
    self.auth = CommerceV1.AuthService.Client(transport)
    self.name = serviceName
    self.secret = clientSecret
  }

  public func token() async throws -> String {
    let now = ContinuousClock.now
    if let cached = current.withLock({ $0 }), cached.renewAt > now { return cached.token }
    let issued = try await auth.issueServiceToken(.with {
      $0.serviceName = name
      $0.clientSecret = secret
    })
    let lifetime = (issued.expireTime.map { $0.date.timeIntervalSinceNow } ?? 0)
    let renewAfter = Duration.milliseconds(Int64(max(0, lifetime) * 500))
    current.withLock { $0 = (issued.accessToken, now + renewAfter) }
    return issued.accessToken
  }

  /// Forgets the current token: the next ``token()`` asks for a new one.
  public func invalidate() {
    current.withLock { $0 = nil }
  }
}
