import CommerceAPI
import CommerceKit
@testable import EmporiumApp
import Logging
import Messages
import NIOCore
import Postgres
import PostgresEmbedded
import RPC
import Synchronization
import TestSupport
import Testing

/// A NotificationService standing in for a commerce service: ListNotifications (any user)
/// records the caller, runs a statement that outlives short deadlines when asked (page_size 99),
/// and calls PublishEvents through its "orders" peer, which records who called it.
final class StandIn: CommerceV1.NotificationService.ServiceProtocol, Sendable {
  let environment: ServiceEnvironment
  let seen = Mutex<[Principal]>([])

  init(_ environment: ServiceEnvironment) { self.environment = environment }

  func subscribe(request: CommerceV1.SubscribeRequest, response: ResponseStreamWriter<CommerceV1.SubscribeResponse>, context: ServerContext) async throws {}

  func listNotifications(request: CommerceV1.ListNotificationsRequest, context: ServerContext) async throws -> CommerceV1.ListNotificationsResponse {
    seen.withLock { $0.append(try! context.principal()) }
    if request.pageSize == 99 { try await environment.pool.query("SELECT pg_sleep(30)") }
    _ = try await CommerceV1.NotificationService.Client(environment.peers.transport(for: "orders")).publishEvents(.init())
    let marks = try await environment.pool.query("SELECT count(*) FROM orders_standin.marks").scalar(as: Int64.self)
    return .with { $0.nextPageToken = String(marks ?? -1) }
  }

  func markRead(request: CommerceV1.MarkReadRequest, context: ServerContext) async throws -> CommerceV1.MarkReadResponse { .init() }

  func publishEvents(request: CommerceV1.PublishEventsRequest, context: ServerContext) async throws -> CommerceV1.PublishEventsResponse {
    seen.withLock { $0.append(try! context.principal()) }
    return .init()
  }
}

/// Where the declaration puts the service it makes, for the test to inspect.
final class Made: Sendable {
  let service = Mutex<StandIn?>(nil)
}

@Suite struct EmporiumAppTests {
  static func declaration(_ made: Made, peers: [String] = ["orders"]) -> ServiceDeclaration {
    ServiceDeclaration(
      name: "orders", schema: "orders_standin",
      migrations: [Migration(version: 1, name: "marks", sql: "CREATE TABLE marks (id int PRIMARY KEY); INSERT INTO marks VALUES (1), (2);")],
      peers: peers
    ) { environment in
      let service = StandIn(environment)
      made.service.withLock { $0 = service }
      return HostedService(rpc: service)
    }
  }

  @Test func hostsMigratedServicesBehindTheInterceptorWithLateBoundPeers() async throws {
    let made = Made()
    var configuration = EmporiumApp.Configuration(databaseURL: try await TestCluster.createDatabase("emporiumapp_hosts"))
    configuration.services = [Self.declaration(made)]
    configuration.server.port = 0
    let app = try await EmporiumApp.start(configuration, logger: Logger(label: "test"))
    let serving = Task { try await app.server.serve() }
    let port = try await app.server.localAddress().port!
    let user = try await app.tokens.issue(for: Principal(kind: .user, subject: "u-9", roles: [.customer], expiresAt: 0), lifetime: .seconds(60)).token
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
    let client = CommerceV1.NotificationService.Client(connection)
    do {
      // The interceptor guards every method.
      await #expect(throws: RPCError.self) { _ = try await client.listNotifications(.init()) }
      // The service's own migrations and the platform tables are in its schema.
      let response = try await client.listNotifications(.init(), options: CallOptions(metadata: ["authorization": "Bearer " + user]))
      #expect(response.nextPageToken == "2")
      let tables = try await app.pool.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'orders_standin' ORDER BY table_name"
      ).map { try $0.decode(0, as: String.self) }
      #expect(tables == ["idempotency_keys", "marks", "outbox", "outbox_pending", "platform_migrations", "schema_migrations"])
      // The peer call went in-process, as the service, for the user.
      let seen = try #require(made.service.withLock { $0 }).seen.withLock { $0 }
      #expect(seen.map(\.description) == ["user:u-9", "service:orders"])
      #expect(seen.last?.onBehalfOf?.userID == "u-9")
      // A statement under a call's deadline ends with the call.
      let started = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) {
        _ = try await client.listNotifications(
          .with { $0.pageSize = 99 }, options: CallOptions(timeout: .milliseconds(500), metadata: ["authorization": "Bearer " + user]))
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(ContinuousClock.now - started < .seconds(20))
      // The server-side statement was cancelled too, not left to run its 30 seconds.
      #expect(try await eventually(within: .seconds(20)) {
        try await app.pool.query(
          "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'"
        ).scalar(as: Int64.self) == 0
      })
    } catch {
      Issue.record(error)
    }
    await connection.close()
    app.server.beginGracefulShutdown()
    try await serving.value
    await app.close()
  }

  @Test func peersThatAreNotHostedAreAStartError() async throws {
    var configuration = EmporiumApp.Configuration(databaseURL: "postgresql://nobody@127.0.0.1:1/none")
    configuration.services = [Self.declaration(Made(), peers: ["inventory"])]
    await #expect {
      _ = try await EmporiumApp.start(configuration, logger: Logger(label: "test"))
    } throws: { error in
      "\(error)".contains("'orders' calls 'inventory'")
    }
    #expect(throws: EmporiumApp.StartError.self) { _ = try ServiceCatalog.named(["no-such-service"]) }
  }

  @Test func connectionsStartWithTheSessionSettingsUnlessTheURLSetsOptions() async throws {
    var configuration = EmporiumApp.Configuration(databaseURL: try await TestCluster.createDatabase("emporiumapp_settings"))
    configuration.services = [Self.declaration(Made(), peers: [])]
    configuration.server.port = 0
    let app = try await EmporiumApp.start(configuration, logger: Logger(label: "test"))
    #expect(try await app.pool.query("SHOW max_parallel_workers_per_gather").scalar(as: String.self) == "0")
    #expect(try await app.pool.query("SHOW random_page_cost").scalar(as: String.self) == "1.1")
    await app.close()
    // Both URL forms; an operator's own options win.
    #expect(
      EmporiumApp.withSessionSettings("postgresql://u@h/db", ["a": "1", "b": "2"])
        == "postgresql://u@h/db?options=-c%20a%3D1%20-c%20b%3D2")
    #expect(EmporiumApp.withSessionSettings("postgresql://u@h/db?sslmode=disable", ["a": "1"]).hasSuffix("&options=-c%20a%3D1"))
    #expect(EmporiumApp.withSessionSettings("host=h dbname=db", ["a": "1"]) == "host=h dbname=db options='-c a=1'")
    #expect(EmporiumApp.withSessionSettings("postgresql://u@h/db?options=-c%20x%3D1", ["a": "1"]) == "postgresql://u@h/db?options=-c%20x%3D1")
  }
}
