import CommerceKit
import Postgres

extension CatalogService {
  /// The store the current call's reads run on — the replica's when ``ReadReplica/read(for:)``
  /// sends the caller there, else the primary's — and that routing decision (nil without a
  /// replica), for ``mayCache(_:)``.
  func routedRead() async -> (store: CatalogStore, read: ReadReplica.Read?) {
    guard let replica else { return (store, nil) }
    let read = await replica.read(for: CallAuth.current?.principal)
    return (read.onReplica ? CatalogStore(pool: read.pool) : store, read)
  }

  /// Whether what a read returned may go into the product or search cache now (always without
  /// a replica; see ``ReadReplica/mayCache(_:)``).
  func mayCache(_ read: ReadReplica.Read?) -> Bool {
    guard let replica, let read else { return true }
    return replica.mayCache(read)
  }

  /// Runs a change on the primary; with a replica, marks the calling principal so that its
  /// next reads see the change (``ReadReplica/write(by:_:)``).
  func write<T>(_ body: () async throws -> T) async throws -> T {
    guard let replica else { return try await body() }
    return try await replica.write(by: CallAuth.current?.principal, body)
  }
}
