import CommerceAPI
import CommerceKit
import Messages
import Postgres
import RPC
import Synchronization
import TestSupport
import Testing

@Suite struct IdempotencyStoreTests {
  static let method = CommerceV1.OrderService.Checkout.descriptor

  static func call(_ key: String, _ message: String = "same request", scope: String = "user:u-1") throws -> IdempotencyStore.Call {
    try IdempotencyStore.Call(scope: scope, method: method, key: key, request: RpcV1.EchoRequest.with { $0.message = message })
  }

  @Test func fiftyConcurrentRetriesRunOnceAndAgree() async throws {
    try await withDatabase("commercekit_idempotency_race") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      let executions = Counter()
      let gate = AsyncStream<Void>.makeStream()
      let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<50 {
          group.addTask {
            try await store.run(try Self.call("k-race"), deadline: .now + .seconds(60)) {
              let number = executions.increment()
              // Hold the claim until every retry has arrived and is waiting.
              for await _ in gate.stream { break }
              return RpcV1.EchoResponse.with { $0.message = "execution \(number)" }
            }.message
          }
        }
        // Every other caller must find the key taken and wait: count the rows to know the claim exists,
        // then let the single execution finish.
        #expect(await eventually(within: .seconds(30)) { executions.count == 1 })
        gate.continuation.yield()
        gate.continuation.finish()
        var results: [String] = []
        for try await outcome in group { results.append(outcome) }
        return results
      }
      #expect(executions.count == 1)
      #expect(outcomes.count == 50)
      #expect(Set(outcomes) == ["execution 1"])
    }
  }

  @Test func aUsedKeyWithAnotherRequestIsRefused() async throws {
    try await withDatabase("commercekit_idempotency_reuse") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      _ = try await store.run(try Self.call("k1", "first")) { RpcV1.EchoResponse.with { $0.message = "ok" } }
      let error = await rpcError { _ = try await store.run(try Self.call("k1", "second")) { RpcV1.EchoResponse() } }
      #expect(error?.code == .invalidArgument)
      #expect(error?.commerceReason == "IDEMPOTENCY_KEY_REUSED")
      // Another caller, or another method, may use the same key.
      _ = try await store.run(try Self.call("k1", "second", scope: "user:u-2")) { RpcV1.EchoResponse() }
    }
  }

  @Test func finalErrorsAreReplayedAndTransientOnesAreNot() async throws {
    try await withDatabase("commercekit_idempotency_errors") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      let runs = Counter()
      for _ in 0..<2 {
        let error = await rpcError {
          _ = try await store.run(try Self.call("declined")) { () throws -> RpcV1.EchoResponse in
            runs.increment()
            throw CommerceError(.failedPrecondition, .paymentDeclined, "declined", metadata: ["orderId": "o-1"])
          }
        }
        #expect(error?.commerceReason == "PAYMENT_DECLINED")
        #expect(error?.commerceMetadata["orderId"] == "o-1")
      }
      #expect(runs.count == 1)

      let transient = Counter()
      for attempt in 0..<2 {
        let response = await rpcError {
          _ = try await store.run(try Self.call("flaky")) { () throws -> RpcV1.EchoResponse in
            transient.increment()
            if attempt == 0 { throw RPCError(code: .unavailable, message: "try again") }
            return .with { $0.message = "second time lucky" }
          }
        }
        #expect((response == nil) == (attempt == 1))
      }
      #expect(transient.count == 2)
    }
  }

  @Test func aRetryWhileTheFirstRunsGivesUpAtItsDeadline() async throws {
    try await withDatabase("commercekit_idempotency_inflight") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      let started = AsyncStream<Void>.makeStream()
      let release = AsyncStream<Void>.makeStream()
      let first = Task {
        try await store.run(try Self.call("slow")) {
          started.continuation.yield()
          for await _ in release.stream { break }
          return RpcV1.EchoResponse.with { $0.message = "done" }
        }
      }
      for await _ in started.stream { break }
      let error = await rpcError {
        _ = try await store.run(try Self.call("slow"), deadline: .now + .milliseconds(300)) { RpcV1.EchoResponse() }
      }
      #expect(error?.code == .aborted)
      #expect(error?.commerceReason == "IDEMPOTENCY_KEY_IN_FLIGHT")
      #expect(error?.retryDelay != nil)
      release.continuation.yield()
      let finished = try await first.value
      #expect(finished.message == "done")
    }
  }

  @Test func aLapsedClaimIsTakenOver() async throws {
    try await withDatabase("commercekit_idempotency_lease") { pool in
      var store = IdempotencyStore(pool: pool, schema: "svc")
      store.leaseDuration = .seconds(0)
      // A claim whose server died: running, never finished.
      try await pool.query(
        "INSERT INTO svc.idempotency_keys (scope, method, key, request_hash, state, lease_expires_at) VALUES ($1, $2, $3, $4, 'running', now() - interval '1 second')",
        ["user:u-1", Self.method.path, "crashed", try Self.call("crashed").requestHash])
      let response = try await store.run(try Self.call("crashed")) { RpcV1.EchoResponse.with { $0.message = "recovered" } }
      #expect(response.message == "recovered")
    }
  }

  @Test func aBatchClaimsFreeKeysAndItsRecordedOutcomesAreReplayed() async throws {
    try await withDatabase("commercekit_idempotency_batch") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      _ = try await store.run(try Self.call("taken")) { RpcV1.EchoResponse.with { $0.message = "earlier" } }
      let calls = try ["b-1", "b-2", "taken", "b-3"].map { try Self.call($0) }
      let refusal = CommerceError(.failedPrecondition, .insufficientStock, "sold out", metadata: ["productId": "p-1"]).rpcError
      try await pool.withTransaction { tx in
        let claimed = try await store.claim(calls, in: tx)
        #expect(claimed == [true, true, false, true])
        try await store.record(
          [
            (calls[0], .response(RpcV1.EchoResponse.with { $0.message = "one" })), (calls[1], .failure(refusal)),
            (calls[3], .response(RpcV1.EchoResponse.with { $0.message = "three" })),
          ], in: tx)
      }
      // Retries get the batch's outcomes without running again.
      let runs = Counter()
      func retry(_ call: IdempotencyStore.Call) async throws -> String {
        try await store.run(call) { () -> RpcV1.EchoResponse in
          runs.increment()
          return RpcV1.EchoResponse.with { $0.message = "ran again" }
        }.message
      }
      #expect(try await retry(calls[0]) == "one")
      #expect(try await retry(calls[3]) == "three")
      #expect(try await retry(calls[2]) == "earlier")
      let replayed = await rpcError { _ = try await retry(calls[1]) }
      #expect(replayed?.code == .failedPrecondition && replayed?.commerceReason == "INSUFFICIENT_STOCK")
      #expect(replayed?.message == "sold out" && replayed?.commerceMetadata["productId"] == "p-1")
      #expect(runs.count == 0)
      let states = try await pool.query("SELECT DISTINCT state FROM svc.idempotency_keys").map { try $0.decode(0, as: String.self) }
      #expect(states == ["done"])
    }
  }

  @Test func unclaimedOutcomesAreRecordedOnceAndATakenKeyFailsTheirTransaction() async throws {
    try await withDatabase("commercekit_idempotency_unclaimed") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      let refusal = CommerceError(.failedPrecondition, .insufficientStock, "sold out").rpcError
      // New keys: one statement records them finished, and retries replay them.
      let fresh = try ["u-1", "u-2"].map { try Self.call($0) }
      try await pool.withTransaction { tx in
        let write = try #require(
          try store.recording([(fresh[0], .response(RpcV1.EchoResponse.with { $0.message = "one" })), (fresh[1], .failure(refusal))], claimed: false))
        try await tx.queryAndCommit([write])
      }
      let runs = Counter()
      let replayed = try await store.run(fresh[0]) { () -> RpcV1.EchoResponse in
        runs.increment()
        return RpcV1.EchoResponse.with { $0.message = "ran again" }
      }
      #expect(replayed.message == "one" && runs.count == 0)
      let refused = await rpcError { _ = try await store.run(fresh[1]) { RpcV1.EchoResponse() } }
      #expect(refused?.commerceReason == "INSUFFICIENT_STOCK" && refused?.message == "sold out")

      // A key another call holds (here: done) fails the statement and the transaction: the
      // other key of the batch is not recorded either, and the first outcome stands.
      let batch = try ["u-3", "u-1"].map { try Self.call($0) }
      var failure: (any Error)?
      do {
        try await pool.withTransaction { tx in
          let write = try #require(
            try store.recording(batch.map { ($0, .response(RpcV1.EchoResponse.with { $0.message = "again" })) }, claimed: false))
          try await tx.queryAndCommit([write])
        }
      } catch {
        failure = error
      }
      #expect(failure.map(IdempotencyStore.isKeyTaken) == true)
      #expect(IdempotencyStore.isKeyTaken(refusal) == false)
      let keys = try await pool.query("SELECT key FROM svc.idempotency_keys ORDER BY key").map { try $0.decode(0, as: String.self) }
      #expect(keys == ["u-1", "u-2"])
      #expect(try await store.run(fresh[0]) { RpcV1.EchoResponse.with { $0.message = "ran again" } }.message == "one")
    }
  }

  @Test func thePurgeDeletesOnlyKeysFinishedLongAgoInBatches() async throws {
    try await withDatabase("commercekit_idempotency_purge") { pool in
      let store = IdempotencyStore(pool: pool, schema: "svc")
      for index in 0..<5 {
        _ = try await store.run(try Self.call("old-\(index)")) { RpcV1.EchoResponse.with { $0.message = "old" } }
      }
      _ = try await store.run(try Self.call("recent")) { RpcV1.EchoResponse.with { $0.message = "recent" } }
      // Three days ago: five finished keys and a claim whose server died; yesterday: one finished
      // key, which the default purge keeps (48 hours).
      try await pool.query(
        "UPDATE svc.idempotency_keys SET created_at = now() - interval '3 days', finished_at = now() - interval '3 days' WHERE key LIKE 'old-%'")
      try await pool.query(
        "UPDATE svc.idempotency_keys SET created_at = now() - interval '1 day', finished_at = now() - interval '1 day' WHERE key = 'recent'")
      try await pool.query(
        "INSERT INTO svc.idempotency_keys (scope, method, key, request_hash, state, lease_expires_at, created_at) VALUES ($1, $2, 'stuck', $3, 'running', now() - interval '3 days', now() - interval '3 days')",
        ["user:u-1", Self.method.path, try Self.call("stuck").requestHash])

      #expect(try await store.purge(batch: 2) == 5)
      let left = try await pool.query("SELECT key FROM svc.idempotency_keys ORDER BY key").map { try $0.decode(0, as: String.self) }
      #expect(left == ["recent", "stuck"])
      #expect(try await store.purge() == 0)
      // The kept key still replays; a purged one runs again.
      let runs = Counter()
      for key in ["recent", "old-0"] {
        _ = try await store.run(try Self.call(key)) { () -> RpcV1.EchoResponse in
          runs.increment()
          return RpcV1.EchoResponse()
        }
      }
      #expect(runs.count == 1)
    }
  }

  @Test func keysAreValidated() {
    #expect(throws: CommerceError.self) { try Self.call("") }
    #expect(throws: CommerceError.self) { try Self.call(String(repeating: "k", count: 129)) }
    #expect(throws: CommerceError.self) { try Self.call("tab\there") }
  }
}
