import CommerceAPI
public import Messages
public import Postgres
public import RPC
import Crypto
import Foundation

/// Idempotency keys exactly as common.proto defines them, in a service's own schema
/// (`<schema>.idempotency_keys`, from ``PlatformMigrations``):
///
/// - The first call with a key claims it atomically (an `INSERT ... ON CONFLICT DO NOTHING`)
///   and runs; its outcome is stored: the response, or a final error.
/// - A retry with the same key and an identical request gets the stored outcome without running
///   again. A different request under a used key fails with INVALID_ARGUMENT
///   (IDEMPOTENCY_KEY_REUSED).
/// - A retry while the first call still runs waits for it within the retry's own deadline, then
///   fails with ABORTED (IDEMPOTENCY_KEY_IN_FLIGHT) and a RetryInfo.
/// - Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, CANCELLED)
///   and errors that are not statuses are not stored: the claim is released, so a retry runs
///   the call again.
/// - A claim whose server died lapses after ``leaseDuration``; the next retry takes it over and
///   runs the call again (services make their work safe to repeat, or finish it in the same
///   transaction as the outcome: ``run(_:in:body:)``).
///
/// The scope is the caller: the principal, or the guest cart for guest calls.
public struct IdempotencyStore: Sendable {
  public let pool: PostgresPool
  /// The service's schema.
  public let schema: String
  /// How long a running claim holds before another call may take it over.
  public var leaseDuration: Duration = .seconds(60)
  /// How long a retry without a deadline waits for the first call.
  public var maximumWait: Duration = .seconds(10)
  /// The RetryInfo delay an IN_FLIGHT error suggests.
  public var retryDelay: Duration = .milliseconds(500)

  public init(pool: PostgresPool, schema: String) {
    self.pool = pool
    self.schema = schema
  }

  /// One call under a key.
  public struct Call: Sendable {
    public var scope: String
    public var method: String
    public var key: String
    public var requestHash: [UInt8]

    /// The call `request` of `method` by the caller `scope`, under `key`. Validates the key
    /// (1 to 128 printable ASCII characters): INVALID_ARGUMENT naming `field` otherwise.
    public init(scope: String, method: ProtoMethodDescriptor, key: String, request: some ProtoMessage, field: String = "idempotency_key")
      throws(CommerceError)
    {
      guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
        throw .invalidArgument(field: field, "must be 1 to 128 printable ASCII characters")
      }
      self.scope = scope
      self.method = method.path
      self.key = key
      let bytes = (try? request.serializedBytes()) ?? []
      self.requestHash = Array(SHA256.hash(data: bytes))
    }

    /// The call under `key`, or nil when the caller sent none (where the contract makes the key
    /// optional).
    public init?(
      optionalKey key: String, scope: String, method: ProtoMethodDescriptor, request: some ProtoMessage,
      field: String = "idempotency_key"
    ) throws(CommerceError) {
      guard !key.isEmpty else { return nil }
      try self.init(scope: scope, method: method, key: key, request: request, field: field)
    }
  }

  /// Runs `body` in one transaction: once per key, as ``run(_:deadline:in:body:)``, when there is
  /// a call; simply in a transaction when the caller sent no key (methods whose key is optional).
  public func run<Response: ProtoMessage>(
    _ call: Call?, deadline: ContinuousClock.Instant? = RPCDeadline.current, in isolation: PostgresIsolationLevel = .readCommitted,
    body: (PostgresTransaction) async throws -> Response
  ) async throws -> Response {
    guard let call else { return try await pool.withTransaction(isolation: isolation) { tx in try await body(tx) } }
    return try await run(call, deadline: deadline, in: isolation, body: body)
  }

  /// Runs `body` once per key, returning the stored outcome to retries.
  public func run<Response: ProtoMessage>(_ call: Call, deadline: ContinuousClock.Instant? = RPCDeadline.current, body: () async throws -> Response)
    async throws -> Response
  {
    if let recorded: Response = try await claim(call, deadline: deadline) { return recorded }
    let response: Response
    do {
      response = try await body()
    } catch {
      try await finish(call, failure: error)
      throw error
    }
    try await pool.query(
      "UPDATE \(schema).idempotency_keys SET state = 'done', status_code = 0, response = $4, finished_at = now() "
        + "WHERE scope = $1 AND method = $2 AND key = $3",
      [call.scope, call.method, call.key, try response.serializedBytes()])
    return response
  }

  /// Runs `body` once per key inside a transaction that also stores the outcome, so the work and
  /// its record commit together (a crash leaves neither). The outcome's record travels with
  /// `COMMIT`, so `body` must not commit itself (``PostgresTransaction/queryAndCommit(_:_:)``).
  public func run<Response: ProtoMessage>(
    _ call: Call, deadline: ContinuousClock.Instant? = RPCDeadline.current, in isolation: PostgresIsolationLevel = .readCommitted,
    body: (PostgresTransaction) async throws -> Response
  ) async throws -> Response {
    if let recorded: Response = try await claim(call, deadline: deadline) { return recorded }
    do {
      return try await pool.withTransaction(isolation: isolation) { tx in
        let response = try await body(tx)
        try await tx.queryAndCommit(
          "UPDATE \(schema).idempotency_keys SET state = 'done', status_code = 0, response = $4, finished_at = now() "
            + "WHERE scope = $1 AND method = $2 AND key = $3",
          [call.scope, call.method, call.key, try response.serializedBytes()])
        return response
      }
    } catch {
      try await finish(call, failure: error)
      throw error
    }
  }

  /// Claims the key, or returns (or throws) the outcome of the call that holds it.
  private func claim<Response: ProtoMessage>(_ call: Call, deadline: ContinuousClock.Instant?) async throws -> Response? {
    let waitUntil = deadline ?? (.now + maximumWait)
    var pause = Duration.milliseconds(5)
    while true {
      let leaseSeconds = Double(leaseDuration.components.seconds)
      let claimed = try await pool.query(
        "INSERT INTO \(schema).idempotency_keys (scope, method, key, request_hash, state, lease_expires_at) "
          + "VALUES ($1, $2, $3, $4, 'running', now() + make_interval(secs => $5)) ON CONFLICT DO NOTHING",
        [call.scope, call.method, call.key, call.requestHash, leaseSeconds])
      if claimed.affectedRows == 1 { return nil }
      let rows = try await pool.query(
        "SELECT request_hash, state, status_code, response, error_message, error_details, lease_expires_at < now() "
          + "FROM \(schema).idempotency_keys WHERE scope = $1 AND method = $2 AND key = $3",
        [call.scope, call.method, call.key])
      guard let row = rows.first else { continue }  // released between the two statements: claim again
      guard try row.decode(0, as: [UInt8].self) == call.requestHash else {
        throw CommerceError.invalidArgument(
          field: "idempotency_key", "was used with a different request", reason: .idempotencyKeyReused)
      }
      if try row.decode(1, as: String.self) == "done" {
        let code = RPCStatusCode(rawValue: UInt8(clamping: try row.decode(2, as: Int32.self)))
        if code == .ok { return try Response(serializedBytes: try row.decode(3, as: [UInt8].self)) }
        let details = try row.decode(5, as: [UInt8]?.self).flatMap { try? RpcV1.ErrorDetails(serializedBytes: $0) }
        throw RPCError(code: code ?? .unknown, message: try row.decode(4, as: String?.self) ?? "", details: details)
      }
      if try row.decode(6, as: Bool.self) {
        // The claim lapsed (its server died): take it over.
        let taken = try await pool.query(
          "UPDATE \(schema).idempotency_keys SET lease_expires_at = now() + make_interval(secs => $4) "
            + "WHERE scope = $1 AND method = $2 AND key = $3 AND state = 'running' AND lease_expires_at < now()",
          [call.scope, call.method, call.key, leaseSeconds])
        if taken.affectedRows == 1 { return nil }
        continue
      }
      guard ContinuousClock.now + pause < waitUntil else {
        throw CommerceError(
          .aborted, .idempotencyKeyInFlight, "the first call with this idempotency key is still running",
          retryAfter: retryDelay)
      }
      try await Task.sleep(for: pause)
      pause = min(pause * 2, .milliseconds(200))
    }
  }

  /// Stores a final error, or releases the claim after a transient one.
  private func finish(_ call: Call, failure error: any Error) async throws {
    let status = (error as? RPCError) ?? (error as? any RPCErrorConvertible)?.rpcError
    guard let status, !Self.transientCodes.contains(status.code), !(error is CancellationError) else {
      try await pool.query(
        "DELETE FROM \(schema).idempotency_keys WHERE scope = $1 AND method = $2 AND key = $3 AND state = 'running'",
        [call.scope, call.method, call.key])
      return
    }
    let details: [UInt8]? = try status.details.map { try $0.serializedBytes() }
    try await pool.query(
      "UPDATE \(schema).idempotency_keys SET state = 'done', status_code = $4, error_message = $5, error_details = $6, "
        + "finished_at = now() WHERE scope = $1 AND method = $2 AND key = $3",
      [call.scope, call.method, call.key, Int32(status.code.rawValue), status.message, details])
  }

  // MARK: Batches

  /// Claims the keys of `calls` in `tx`, in one statement, for work that runs in the same
  /// transaction (a batch of calls served together). Returns, per call, whether it was claimed:
  /// a key already claimed or done is left alone, and its call goes through ``run(_:deadline:in:body:)``
  /// after `tx` ends, which replays, waits or refuses it. Calls of one batch must have distinct
  /// keys. The claims commit with `tx`, together with ``record(_:in:)``'s outcomes.
  public func claim(_ calls: [Call], in tx: PostgresTransaction) async throws -> [Bool] {
    guard !calls.isEmpty else { return [] }
    let claimed = try await tx.query(
      "INSERT INTO \(schema).idempotency_keys (scope, method, key, request_hash, state, lease_expires_at) "
        + "SELECT s, m, k, decode(h, 'hex'), 'running', now() + make_interval(secs => $5) "
        + "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS c (s, m, k, h) "
        + "ORDER BY s, m, k ON CONFLICT DO NOTHING RETURNING scope, method, key",
      [calls.map(\.scope), calls.map(\.method), calls.map(\.key), calls.map { $0.requestHash.hexDigits },
       Double(leaseDuration.components.seconds)])
    let taken = Set(try claimed.map { [try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: String.self)] })
    return calls.map { taken.contains([$0.scope, $0.method, $0.key]) }
  }

  /// The outcome of one claimed call of a batch: its response, or the final error it ended with.
  public enum Outcome: Sendable {
    case response(any ProtoMessage & Sendable)
    case failure(RPCError)
  }

  /// Stores the outcomes of calls claimed with ``claim(_:in:)`` in `tx`, in one statement.
  /// Failures must be final (not one of the transient codes): a transient failure releases its
  /// claim instead, which a batch does by not claiming or by rolling back.
  public func record(_ outcomes: [(call: Call, outcome: Outcome)], in tx: PostgresTransaction) async throws {
    guard let write = try recording(outcomes) else { return }
    try await tx.query([write])
  }

  /// The statement that stores a batch's outcomes (nil when there is nothing to record).
  ///
  /// - `claimed: true` (``record(_:in:)``): the keys were claimed with ``claim(_:in:)`` in the
  ///   same transaction. An upsert on the key (every row exists), whose plan is the unique
  ///   index's and nothing else, for one outcome or many. The obvious UPDATE joined with the
  ///   unnested keys let PostgreSQL keep a generic plan made while the table was small, a hash
  ///   join over all of it, and use it as the table grew: 1.7 ms for 8 outcomes at 20,000 keys,
  ///   until the next ANALYZE (docs/PERFORMANCE.md, "A plan made on an empty table").
  /// - `claimed: false`: nothing claimed the keys; this statement claims and finishes them at
  ///   once, a plain INSERT of finished rows. When another call holds any of the keys (claimed,
  ///   running or done, in this process or another), it fails with a unique violation
  ///   (``isKeyTaken(_:)``), and so does the transaction: a batch that did its work on that
  ///   assumption cannot commit, and runs again claiming first. One write per key instead of
  ///   two, for batches whose keys are nearly always new.
  public func recording(_ outcomes: [(call: Call, outcome: Outcome)], claimed: Bool = true) throws -> PostgresTransaction.Statement? {
    guard !outcomes.isEmpty else { return nil }
    var hashes: [String] = []
    var codes: [Int32] = []
    var responses: [String?] = []
    var messages: [String?] = []
    var details: [String?] = []
    for (call, outcome) in outcomes {
      hashes.append(call.requestHash.hexDigits)
      switch outcome {
      case .response(let response):
        codes.append(0)
        responses.append(try response.serializedBytes().hexDigits)
        messages.append(nil)
        details.append(nil)
      case .failure(let error):
        codes.append(Int32(error.code.rawValue))
        responses.append(nil)
        messages.append(error.message)
        details.append(try error.details.map { try $0.serializedBytes().hexDigits })
      }
    }
    return try PostgresTransaction.Statement(
      "INSERT INTO \(schema).idempotency_keys (scope, method, key, request_hash, state, lease_expires_at, status_code, "
        + "response, error_message, error_details, finished_at) "
        + "SELECT s, m2, k2, decode(h, 'hex'), 'done', now(), c, decode(r, 'hex'), m, decode(d, 'hex'), now() "
        + "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::text[]) "
        + "AS o (s, m2, k2, h, c, r, m, d)"
        + (claimed
          ? " ON CONFLICT (scope, method, key) DO UPDATE SET state = 'done', status_code = EXCLUDED.status_code, "
            + "response = EXCLUDED.response, error_message = EXCLUDED.error_message, error_details = EXCLUDED.error_details, "
            + "finished_at = EXCLUDED.finished_at"
          // In key order, as claims are taken: two batches inserting the same keys wait for
          // each other in one order, never in a cycle.
          : " ORDER BY s, m2, k2"),
      [
        outcomes.map(\.call.scope), outcomes.map(\.call.method), outcomes.map(\.call.key), hashes, codes, responses, messages,
        details,
      ])
  }

  /// Whether `error` is ``recording(_:claimed:)``'s refusal of a key another call holds (a
  /// unique violation of the idempotency keys' primary key).
  public static func isKeyTaken(_ error: any Error) -> Bool {
    guard let error = error as? PostgresError else { return false }
    return error.sqlState == SQLState.uniqueViolation && error.constraintName == "idempotency_keys_pkey"
  }

  /// The codes common.proto calls transient: not stored.
  static let transientCodes: Set<RPCStatusCode> = [.unavailable, .deadlineExceeded, .aborted, .resourceExhausted, .cancelled]

  /// How many keys one statement of ``purge(olderThan:batch:)`` deletes at most by default.
  public static let purgeBatch = 10_000

  /// Deletes keys finished more than `age` ago (at least the 24 hours common.proto promises),
  /// oldest first, `batch` at a time; returns how many. Running keys stay, however old.
  ///
  /// Each statement walks the created_at index from its oldest entry and stops at `batch` keys
  /// (a key finished before the cutoff was created before it too), so a sweep costs what it
  /// deletes, not the table's size: services sweep every few seconds (InventoryService every
  /// 5), and the table holds two days of calls. Planned per call, so that the walk is chosen for
  /// the table's size now, not at the first sweep.
  @discardableResult
  public func purge(olderThan age: Duration = .seconds(48 * 3600), batch: Int = IdempotencyStore.purgeBatch) async throws -> Int {
    var deleted = 0
    while true {
      // By row address: done keys never change, so the addresses read stay theirs.
      let count = try await pool.query(
        """
        DELETE FROM \(schema).idempotency_keys WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM \(schema).idempotency_keys
          WHERE created_at < now() - make_interval(secs => $1) AND state = 'done' AND finished_at < now() - make_interval(secs => $1)
          ORDER BY created_at LIMIT $2))
        """, [Double(age.components.seconds), Int64(batch)], planning: .perCall
      ).affectedRows
      deleted += count
      if count < batch { return deleted }
    }
  }
}
