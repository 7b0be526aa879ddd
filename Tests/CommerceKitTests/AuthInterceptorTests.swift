import CommerceAPI
import Messages
import RPC
import Synchronization
import RPCTestSupport
import TestSupport
import Testing

@testable import CommerceKit

/// A NotificationService whose handlers report who called: ListNotifications (any user) calls
/// PublishEvents (services only) through a transport with the "orders" identity, which records
/// the principal it saw.
final class WhoCallsNotifications: CommerceV1.NotificationService.ServiceProtocol, Sendable {
  let seen = Mutex<[Principal]>([])
  /// The client address of each ListNotifications call.
  let addresses = Mutex<[String]>([])
  let onward = Mutex<(any ClientTransport)?>(nil)

  func subscribe(request: CommerceV1.SubscribeRequest, response: ResponseStreamWriter<CommerceV1.SubscribeResponse>, context: ServerContext) async throws {}

  func listNotifications(request: CommerceV1.ListNotificationsRequest, context: ServerContext) async throws -> CommerceV1.ListNotificationsResponse {
    let caller = try context.principal()
    seen.withLock { $0.append(caller) }
    addresses.withLock { $0.append(context.clientAddress) }
    if let transport = onward.withLock({ $0 }) {
      _ = try await CommerceV1.NotificationService.Client(transport).publishEvents(.init())
    }
    return .init()
  }

  func markRead(request: CommerceV1.MarkReadRequest, context: ServerContext) async throws -> CommerceV1.MarkReadResponse {
    // MarkRead names a resource of the caller's in this test: only "u-owner" owns it.
    try context.requireOwner("u-owner", or: .notFound("notification", "n-1"))
    return .init()
  }

  func publishEvents(request: CommerceV1.PublishEventsRequest, context: ServerContext) async throws -> CommerceV1.PublishEventsResponse {
    seen.withLock { $0.append(try! context.principal()) }
    return .init()
  }
}

@Suite struct AuthInterceptorTests {
  static func token(_ tokens: AccessTokens, _ kind: Principal.Kind, _ subject: String, roles: Set<CommerceV1.Role> = [.customer]) async throws -> String {
    try await tokens.issue(for: Principal(kind: kind, subject: subject, roles: kind == .user ? roles : [], expiresAt: 0), lifetime: .seconds(900)).token
  }

  static func bearer(_ token: String) -> CallOptions { CallOptions(metadata: ["authorization": "Bearer " + token]) }

  /// A bearer token and more metadata entries.
  static func options(_ token: String, _ entries: [(String, String)]) -> CallOptions {
    var options = bearer(token)
    for (key, value) in entries { options.metadata.add(key, value) }
    return options
  }

  @Test func rulesAreEnforcedBeforeTheHandler() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    let service = WhoCallsNotifications()
    let customer = try await Self.token(tokens, .user, "u-1")
    let orders = try await Self.token(tokens, .service, "orders")
    let gateway = try await Self.token(tokens, .service, "payment-gateway")
    try await withServer(services: [service], interceptors: [AuthInterceptor(tokens: tokens)]) { _, port in
      try await withConnection(port: port) { connection in
        let client = CommerceV1.NotificationService.Client(connection)
        // No token, a malformed header, a forged token: UNAUTHENTICATED.
        #expect(await rpcError { _ = try await client.listNotifications(.init()) }?.code == .unauthenticated)
        #expect(await rpcError {
          _ = try await client.listNotifications(.init(), options: CallOptions(metadata: ["authorization": customer]))
        }?.code == .unauthenticated)
        #expect(await rpcError { _ = try await client.listNotifications(.init(), options: Self.bearer(customer + "x")) }?.code == .unauthenticated)
        // Any user may list; a service may not (the rule names none).
        _ = try await client.listNotifications(.init(), options: Self.bearer(customer))
        #expect(await rpcError { _ = try await client.listNotifications(.init(), options: Self.bearer(orders)) }?.code == .permissionDenied)
        // Only the named services may publish.
        #expect(await rpcError { _ = try await client.publishEvents(.init(), options: Self.bearer(customer)) }?.code == .permissionDenied)
        #expect(await rpcError { _ = try await client.publishEvents(.init(), options: Self.bearer(gateway)) }?.code == .permissionDenied)
        _ = try await client.publishEvents(.init(), options: Self.bearer(orders))
        // Users cannot claim to act for someone.
        var spoof = Self.bearer(customer)
        spoof.metadata.add(AuthInterceptor.onBehalfOfKey, try await Self.token(tokens, .user, "u-2"))
        #expect(await rpcError { _ = try await client.listNotifications(.init(), options: spoof) }?.code == .permissionDenied)
      }
    }
    #expect(service.seen.withLock { $0.map(\.description) } == ["user:u-1", "service:orders"])
  }

  @Test func expiredTokensSayTokenExpired() async throws {
    let clock = TestClock()
    let tokens = await AccessTokens(keys: try .ephemeral(), now: { clock.now })
    let customer = try await Self.token(tokens, .user, "u-1")
    clock.advance(901)
    try await withServer(services: [WhoCallsNotifications()], interceptors: [AuthInterceptor(tokens: tokens)]) { _, port in
      try await withConnection(port: port) { connection in
        let error = await rpcError {
          _ = try await CommerceV1.NotificationService.Client(connection).listNotifications(.init(), options: Self.bearer(customer))
        }
        #expect(error?.code == .unauthenticated)
        #expect(error?.commerceReason == "TOKEN_EXPIRED")
      }
    }
  }

  @Test func anotherUsersResourceReadsAsNotFound() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    try await withServer(services: [WhoCallsNotifications()], interceptors: [AuthInterceptor(tokens: tokens)]) { _, port in
      try await withConnection(port: port) { connection in
        let client = CommerceV1.NotificationService.Client(connection)
        _ = try await client.markRead(.init(), options: Self.bearer(try await Self.token(tokens, .user, "u-owner")))
        let other = await rpcError { _ = try await client.markRead(.init(), options: Self.bearer(try await Self.token(tokens, .user, "u-other"))) }
        #expect(other?.code == .notFound)
      }
    }
  }

  @Test func callsBetweenServicesCarryTheServiceAndTheUser() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    let service = WhoCallsNotifications()
    let customer = try await Self.token(tokens, .user, "u-7")
    try await withServer(services: [service], interceptors: [AuthInterceptor(tokens: tokens)]) { server, port in
      service.onward.withLock {
        $0 = InProcessTransport(
          server: server, interceptors: [ServiceCallCredentials(SelfIssuedServiceTokens(tokens: tokens, serviceName: "orders"))])
      }
      try await withConnection(port: port) { connection in
        _ = try await CommerceV1.NotificationService.Client(connection).listNotifications(.init(), options: Self.bearer(customer))
      }
    }
    let seen = service.seen.withLock { $0 }
    #expect(seen.count == 2)
    #expect(seen.last?.serviceName == "orders")
    #expect(seen.last?.onBehalfOf?.userID == "u-7")
  }

  @Test func theGatewaysCallsAreJudgedAsTheClientItForwards() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    let service = WhoCallsNotifications()
    let customer = try await Self.token(tokens, .user, "u-9")
    let gateway = try await Self.token(tokens, .service, AuthInterceptor.gatewayIdentity)
    let user = Principal(kind: .user, subject: "u-9", roles: [.customer], expiresAt: 0)
    let asserted = try await tokens.issue(for: user, lifetime: .seconds(60), assertedBy: AuthInterceptor.gatewayIdentity).token
    try await withServer(services: [service], interceptors: [AuthInterceptor(tokens: tokens)]) { server, port in
      service.onward.withLock {
        $0 = InProcessTransport(
          server: server, interceptors: [ServiceCallCredentials(SelfIssuedServiceTokens(tokens: tokens, serviceName: "orders"))])
      }
      try await withConnection(port: port) { connection in
        let client = CommerceV1.NotificationService.Client(connection)
        // The gateway for a user: the call is the user's, from the address it forwards; the
        // handler's onward call carries the asserted identity as the user orders acts for.
        let forwarded = Self.options(gateway, [(AuthInterceptor.onBehalfOfKey, asserted), (AuthInterceptor.forwardedForKey, "203.0.113.9")])
        _ = try await client.listNotifications(.init(), options: forwarded)
        // The gateway for an anonymous client: not a user, so a users' method refuses it.
        let anonymous = Self.options(gateway, [(AuthInterceptor.forwardedForKey, "203.0.113.9")])
        let anonymousError = await rpcError { _ = try await client.listNotifications(.init(), options: anonymous) }
        #expect(anonymousError?.code == .unauthenticated)
        // An asserted identity is never a caller's own token.
        let asBearer = await rpcError { _ = try await client.listNotifications(.init(), options: Self.bearer(asserted)) }
        #expect(asBearer?.code == .unauthenticated)
        // Anyone else's x-forwarded-for is ignored.
        let claimed = Self.options(customer, [(AuthInterceptor.forwardedForKey, "203.0.113.9")])
        _ = try await client.listNotifications(.init(), options: claimed)
      }
    }
    let seen = service.seen.withLock { $0 }
    #expect(seen.map(\.description) == ["user:u-9", "service:orders", "user:u-9", "service:orders"])
    #expect(seen[1].onBehalfOf?.userID == "u-9")
    #expect(service.addresses.withLock { $0 } == ["203.0.113.9", "127.0.0.1"])
  }

  @Test func theBearerEntryIsParsedInAnyCaseWithSpacesAroundTheToken() throws {
    #expect(try AuthInterceptor.bearerToken("Bearer abc.def") == "abc.def")
    #expect(try AuthInterceptor.bearerToken("bEARER   abc  ") == "abc")
    #expect(try AuthInterceptor.bearerToken("bearer  ") == "")  // then refused as an invalid token
    for malformed in ["Bearer", "Bearer ", "Basic abc", "Bearerabc", "", "Beärer abc"] {
      #expect(throws: CommerceError.self) { try AuthInterceptor.bearerToken(malformed) }
    }
  }

  @Test func admissionFollowsTheRule() throws {
    let admin = Principal(kind: .user, subject: "a", roles: [.customer, .admin], expiresAt: 0)
    let customer = Principal(kind: .user, subject: "c", roles: [.customer], expiresAt: 0)
    let partner = Principal(kind: .service, subject: "delivery-partner-acme", expiresAt: 0)
    let ownerOrAdmin = ProtoAccessRule(roles: ["ADMIN"], owner: true)
    #expect(try AuthInterceptor.admission(of: admin, by: ownerOrAdmin) == .role)
    #expect(try AuthInterceptor.admission(of: customer, by: ownerOrAdmin) == .owner)
    #expect(throws: CommerceError.self) { try AuthInterceptor.admission(of: nil, by: ownerOrAdmin) }
    #expect(try AuthInterceptor.admission(of: partner, by: ProtoAccessRule(services: ["delivery-partner-*"])) == .service)
    #expect(try AuthInterceptor.admission(of: nil, by: ProtoAccessRule(anonymous: true)) == .anonymous)
    #expect(try AuthInterceptor.admission(of: partner, by: ProtoAccessRule(anonymous: true)) == .anonymous)
    #expect(throws: CommerceError.self) { try AuthInterceptor.admission(of: customer, by: ProtoAccessRule(roles: ["SELLER"])) }
  }
}
