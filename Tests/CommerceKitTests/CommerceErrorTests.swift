import CommerceAPI
import CommerceKit
import Messages
import NIOCore
import Postgres
import RPC
import RPCTestSupport
import Testing

@Suite struct CommerceErrorTests {
  @Test func detailsFollowCommonProto() {
    let error = CommerceError(
      .failedPrecondition, .insufficientStock, "not enough stock",
      metadata: ["productId": "p1", "requested": "3", "available": "1"]
    ).precondition(kind: "INSUFFICIENT_STOCK", subject: "product/p1", "requested 3, available 1")
    let status = error.rpcError
    #expect(status.code == .failedPrecondition)
    #expect(status.commerceReason == "INSUFFICIENT_STOCK")
    #expect(status.commerceMetadata["available"] == "1")
    let kinds = status.details?.details.compactMap { detail -> String? in
      if case .preconditionFailure(let failure) = detail.detail { return failure.violations.first?.kind }
      return nil
    }
    #expect(kinds == ["INSUFFICIENT_STOCK"])

    let limited = CommerceError(.resourceExhausted, nil, "too many attempts", retryAfter: .seconds(90))
      .quota(subject: "email:a@example.com", id: "auth.login.attempts", limit: 5, window: .seconds(900), "5 per 15 minutes")
      .rpcError
    #expect(limited.retryDelay == .seconds(90))
    #expect(limited.details?.details.contains { if case .quotaFailure = $0.detail { true } else { false } } == true)
  }

  @Test func everyInvalidFieldIsListed() throws {
    var violations = FieldViolations()
    violations.checkLength("", "display_name", 1...100)
    violations.check(false, "email", "must contain @")
    violations.checkLength("ok", "label", 0...100)
    #expect {
      try violations.throwIfAny()
    } throws: { error in
      let status = (error as! CommerceError).rpcError
      return status.code == .invalidArgument && status.invalidFields == ["display_name", "email"]
    }
  }

  @Test func callersReceiveTheStatusAndNeverTheCause() async throws {
    struct Secret: Error { let sql = "SELECT password FROM auth.accounts" }
    // Echo throws the error its request names, so the test sees what a caller receives.
    let errors: [String: any Error & Sendable] = [
      "stock": CommerceError(.failedPrecondition, .insufficientStock, "not enough stock", metadata: ["productId": "p1"])
        .causedBy(PostgresError(code: .server, sqlState: "23514", message: "SELECT secret")),
      "db": PostgresError(code: .server, sqlState: "23505", message: "duplicate key value violates unique constraint \"accounts_email\""),
      "timeout": PostgresError(code: .statementTimeout, sqlState: "57014", message: "canceling statement due to statement timeout"),
      "gone": PostgresError(code: .connectionClosed, message: "server closed the connection"),
      "other": RPCError(code: .notFound, message: "no such thing", cause: Secret()),
    ]
    let service = UnaryEchoService { request, _ in
      if let error = errors[request.message] { throw error }
      return .with { $0.message = request.message }
    }
    try await withServer(services: [service]) { _, port in
      try await withConnection(port: port) { connection in
        let echo = RpcV1.EchoService.Client(connection)
        let stock = await rpcError { _ = try await echo.echo(.with { $0.message = "stock" }) }
        #expect(stock?.code == .failedPrecondition)
        #expect(stock?.commerceReason == "INSUFFICIENT_STOCK")
        #expect(stock?.commerceMetadata == ["productId": "p1"])
        let unique = await rpcError { _ = try await echo.echo(.with { $0.message = "db" }) }
        #expect(unique?.code == .alreadyExists)
        #expect(unique?.message.contains("duplicate") == false)
        #expect(await rpcError { _ = try await echo.echo(.with { $0.message = "timeout" }) }?.code == .deadlineExceeded)
        #expect(await rpcError { _ = try await echo.echo(.with { $0.message = "gone" }) }?.code == .unavailable)
        let other = await rpcError { _ = try await echo.echo(.with { $0.message = "other" }) }
        #expect(other?.code == .notFound)
        #expect(other?.message == "no such thing")
      }
    }
  }

  @Test func postgresErrorsMapWithoutLeakingSQL() async throws {
    try await withDatabase("commercekit_errors") { pool in
      try await pool.query("CREATE TABLE svc.things (name text PRIMARY KEY, n int CHECK (n >= 0))")
      try await pool.query("INSERT INTO svc.things VALUES ('a', 1)")
      func status(_ sql: String, deadline: ContinuousClock.Instant? = nil) async -> RPCError? {
        do {
          _ = try await pool.query(sql, deadline: deadline)
          return nil
        } catch let error as PostgresError {
          return error.rpcError
        } catch {
          return nil
        }
      }
      let duplicate = await status("INSERT INTO svc.things VALUES ('a', 2)")
      #expect(duplicate?.code == .alreadyExists)
      #expect(await status("UPDATE svc.things SET n = -1")?.code == .failedPrecondition)
      #expect(await status("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$")?.code == .aborted)
      #expect(await status("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$")?.code == .aborted)
      #expect(await status("SELECT pg_sleep(5)", deadline: .now + .milliseconds(200))?.code == .deadlineExceeded)
      let other = await status("SELECT * FROM svc.missing_table")
      #expect(other?.code == .internal)
      for error in [duplicate, other].compactMap({ $0 }) {
        #expect(!error.message.contains("things") && !error.message.contains("missing_table") && !error.message.contains("SELECT"))
      }
    }
  }
}
