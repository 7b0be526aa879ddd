import Foundation

/// Runs blocking work (libpq's `PQconnectdb`, `PQexec`, `PQping`) on a thread of its own, so it
/// never occupies a thread of Swift's cooperative pool.
enum DedicatedThread {
  /// Runs `body` on a new thread and resumes the caller with its result.
  ///
  /// The work is not cancellable: cancelling the caller does not interrupt `body`, so keep it
  /// bounded (libpq's `connect_timeout`, short statements).
  static func run<Value: Sendable>(
    named name: String,
    _ body: @escaping @Sendable () throws -> Value
  ) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
      let thread = Thread {
        continuation.resume(with: Result { try body() })
      }
      thread.name = name
      thread.start()
    }
  }
}
