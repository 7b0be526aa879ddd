import CLibPQ
import Foundation

extension ServerAdministration {
  /// Runs one statement with text parameters on a connection of its own and returns the first
  /// column of its first row (nil for NULL, no rows, or a command).
  ///
  /// - Throws: ``EmbeddedPostgresError/Code/connectionFailed``, or
  ///   ``EmbeddedPostgresError/Code/sqlFailed`` whose ``StatementFailure`` cause carries the
  ///   SQLSTATE.
  static func value(_ url: String, _ sql: String, _ parameters: [String] = []) async throws -> String? {
    let target = PostgresURL.adding("connect_timeout", "10", to: url)
    return try await DedicatedThread.run(named: "emporium-pg-admin") { () -> String? in
      guard let connection = PQconnectdb(target) else {
        throw EmbeddedPostgresError(code: .connectionFailed, message: "libpq could not allocate a connection.")
      }
      defer { PQfinish(connection) }
      guard PQstatus(connection) == CONNECTION_OK else {
        let reason = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
        throw EmbeddedPostgresError(code: .connectionFailed, message: "Could not connect: \(reason)")
      }
      PQsetNoticeProcessor(connection, { _, _ in }, nil)
      let cStrings = parameters.map { strdup($0) }
      defer { cStrings.forEach { free($0) } }
      let values: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
      let result = values.withUnsafeBufferPointer { buffer in
        PQexecParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
      }
      defer { PQclear(result) }
      switch PQresultStatus(result) {
      case PGRES_COMMAND_OK:
        return nil
      case PGRES_TUPLES_OK:
        guard PQntuples(result) > 0, PQnfields(result) > 0, PQgetisnull(result, 0, 0) == 0 else { return nil }
        return String(cString: PQgetvalue(result, 0, 0))
      default:
        // PG_DIAG_SQLSTATE is the field code 'C'.
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let message = result.map { String(cString: PQresultErrorMessage($0)) } ?? ""
        throw EmbeddedPostgresError(
          code: .sqlFailed, message: message.trimmingCharacters(in: .whitespacesAndNewlines),
          cause: StatementFailure(sqlState: state))
      }
    }
  }

  /// The SQLSTATE of a statement ``value(_:_:_:)`` ran that failed.
  struct StatementFailure: Error, Sendable {
    var sqlState: String
  }

  /// Whether `name` can be a replication slot's name: 1–63 lower-case letters, digits and
  /// underscores (PostgreSQL's own rule).
  static func isReplicationSlotName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.count <= 63
      && name.utf8.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
          || byte == UInt8(ascii: "_")
      }
  }

  /// Creates physical replication slot `slot` on the server at `adminURL`, reserving WAL from
  /// now on (so nothing a base backup taken next needs is removed before its replica connects).
  static func createReplicationSlot(_ slot: String, adminURL: String) async throws {
    do {
      _ = try await Self.value(adminURL, "SELECT pg_create_physical_replication_slot($1, true)", [slot])
    } catch let error as EmbeddedPostgresError {
      throw EmbeddedPostgresError(
        code: error.code, message: "Could not create the replication slot \(slot): \(error.message)", cause: error.cause)
    }
  }

  /// Drops replication slot `slot` on the server at `adminURL`, waiting (up to about ten seconds)
  /// for the primary's WAL sender to let go of it once its replica stopped. Best effort: a slot
  /// that is gone already, or a server that no longer answers, is left alone.
  static func dropReplicationSlot(_ slot: String, adminURL: String) async {
    for _ in 0..<200 {
      do {
        _ = try await Self.value(
          adminURL,
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [slot])
        return
      } catch let error as EmbeddedPostgresError {
        // 55006 is object_in_use: the WAL sender has not exited yet.
        guard (error.cause as? StatementFailure)?.sqlState == "55006" else { return }
      } catch {
        return
      }
      try? await Task.sleep(for: .milliseconds(50))
    }
  }
}
