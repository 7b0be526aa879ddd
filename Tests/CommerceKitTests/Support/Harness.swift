import CommerceAPI
import CommerceKit
import Logging
import NIOCore
import Messages
import Postgres
import PostgresEmbedded
import RPC
import Synchronization

/// A pool on a fresh database of the shared embedded cluster, with the platform tables in
/// `schema`.
func withDatabase<Result>(
  _ name: String, schema: String = "svc", _ body: (PostgresPool) async throws -> Result
) async throws -> Result {
  let url = try await TestCluster.createDatabase(name)
  let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 8))
  do {
    try await PlatformMigrations.apply(to: schema, pool: pool)
    let result = try await body(pool)
    await pool.close()
    return result
  } catch {
    await pool.close()
    throw error
  }
}

/// The status a call or an operation fails with (commerce and database errors mapped as the
/// server maps them), or nil when it succeeds.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
  do {
    try await body()
    return nil
  } catch let error as RPCError {
    return error
  } catch let error as any RPCErrorConvertible {
    return error.rpcError
  } catch {
    return RPCError(code: .unknown, message: "not an RPCError: \(error)")
  }
}

/// A counter tasks share.
final class Counter: Sendable {
  private let value = Atomic<Int>(0)
  /// Adds one; returns the new count.
  @discardableResult func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
  var count: Int { value.load(ordering: .relaxed) }
}
