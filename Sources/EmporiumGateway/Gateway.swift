public import CommerceAPI
public import CommerceKit
public import Logging
public import Messages
public import NIOCore
public import RPC

/// `emporium gateway`: the single entry point for clients outside the service mesh.
///
/// For every call it:
/// 1. limits the rate per client address (the connection's peer);
/// 2. authenticates the caller once: a user's bearer token is verified here (through the
///    cache), and the user travels on as an identity the gateway asserts
///    (``AccessTokens/Claims/assertedBy``) beside the gateway's own service token, so the
///    services verify the gateway's signature and never see the user's token; a service
///    identity's token passes through as it is; an anonymous caller is forwarded as such, with
///    its address in `x-forwarded-for`;
/// 3. limits the rate per principal;
/// 4. forwards the call's messages, untouched, through one client pool per peer (deadline,
///    trace context and cancellation carried as any call's are), and relays the responses and
///    the final status, details included.
///
/// Both limits answer RESOURCE_EXHAUSTED with RetryInfo (when the next request may go) and
/// QuotaFailure (which quota). It drains as any ``RPCServer`` does: no new calls, in-flight ones
/// finish.
public final class Gateway: Sendable {
  public struct Configuration: Sendable {
    /// The binary protocol's listener, limits and drain.
    public var server = RPCServer.Configuration()
    /// The services to forward and which peer hosts each.
    public var routes: [GatewayRoute] = GatewayRoute.commerce
    /// Where each peer is (every peer a route names must be here).
    public var peers: [String: any EndpointResolver] = [:]
    /// How the pools to the peers connect, balance and retry.
    public var pool = RPCClientPool.Configuration()
    /// Requests per principal (a user, a service identity).
    public var perPrincipal = RateLimiter.Limit(perSecond: 100, burst: 200)
    /// Requests per client address, whoever calls from it.
    public var perClient = RateLimiter.Limit(perSecond: 1_000, burst: 2_000)
    /// The gateway's service identity (a front door to the services' interceptors).
    public var identity = AuthInterceptor.gatewayIdentity
    /// The HTTP/JSON face's listener; nil: no HTTP face.
    public var http: GatewayHTTP.Configuration?

    public init() {}
  }

  /// A configuration problem found at start.
  public struct StartError: Error, CustomStringConvertible {
    public var description: String
  }

  /// The binary face.
  public let server: RPCServer
  /// The HTTP/JSON face, when configured: run its ``GatewayHTTP/application(logger:onListening:)``.
  public let http: GatewayHTTP?
  /// The client pools to the peers, by name.
  public let pools: [String: RPCClientPool]
  let principals: RateLimiter
  let clients: RateLimiter

  /// Makes the pools and the server (run ``server``, then call ``close()``).
  public init(_ configuration: Configuration, tokens: AccessTokens, logger: Logger) throws {
    let missing = Set(configuration.routes.map(\.peer)).subtracting(configuration.peers.keys).sorted()
    guard missing.isEmpty else {
      throw StartError(
        description: "no address for \(missing.map { "'\($0)'" }.joined(separator: ", ")): give each as a peer (NAME=HOST:PORT)")
    }
    var pools: [String: RPCClientPool] = [:]
    for peer in Set(configuration.routes.map(\.peer)) {
      var poolLogger = logger
      poolLogger[metadataKey: "peer"] = "\(peer)"
      pools[peer] = RPCClientPool(resolver: configuration.peers[peer]!, configuration: configuration.pool, logger: poolLogger)
    }
    let forwarder = Forwarder(
      tokens: tokens,
      serviceToken: SelfIssuedServiceTokens(tokens: tokens, serviceName: configuration.identity),
      identities: AssertedIdentities(tokens: tokens, issuer: configuration.identity),
      principals: RateLimiter(configuration.perPrincipal),
      clients: RateLimiter(configuration.perClient))
    let services = configuration.routes.map { route in
      ForwardingService(descriptor: route.service, transport: pools[route.peer]!, forwarder: forwarder)
    }
    self.pools = pools
    self.principals = forwarder.principals
    self.clients = forwarder.clients
    self.server = RPCServer(services: services, configuration: configuration.server, logger: logger)
    if let http = configuration.http {
      var routes: [String: GatewayHTTP.Route] = [:]
      for route in configuration.routes {
        let short = route.service.name.split(separator: ".").last.map(String.init) ?? route.service.name
        for method in route.service.methods {
          let target = GatewayHTTP.Route(method: method, transport: pools[route.peer]!)
          routes["\(short)/\(method.method)"] = target
          routes["\(route.service.name)/\(method.method)"] = target
        }
      }
      self.http = GatewayHTTP(configuration: http, routes: routes, forwarder: forwarder, page: StorefrontPage.html)
    } else {
      self.http = nil
    }
  }

  /// Closes the pools; call after the server has stopped.
  public func close() async {
    for pool in pools.values { await pool.close() }
  }
}

/// One forwarded service, hosted by the gateway under its own name: reflection describes it
/// (so rpcctl works through the gateway) and every method forwards.
struct ForwardingService: RPCService {
  let descriptor: ProtoServiceDescriptor
  let transport: any ClientTransport
  let forwarder: Forwarder

  var serviceDescriptor: ProtoServiceDescriptor { descriptor }
  var protoTypes: ProtoTypeRegistry { .commerceAPI }

  func registerMethods(with router: inout RPCRouter) {
    for method in descriptor.methods {
      router.registerRaw(method) { [transport, forwarder] call, context in
        try await forwarder.forward(call, context: context, to: transport)
      }
    }
  }
}

/// The per-call work of ``Gateway``.
struct Forwarder: Sendable {
  let tokens: AccessTokens
  let serviceToken: any ServiceTokenSource
  let identities: AssertedIdentities
  let principals: RateLimiter
  let clients: RateLimiter

  /// Metadata that is the gateway's to set, never the client's to pass on: identities, and the
  /// trace context, which the call to the service continues from the server's.
  static let replacedKeys: Set<String> = [
    "authorization", AuthInterceptor.onBehalfOfKey, AuthInterceptor.forwardedForKey, RPCTrace.traceParentKey,
    "tracestate",
  ]

  func forward(_ call: RawServerCall, context: ServerContext, to transport: any ClientTransport) async throws {
    let options = try await admit(
      context.method, metadata: context.metadata, client: ServerContext.hostAddress(ofPeer: context.peer))
    let method = context.method
    if method.kind == .unary {
      guard let request = try await call.nextRequest() else {
        throw RPCError(code: .invalidArgument, message: "the call ended without a request message")
      }
      let response = try await transport.unary(method: method, request: request, options: options)
      try await call.send(response)
      return
    }
    try await transport.withStreamingCall(method: method, options: options) { upstream in
      // Requests flow up while responses flow down. The pump is not awaited: once the service
      // has answered, requests it no longer reads do not hold the call open (the server ends
      // the caller's side when this handler returns, which ends the pump).
      let pump = Task {
        while let request = try await call.nextRequest() { try await upstream.send(request) }
        try await upstream.closeSend()
      }
      defer { pump.cancel() }
      let headers = try await upstream.responseHeaders()
      if !headers.isEmpty { try await call.sendHeaders(headers) }
      while let response = try await upstream.receive() { try await call.send(response) }
    }
  }

  /// Admits a call of `method` from `client` with `metadata` (steps 1 to 3 of ``Gateway``):
  /// the options to forward it with, or the error the client gets.
  func admit(_ method: ProtoMethodDescriptor, metadata: Metadata, client: String) async throws -> CallOptions {
    if let wait = clients.admit(client) {
      throw Self.limited(
        "too many requests from this address", subject: "client:\(client)", quota: "gateway.requests_per_client",
        limit: clients.limit, retryAfter: wait)
    }
    var options = CallOptions()
    for (key, value) in metadata where !Self.replacedKeys.contains(key) {
      switch value {
      case .text(let text): options.metadata.add(key, text)
      case .binary(let bytes): options.metadata.add(key, binary: bytes)
      }
    }
    let principal = try await forwardIdentity(method, metadata: metadata, client: client, into: &options.metadata)
    if let principal, let wait = principals.admit(principal.description) {
      throw Self.limited(
        "too many requests for \(principal.description)", subject: principal.description,
        quota: "gateway.requests_per_principal", limit: principals.limit, retryAfter: wait)
    }
    return options
  }

  /// Sets the identity entries of a forwarded call; returns the principal to limit (nil for an
  /// anonymous caller, limited by address alone).
  private func forwardIdentity(
    _ method: ProtoMethodDescriptor, metadata incoming: Metadata, client: String, into metadata: inout Metadata
  ) async throws -> Principal? {
    guard let header = incoming["authorization"] else {
      if let rule = method.access, !rule.anonymous {
        throw CommerceError.unauthenticated("this method needs an access token")
      }
      metadata.add("authorization", "Bearer " + (try await serviceToken.token()))
      metadata.add(AuthInterceptor.forwardedForKey, client)
      return nil
    }
    let token = try AuthInterceptor.bearerToken(header)
    let claims = try await AuthInterceptor.verify(token, with: tokens)
    guard claims.assertedBy == nil else { throw AuthInterceptor.assertedAsBearer }
    switch claims.principal.kind {
    case .user:
      metadata.add("authorization", "Bearer " + (try await serviceToken.token()))
      metadata.add(AuthInterceptor.onBehalfOfKey, try await identities.token(for: claims))
      metadata.add(AuthInterceptor.forwardedForKey, client)
    case .service:
      // A service identity (the payment provider's, a delivery partner's) speaks for itself.
      metadata.add("authorization", header)
      if let user = incoming[AuthInterceptor.onBehalfOfKey] { metadata.add(AuthInterceptor.onBehalfOfKey, user) }
    }
    return claims.principal
  }

  static func limited(
    _ message: String, subject: String, quota: String, limit: RateLimiter.Limit, retryAfter: TimeAmount
  ) -> CommerceError {
    let retry = Duration.nanoseconds(retryAfter.nanoseconds)
    return CommerceError(.resourceExhausted, nil, message, retryAfter: retry)
      .quota(subject: subject, id: quota, limit: Int64(limit.perSecond.rounded()), window: .seconds(1), message)
  }
}
