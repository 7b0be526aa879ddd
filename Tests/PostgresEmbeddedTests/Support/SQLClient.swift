import CLibPQ
import Foundation

/// Just enough libpq for the tests to look at a server the way a user would: run a statement,
/// read one value, ping. Each call connects, runs and disconnects on a thread of its own.
enum SQLClient {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// What `PQping` says about a server.
  enum Reachability: Sendable, Equatable {
    case accepting
    case rejecting
    case noResponse
    case noAttempt
  }

  /// Runs `sql` and returns the first column of its first row (nil for NULL or no rows).
  @discardableResult
  static func value(_ url: String, _ sql: String) async throws -> String? {
    try await Self.onThread {
      guard let connection = PQconnectdb(Self.withTimeout(url, seconds: 5)) else {
        throw Failure(description: "PQconnectdb returned nil")
      }
      defer { PQfinish(connection) }
      guard PQstatus(connection) == CONNECTION_OK else {
        throw Failure(description: String(cString: PQerrorMessage(connection)))
      }
      let result = PQexec(connection, sql)
      defer { PQclear(result) }
      switch PQresultStatus(result) {
      case PGRES_COMMAND_OK:
        return nil
      case PGRES_TUPLES_OK:
        guard PQntuples(result) > 0, PQnfields(result) > 0, PQgetisnull(result, 0, 0) == 0 else {
          return nil
        }
        return String(cString: PQgetvalue(result, 0, 0))
      default:
        throw Failure(description: String(cString: PQresultErrorMessage(result)))
      }
    }
  }

  /// `PQping` on `url`, waiting at most two seconds.
  static func ping(_ url: String) async -> Reachability {
    let outcome = try? await Self.onThread { () -> Reachability in
      switch PQping(Self.withTimeout(url, seconds: 2)) {
      case PQPING_OK: .accepting
      case PQPING_REJECT: .rejecting
      case PQPING_NO_RESPONSE: .noResponse
      default: .noAttempt
      }
    }
    return outcome ?? .noAttempt
  }

  private static func withTimeout(_ url: String, seconds: Int) -> String {
    url + (url.contains("?") ? "&" : "?") + "connect_timeout=\(seconds)"
  }

  private static func onThread<Value: Sendable>(
    _ body: @escaping @Sendable () throws -> Value
  ) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
      Thread { continuation.resume(with: Result { try body() }) }.start()
    }
  }
}
