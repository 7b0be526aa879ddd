import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import EmporiumGateway
import Foundation
import Logging
import Messages
import NIOCore
import RPC
import ServiceLifecycle
import TestSupport
import Testing

/// Runs `gateway`'s binary face (and `also`) in a ServiceGroup for the duration of `body`; then
/// shuts the group down gracefully and closes the gateway's pools, also when `body` throws.
func running(
  _ gateway: Gateway, also extra: [any Service] = [], logger: Logger, _ body: (ServiceGroup) async throws -> Void
) async throws {
  let group = ServiceGroup(
    configuration: .init(services: ([gateway.server] + extra).map { .init(service: $0) }, logger: logger))
  let running = Task { try await group.run() }
  do {
    try await body(group)
  } catch {
    await group.triggerGracefulShutdown()
    _ = try? await running.value
    await gateway.close()
    throw error
  }
  await group.triggerGracefulShutdown()
  try await running.value
  await gateway.close()
}

/// A gateway in front of an app's server, over real sockets: the app hosts every service, and
/// the gateway reaches each through its pool. Both load the same signing keys from one
/// directory, each with its own verification cache, as two processes would.
struct GatewayFixture {
  let app: TestApp
  let gateway: Gateway
  /// The gateway's own key set and verification cache.
  let tokens: AccessTokens
  /// A connection to the gateway's binary face.
  let connection: RPCConnection
  /// Starts the gateway's graceful shutdown, as SIGTERM does.
  let drain: @Sendable () async -> Void
  /// The HTTP/JSON face's client.
  let http: HTTPTestClient

  static func run(
    configure: (inout Gateway.Configuration) -> Void = { _ in },
    _ body: (GatewayFixture) async throws -> Void
  ) async throws {
    let keys = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-keys-" + UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: keys) }
    try await TestApp.run("gateway", databaseURL: try await TestApp.newDatabase("gateway"), services: ServiceCatalog.all, keysDirectory: keys) {
      app in
      let port = try await app.app.server.localAddress().port!
      var configuration = Gateway.Configuration()
      configuration.server.port = 0
      var http = GatewayHTTP.Configuration()
      http.port = 0
      configuration.http = http
      configuration.server.drainTimeout = .seconds(10)
      let upstream = StaticEndpoints([Endpoint(host: "127.0.0.1", port: port)])
      configuration.peers = Dictionary(uniqueKeysWithValues: GatewayRoute.commerce.map { ($0.peer, upstream as any EndpointResolver) })
      configure(&configuration)
      let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: keys).keys)
      let logger = Logger(label: "gateway-test")
      let gateway = try Gateway(configuration, tokens: tokens, logger: logger)
      let (listening, announce) = AsyncStream.makeStream(of: Int.self)
      let application = gateway.http!.application(logger: logger) { port in announce.yield(port) }
      try await running(gateway, also: [application], logger: logger) { group in
        var ports = listening.makeAsyncIterator()
        let httpPort = try #require(await ports.next())
        let connection = try await RPCConnection.connect(host: "127.0.0.1", port: try await gateway.server.localAddress().port!)
        do {
          try await body(
            GatewayFixture(
              app: app, gateway: gateway, tokens: tokens, connection: connection,
              drain: { await group.triggerGracefulShutdown() }, http: HTTPTestClient(port: httpPort)))
        } catch {
          await connection.close()
          throw error
        }
        await connection.close()
      }
    }
  }

  /// Registers a customer through the gateway and logs in; the access token.
  func customer() async throws -> String {
    let auth = CommerceV1.AuthService.Client(connection)
    let email = "buyer-\(UUID().uuidString.prefix(8).lowercased())@example.com"
    _ = try await auth.registerUser(.with {
      $0.email = email
      $0.password = "correct horse battery"
      $0.displayName = "Buyer"
    })
    return try await auth.login(.with {
      $0.email = email
      $0.password = "correct horse battery"
    }).tokens!.accessToken
  }

  /// A listed product with `stock` units, made directly on the app; its id.
  func product(stock: Int64) async throws -> String {
    let admin = try await app.user(roles: [.admin])
    let seller = try await app.seller()
    return try await app.product(
      "Turntable", price: 25_000, category: try await app.category(admin: admin), warehouse: try await app.warehouse(admin: admin),
      stock: stock, seller: seller.options
    ).productId
  }
}

@Suite("API gateway: one entry point, authenticated once, rate-limited, forwarding through pools")
struct GatewayTests {
  @Test("a customer registers, logs in, checks out and watches the order through the gateway; services act for the user without ever verifying the user's token")
  func journeyThroughTheGateway() async throws {
    try await GatewayFixture.run { f in
      let product = try await f.product(stock: 3)
      let token = try await f.customer()
      let me = TestApp.bearer(token)
      let who = try await CommerceV1.AuthService.Client(f.connection).whoAmI(.init(), options: me)
      #expect(who.principal?.kind == .user)
      let order = try await CommerceV1.OrderService.Client(f.connection).checkout(TestApp.checkout([(product, 1)]), options: me).order!
      #expect(order.customerId == who.principal?.userId)
      #expect(order.status == .confirmed)
      // A server stream through the gateway: the order now, then its cancellation, then OK.
      let orders = CommerceV1.OrderService.Client(f.connection)
      let seen = try await orders.watchOrder(.with { $0.orderId = order.orderId }, options: me) { stream in
        var statuses: [CommerceV1.OrderStatus] = []
        for try await message in stream {
          statuses.append(message.order!.status)
          if statuses.count == 1 { _ = try await orders.cancelOrder(.with { $0.orderId = order.orderId; $0.reason = .customerRequested }, options: me) }
        }
        return statuses
      }
      #expect(seen == [.confirmed, .cancelled])
      // The gateway verified the user's token; the services never saw it. The identity it
      // asserted expires with the user's token: WhoAmI reports the user's own expiry.
      let verified = try #require(f.tokens.cachedClaims(of: token[...]))
      #expect(who.principal?.expireTime?.seconds == verified.principal.expiresAt)
      #expect(f.app.app.tokens.cachedClaims(of: token[...]) == nil)
      // Reflection through the gateway describes the commerce services (rpcctl works through it).
      let hosted = try await RpcV1.ReflectionService.Client(f.connection).listServices(.init()).serviceNames
      #expect(hosted.contains("emporium.commerce.v1.OrderService"))
      // Every call went through the pools.
      #expect(f.gateway.pools["orders"]!.snapshot().endpoints.map(\.connections).reduce(0, +) >= 1)
    }
  }

  @Test("bad tokens stop at the gateway; the services' own refusals come back with their details")
  func refusals() async throws {
    try await GatewayFixture.run { f in
      let auth = CommerceV1.AuthService.Client(f.connection)
      await expectFailure(.unauthenticated) { _ = try await auth.whoAmI(.init()) }
      await expectFailure(.unauthenticated) { _ = try await auth.whoAmI(.init(), options: TestApp.bearer("not.a.token")) }
      await expectFailure(.unauthenticated) {
        _ = try await auth.whoAmI(.init(), options: CallOptions(metadata: ["authorization": "Basic abc"]))
      }
      // An identity the gateway asserts is no bearer token, at the gateway or at a service.
      let user = Principal(kind: .user, subject: "u-1", roles: [.customer], expiresAt: 0)
      let asserted = try await f.tokens.issue(for: user, lifetime: .seconds(60), assertedBy: "gateway").token
      await expectFailure(.unauthenticated) { _ = try await auth.whoAmI(.init(), options: TestApp.bearer(asserted)) }
      await expectFailure(.unauthenticated) {
        _ = try await CommerceV1.AuthService.Client(f.app.connection).whoAmI(.init(), options: TestApp.bearer(asserted))
      }
      // A customer on an admin method: the service refuses, the gateway relays.
      let customer = TestApp.bearer(try await f.customer())
      await expectFailure(.permissionDenied) { _ = try await CommerceV1.AdminService.Client(f.connection).listUsers(.init(), options: customer) }
      // A service's error details cross the gateway: the fields a bad checkout names.
      let error = await expectFailure(.invalidArgument) {
        _ = try await CommerceV1.OrderService.Client(f.connection).checkout(.init(), options: customer)
      }
      #expect(error?.invalidFields.isEmpty == false)
    }
  }

  @Test("requests per principal are limited with RESOURCE_EXHAUSTED, RetryInfo and QuotaFailure; other principals go on")
  func perPrincipalLimit() async throws {
    try await GatewayFixture.run(configure: { $0.perPrincipal = .init(perSecond: 0.01, burst: 3) }) { f in
      let auth = CommerceV1.AuthService.Client(f.connection)
      let first = TestApp.bearer(try await f.customer())
      for _ in 0..<3 { _ = try await auth.whoAmI(.init(), options: first) }
      let error = await expectFailure(.resourceExhausted) { _ = try await auth.whoAmI(.init(), options: first) }
      #expect((error?.retryDelay ?? .zero) > .seconds(1))
      #expect(quotaSubjects(error).first?.hasPrefix("user:") == true)
      // Another user is not held back by the first.
      _ = try await auth.whoAmI(.init(), options: TestApp.bearer(try await f.customer()))
    }
  }

  @Test("requests per client address are limited, signed in or not")
  func perClientLimit() async throws {
    try await GatewayFixture.run(configure: { $0.perClient = .init(perSecond: 0.01, burst: 4) }) { f in
      let catalog = CommerceV1.CatalogService.Client(f.connection)
      for _ in 0..<4 { _ = try await catalog.searchProducts(.with { $0.query = "turntable" }) }
      let error = await expectFailure(.resourceExhausted) { _ = try await catalog.searchProducts(.with { $0.query = "turntable" }) }
      #expect(error?.retryDelay != nil)
      #expect(quotaSubjects(error) == ["client:127.0.0.1"])
    }
  }

  @Test("the gateway drains: new calls are refused with UNAVAILABLE, and a stream in flight finishes")
  func drains() async throws {
    try await GatewayFixture.run { f in
      let product = try await f.product(stock: 3)
      let me = TestApp.bearer(try await f.customer())
      let orders = CommerceV1.OrderService.Client(f.connection)
      let order = try await orders.checkout(TestApp.checkout([(product, 1)]), options: me).order!
      let seen = try await orders.watchOrder(.with { $0.orderId = order.orderId }, options: me) { stream in
        var statuses: [CommerceV1.OrderStatus] = []
        for try await message in stream {
          statuses.append(message.order!.status)
          if statuses.count == 1 {
            await f.drain()
            // New calls are refused, once the drain has begun (the trigger is asynchronous):
            // UNAVAILABLE, so clients go elsewhere.
            let refused = await eventually {
              do {
                _ = try await CommerceV1.AuthService.Client(f.connection).whoAmI(.init(), options: me)
                return false
              } catch {
                return (error as? RPCError)?.code == .unavailable
              }
            }
            #expect(refused)
            // The stream in flight still gets the order's next change, made directly.
            _ = try await CommerceV1.OrderService.Client(f.app.connection).cancelOrder(
              .with { $0.orderId = order.orderId; $0.reason = .customerRequested }, options: try await f.app.user(roles: [.admin]))
          }
        }
        return statuses
      }
      #expect(seen == [.confirmed, .cancelled])
    }
  }

  @Test("a route whose peer has no address is a start error naming it")
  func missingPeer() async throws {
    var configuration = Gateway.Configuration()
    configuration.peers = ["auth": StaticEndpoints([Endpoint(host: "127.0.0.1", port: 1)])]
    let tokens = await AccessTokens(keys: try .ephemeral())
    #expect(throws: Gateway.StartError.self) { _ = try Gateway(configuration, tokens: tokens, logger: Logger(label: "test")) }
    do {
      _ = try Gateway(configuration, tokens: tokens, logger: Logger(label: "test"))
    } catch {
      #expect("\(error)".contains("'orders'"))
    }
  }

  @Test("the routes name every commerce service by the identity its process role hosts")
  func routesMatchTheServices() {
    #expect(Set(GatewayRoute.commerce.map(\.peer)) == Set(ServiceCatalog.all.map(\.name)))
    #expect(Set(GatewayRoute.commerce.map(\.service.name)) == Set(ProtoTypeRegistry.commerceAPI.services.map(\.name)))
  }
}

@Suite("Gateway rate limiter")
struct RateLimiterTests {
  @Test("a bucket per key trips at its burst and recovers at its rate")
  func tripsAndRecovers() {
    let limiter = RateLimiter(.init(perSecond: 2, burst: 2))
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    #expect(limiter.admit("a", now: start) == nil)
    #expect(limiter.admit("a", now: start) == nil)
    let wait = limiter.admit("a", now: start)
    #expect(wait == .milliseconds(500))
    #expect(limiter.admit("b", now: start) == nil)
    #expect(limiter.admit("a", now: start + .milliseconds(499)) != nil)
    #expect(limiter.admit("a", now: start + .milliseconds(1_000)) == nil)
  }

  @Test("keys are bounded: idle ones are forgotten first; when every bucket is busy a new key waits")
  func bounded() {
    let limiter = RateLimiter(.init(perSecond: 1, burst: 1), capacity: 2)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    #expect(limiter.admit("a", now: start) == nil)
    #expect(limiter.admit("b", now: start) == nil)
    #expect(limiter.admit("c", now: start) != nil)
    #expect(limiter.keyCount == 2)
    // A second later "a" and "b" are full again (idle): they make room.
    #expect(limiter.admit("c", now: start + .seconds(1)) == nil)
    #expect(limiter.keyCount == 1)
  }
}

/// The subjects of the QuotaFailure detail an error carries.
func quotaSubjects(_ error: RPCError?) -> [String] {
  error?.details?.details.flatMap { detail -> [String] in
    guard case .quotaFailure(let failure) = detail.detail else { return [] }
    return failure.violations.map(\.subject)
  } ?? []
}
