import Foundation
import PostgresEmbedded
import Testing

@Suite("TestCluster")
struct TestClusterTests {
  @Test("two suites get distinct databases on the same server, invisible to each other")
  func separateDatabasesOnOneServer() async throws {
    // Two suites starting at once: both wait for the same shared cluster.
    async let catalog = TestCluster.createDatabase("postgres_tests_catalog_suite")
    async let orders = TestCluster.createDatabase("postgres_tests_orders_suite")
    let (catalogURL, ordersURL) = try await (catalog, orders)

    let catalogParts = try #require(URLComponents(string: catalogURL))
    let ordersParts = try #require(URLComponents(string: ordersURL))
    #expect(catalogURL != ordersURL)
    #expect(catalogParts.host == ordersParts.host)
    #expect(catalogParts.port == ordersParts.port)
    if ProcessInfo.processInfo.environment[TestCluster.databaseURLEnvironmentVariable] == nil {
      let shared = try await EmbeddedPostgres.shared()
      #expect(catalogParts.port == shared.port)
      #expect(try await EmbeddedPostgres.shared() === shared)
    }

    #expect(
      try await SQLClient.value(catalogURL, "SELECT current_database()")
        == "postgres_tests_catalog_suite")
    #expect(
      try await SQLClient.value(ordersURL, "SELECT current_database()")
        == "postgres_tests_orders_suite")
    try await SQLClient.value(catalogURL, "CREATE TABLE products (sku text PRIMARY KEY)")
    try await SQLClient.value(catalogURL, "INSERT INTO products VALUES ('SKU-1')")
    #expect(try await SQLClient.value(catalogURL, "SELECT count(*) FROM products") == "1")
    #expect(try await SQLClient.value(ordersURL, "SELECT to_regclass('products') IS NULL") == "t")
  }

  @Test("a name already used in this process is refused")
  func duplicateNameIsRefused() async throws {
    _ = try await TestCluster.createDatabase("postgres_tests_duplicate")
    let error = await #expect(throws: EmbeddedPostgresError.self) {
      try await TestCluster.createDatabase("postgres_tests_duplicate")
    }
    #expect(error?.code == .invalidArgument)
  }
}
