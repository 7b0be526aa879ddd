import PostgresEmbedded
import Synchronization

/// A test database created on first use and shared by the tests of one suite (which run in
/// parallel); `TestCluster` refuses to create the same name twice in a process.
final class DatabaseOnce: Sendable {
  private let name: String
  private let task = Mutex<Task<String, any Error>?>(nil)

  init(_ name: String) {
    self.name = name
  }

  func url() async throws -> String {
    let task = self.task.withLock { task in
      if let task { return task }
      let name = self.name
      let created = Task { try await TestCluster.createDatabase(name) }
      task = created
      return created
    }
    return try await task.value
  }
}
