import Foundation
import PostgresEmbedded
import Testing

/// `emporium serve --setting`, `--services` and `--peers`. Apart from ServeCommandTests, whose
/// timed tests run first and alone: these start server processes that fail at start, and time
/// nothing.
@Suite("emporium serve --setting, --services, --peers")
struct ServeSettingsTests {
  @Test("--setting reaches the service it names; an unknown service or a bad value is a clear start-up error")
  func settings() async throws {
    let database = try await TestCluster.createDatabase("serve_settings")
    func failure(_ setting: String) async throws -> String { try await Self.failedStart(database, ["--setting", setting]) }
    let unknown = try await failure("nosuch.lease=3")
    #expect(unknown.contains("no service is named 'nosuch'") && unknown.contains("orders"))
    // The value reaches OrderService, which refuses it.
    let refused = try await failure("orders.saga-lease=1")
    #expect(refused.contains("saga-lease"))
    let malformed = try await failure("orders-saga-lease")
    #expect(malformed.contains("--setting"))
  }

  @Test("--services and --peers: an unknown service, a peer neither hosted nor given, and a malformed peer are clear start-up errors")
  func topology() async throws {
    let database = try await TestCluster.createDatabase("serve_topology")
    func failure(_ arguments: [String]) async throws -> String { try await Self.failedStart(database, arguments) }
    let unknown = try await failure(["--services", "orders,nosuch"])
    #expect(unknown.contains("unknown service 'nosuch'") && unknown.contains("inventory"), "\(unknown)")
    let missing = try await failure(["--services", "orders,payments", "--peers", "catalog=127.0.0.1:1,cart=127.0.0.1:1"])
    #expect(missing.contains("'orders' calls 'inventory', which this process neither hosts nor reaches"), "\(missing)")
    let malformed = try await failure(["--services", "cart", "--peers", "catalog"])
    #expect(malformed.contains("--peers: peer 'catalog': expected NAME=HOST:PORT"), "\(malformed)")
  }

  /// Runs `emporium serve` on `database` with `arguments`, expects it to exit unsuccessfully,
  /// and returns what it wrote to standard error.
  static func failedStart(_ database: String, _ arguments: [String]) async throws -> String {
    try await ServeCommandTests.failedStart(["--listen", "127.0.0.1:0", "--database-url", database] + arguments)
  }
}
