import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite("PostgresPool against a real server")
struct PostgresPoolTests {
  static let database = DatabaseOnce("postgres_pool_tests")

  func makePool(
    maximumConnections: Int = 4,
    maximumPipelineDepth: Int = 16,
    acquireTimeout: Duration = .seconds(10)
  ) async throws -> PostgresPool {
    try PostgresPool(
      configuration: .init(
        url: try await Self.database.url(),
        maximumConnections: maximumConnections,
        maximumPipelineDepth: maximumPipelineDepth,
        acquireTimeout: acquireTimeout))
  }

  @Test("statements from many tasks pipeline on few connections, each getting its own result")
  func pipelinedFromManyTasks() async throws {
    let pool = try await self.makePool(maximumConnections: 2, maximumPipelineDepth: 64)
    let tasks = 200
    let perTask = 20
    try await withThrowingTaskGroup(of: Void.self) { group in
      for task in 0..<tasks {
        group.addTask {
          for index in 0..<perTask {
            let value = Int64(task * 1000 + index)
            let rows = try await pool.query("SELECT $1::int8 * 2, $2::text", [value, "t\(task)"])
            let row = try #require(rows.first)
            #expect(try row.decode(0, as: Int64.self) == value * 2)
            #expect(try row.decode(1, as: String.self) == "t\(task)")
          }
        }
      }
      try await group.waitForAll()
    }
    let metrics = pool.metrics
    #expect(metrics.queriesSucceeded >= tasks * perTask)
    #expect(metrics.openConnections <= 2)
    // Many callers' statements were in flight on one connection at once.
    #expect(metrics.maximumPipelineDepthSeen > 8)
    await pool.close()
  }

  @Test("tasks on the pool's I/O thread share writes; every one still gets its own result or error")
  func pipelinedFromTheIOThread() async throws {
    // Callers resumed on the I/O thread queue their next statements and the loop sends each
    // connection's batch together (corked): results must still match their callers, and one
    // caller's error must not touch the statements that travelled with it.
    let pool = try await self.makePool(maximumConnections: 1, maximumPipelineDepth: 64)
    let tasks = 48
    let perTask = 30
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
      for task in 0..<tasks {
        group.addTask(executorPreference: pool.taskExecutor) {
          var failures = 0
          for index in 0..<perTask {
            let value = Int64(task * 1000 + index)
            if task % 8 == 0 && index % 5 == 0 {
              do {
                try await pool.query("SELECT 1 / $1::int8", [Int64(0)])
                Issue.record("division by zero succeeded")
              } catch let error as PostgresError {
                #expect(error.sqlState == "22012")
                failures += 1
              }
              continue
            }
            let rows = try await pool.query("SELECT $1::int8 * 2, $2::text", [value, "t\(task)"])
            let row = try #require(rows.first)
            #expect(try row.decode(0, as: Int64.self) == value * 2)
            #expect(try row.decode(1, as: String.self) == "t\(task)")
          }
          return failures
        }
      }
      return try await group.reduce(0, +)
    }
    #expect(failures == (tasks / 8) * (perTask / 5))
    #expect(pool.metrics.maximumPipelineDepthSeen > 8)
    // The connection is still in step with the server.
    #expect(try await pool.query("SELECT 41 + 1").scalar(as: Int32.self) == 42)
    await pool.close()
  }

  @Test("one connection, many concurrent callers, one failing: the others are unaffected")
  func pipelineIsolatesErrors() async throws {
    let connection = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
      for index in 0..<100 {
        group.addTask {
          do {
            if index % 10 == 0 {
              try await connection.query("SELECT 1 / $1::int4", [Int32(0)])
            } else {
              let value = try await connection.query("SELECT $1::int4 + 1", [Int32(index)]).scalar(as: Int32.self)
              #expect(value == Int32(index + 1))
            }
            return (index, true)
          } catch let error as PostgresError {
            #expect(error.sqlState == "22012")
            return (index, false)
          }
        }
      }
      var results: [Int: Bool] = [:]
      for try await (index, ok) in group {
        results[index] = ok
      }
      return results
    }
    #expect(results.count == 100)
    #expect(results.filter { !$0.value }.keys.sorted() == Array(stride(from: 0, to: 100, by: 10)))
    await connection.close()
  }

  @Test("server errors carry SQLSTATE; descriptions never show parameters or passwords")
  func errorsDoNotLeak() async throws {
    let pool = try await self.makePool()
    try await pool.query("CREATE TABLE customers (email text PRIMARY KEY)")
    try await pool.query("INSERT INTO customers VALUES ($1)", ["secret.person@example.com"])
    let duplicate = await #expect(throws: PostgresError.self) {
      try await pool.query("INSERT INTO customers VALUES ($1)", ["secret.person@example.com"])
    }
    #expect(duplicate?.code == .server)
    #expect(duplicate?.sqlState == SQLState.uniqueViolation)
    #expect(duplicate?.constraintName == "customers_pkey")
    #expect(duplicate?.detail?.contains("secret.person") == true)  // the server says it...
    #expect(duplicate.map { "\($0)" }?.contains("secret.person") == false)  // ...the description does not
    #expect(duplicate.map { "\($0)" }?.contains("23505") == true)
    #expect(duplicate.map { "\($0)" }?.contains("unique_violation") == true)

    let syntax = await #expect(throws: PostgresError.self) { try await pool.query("SELEC 1") }
    #expect(syntax?.sqlState == "42601")

    // A password in the URL never reaches an error.
    let refused = await #expect(throws: PostgresError.self) {
      _ = try await PostgresConnection.connect(
        .init(url: "postgresql://shopper:Hunter2Secret@127.0.0.1:1/shop", connectTimeout: .seconds(2)))
    }
    #expect(refused?.code == .connectionFailed)
    #expect(refused.map { "\($0)" }?.contains("Hunter2Secret") == false)
    #expect(refused.map { String(reflecting: $0) }?.contains("Hunter2Secret") == false)
    await pool.close()
  }

  @Test("a deadline fails the statement with statementTimeout; the pool stays usable")
  func statementTimeout() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    // Connected first, so the deadline times the statement, not the connect.
    _ = try await pool.query("SELECT 1")
    let start = ContinuousClock.now
    let error = await #expect(throws: PostgresError.self) {
      try await PostgresDeadline.$current.withValue(.now + .milliseconds(300)) {
        try await pool.query("SELECT pg_sleep(5)")
      }
    }
    let elapsed = start.duration(to: .now)
    #expect(error?.code == .statementTimeout)
    #expect(error?.sqlState == SQLState.queryCanceled)
    #expect(elapsed < .seconds(2))
    // The same (only) connection serves the next statement; the timeout applied to one statement.
    #expect(try await pool.query("SELECT pg_sleep(0.4), 7").first?.decode(1, as: Int32.self) == 7)
    #expect(pool.metrics.statementTimeouts >= 1)
    // An expired deadline fails without sending anything.
    await #expect(throws: PostgresError.self) {
      try await pool.query("SELECT 1", deadline: .now - .seconds(1))
    }
    await pool.close()
  }

  @Test("a statement past its deadline fails with statementTimeout and is stopped on the server")
  func deadlineStopsTheStatement() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    let observer = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    let marker = "deadline_marker_\(UInt32.random(in: 0...UInt32.max))"
    _ = try await pool.query("SELECT 1")
    let start = ContinuousClock.now
    let error = await #expect(throws: PostgresError.self) {
      try await PostgresDeadline.$current.withValue(.now + .milliseconds(300)) {
        try await pool.query("SELECT pg_sleep(60), '\(marker)'")
      }
    }
    #expect(error?.code == .statementTimeout)
    #expect(error?.sqlState == SQLState.queryCanceled)
    // The caller hears at the deadline, give or take a loaded machine's scheduling.
    #expect(start.duration(to: .now) < .seconds(5))
    // The server stops the statement too (it would otherwise sleep a minute).
    #expect(try await eventually { try await Activity.activeStatements(containing: marker, on: observer) == 0 })
    #expect(try await pool.query("SELECT 7").scalar(as: Int32.self) == 7)
    await observer.close()
    await pool.close()
  }

  @Test("statements under a deadline are sent alone: no statement_timeout travels with them")
  func deadlineSendsNothingExtra() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    try await PostgresDeadline.$current.withValue(.now + .seconds(60)) {
      for _ in 0..<3 {
        #expect(try await pool.query("SELECT current_setting('statement_timeout')").scalar(as: String.self) == "0")
      }
      let inTransaction = try await pool.withTransaction { tx -> [String?] in
        var settings: [String?] = []
        for _ in 0..<3 {
          settings.append(try await tx.query("SELECT current_setting('statement_timeout')").scalar(as: String.self))
        }
        return settings
      }
      #expect(inTransaction == ["0", "0", "0"])
    }
    // The one connection prepared no statement besides those above (and BEGIN/COMMIT).
    let prepared = try await pool.query(
      "SELECT count(*) FROM pg_prepared_statements WHERE position($1 in statement) > 0", ["set_config"]
    ).scalar(as: Int64.self)
    #expect(prepared == 0)
    await pool.close()
  }

  @Test("cancelling the caller returns promptly and cancels the statement on the server")
  func cancellation() async throws {
    let pool = try await self.makePool()
    let observer = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    let marker = "cancel_marker_\(UInt32.random(in: 0...UInt32.max))"
    let task = Task {
      try await pool.query("SELECT pg_sleep(10), '\(marker)'")
    }
    // The statement runs on the server...
    #expect(try await eventually { try await Activity.activeStatements(containing: marker, on: observer) == 1 })
    let start = ContinuousClock.now
    task.cancel()
    let outcome = await task.result
    // Well before the statement's 10 s, with room for a loaded machine.
    #expect(start.duration(to: .now) < .seconds(5))
    #expect(throws: CancellationError.self) { try outcome.get() }
    // ...and stops there too.
    #expect(try await eventually(within: .seconds(3)) { try await Activity.activeStatements(containing: marker, on: observer) == 0 })
    // The connection is fine afterwards.
    #expect(try await pool.query("SELECT 5").scalar(as: Int32.self) == 5)
    await observer.close()
    await pool.close()
  }

  @Test("a cancel that arrives after its statement finished never aborts the next transaction on that connection")
  func strayCancelsSpareTransactions() async throws {
    // One connection: each round's transaction runs where the cancelled statement ran. The
    // statement is short, so its cancel request (a new connection to the server) often lands
    // after it finished. The transaction then waits on an advisory lock another session holds,
    // and is let go only once it is seen waiting: a cancel still on its way would stop it there.
    let pool = try await self.makePool(maximumConnections: 1)
    let holder = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    let observer = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    let marker = "stray_cancel_\(UInt32.random(in: 0...UInt32.max))"
    var cancelsSent = 0
    for _ in 0..<150 {
      try await holder.query("SELECT pg_advisory_lock(4242)")
      let victim = Task { try await pool.query("SELECT 1") }
      victim.cancel()
      if case .failure = await victim.result { cancelsSent += 1 }
      let transaction = Task {
        try await pool.withTransaction { tx in
          try await tx.query("SELECT pg_advisory_xact_lock(4242), '\(marker)'")
          return try await tx.query("SELECT 7").scalar(as: Int32.self)
        }
      }
      #expect(try await eventually { try await Activity.activeStatements(containing: marker, on: observer) == 1 })
      try await holder.query("SELECT pg_advisory_unlock(4242)")
      #expect(try await transaction.value == 7)
    }
    #expect(cancelsSent > 0)
    await holder.close()
    await observer.close()
    await pool.close()
  }

  @Test("waiting longer than the acquire timeout throws acquireTimeout")
  func acquireTimeout() async throws {
    let pool = try await self.makePool(maximumConnections: 1, acquireTimeout: .milliseconds(200))
    // The other task holds the only connection until the test lets it go. On a loaded machine
    // its own first try can outlast the 200 ms (the pool is still connecting), so it tries again,
    // up to 50 times; should it never get the connection, it still arrives at both barriers, so
    // the test fails instead of waiting forever.
    let held = Barrier(parties: 2)
    let release = Barrier(parties: 2)
    let holding = Task {
      for _ in 0..<50 {
        do {
          try await pool.withConnection { _ in
            await held.arrive()
            await release.arrive()
          }
          return
        } catch let error as PostgresError where error.code == .acquireTimeout {
          continue
        }
      }
      await held.arrive()
      await release.arrive()
      Issue.record("the holder never got the pool's only connection")
    }
    await held.arrive()
    let timeoutsBefore = pool.metrics.acquireTimeouts
    let start = ContinuousClock.now
    let error = await #expect(throws: PostgresError.self) {
      try await pool.withConnection { _ in }
    }
    #expect(error?.code == .acquireTimeout)
    // Only the 200 ms timeout can end the wait (the holder keeps the connection until released
    // below); the bound is loose for a loaded machine.
    #expect(start.duration(to: .now) < .seconds(5))
    #expect(pool.metrics.acquireTimeouts == timeoutsBefore + 1)
    await release.arrive()
    _ = try await holding.value
    try await pool.withConnection { _ in }  // free again
    await pool.close()
  }

  @Test("withTransaction commits, rolls back on a thrown error, and reports an aborted COMMIT")
  func transactions() async throws {
    let pool = try await self.makePool()
    try await pool.query("CREATE TABLE ledger (id int8 PRIMARY KEY, amount int8 NOT NULL)")
    struct Boom: Error {}

    let total = try await pool.withTransaction(isolation: .repeatableRead) { tx in
      // Concurrent statements on the transaction's connection run in submission order.
      async let first = tx.query("INSERT INTO ledger VALUES ($1, $2)", [1, 100])
      async let second = tx.query("INSERT INTO ledger VALUES ($1, $2)", [2, 250])
      _ = try await (first, second)
      return try await tx.query("SELECT sum(amount)::int8 FROM ledger").scalar(as: Int64.self)
    }
    #expect(total == 350)

    await #expect(throws: Boom.self) {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO ledger VALUES ($1, $2)", [3, 1])
        throw Boom()
      }
    }
    #expect(try await pool.query("SELECT count(*) FROM ledger").scalar(as: Int64.self) == 2)

    // A script as the transaction's first statement runs inside the transaction too.
    await #expect(throws: Boom.self) {
      try await pool.withTransaction { tx in
        try await tx.underlyingConnection.executeScript(
          "INSERT INTO ledger VALUES (10, 1); INSERT INTO ledger VALUES (11, 1);")
        throw Boom()
      }
    }
    #expect(try await pool.query("SELECT count(*) FROM ledger").scalar(as: Int64.self) == 2)

    let swallowed = await #expect(throws: PostgresError.self) {
      try await pool.withTransaction { tx in
        _ = try? await tx.query("INSERT INTO ledger VALUES ($1, $2)", [1, 1])  // duplicate, ignored
      }
    }
    #expect(swallowed?.code == .transactionFailed)
    // Nothing is left open on the pool's connections.
    #expect(try await pool.withConnection { try await $0.query("SELECT count(*) FROM ledger").scalar(as: Int64.self) } == 2)
    await pool.close()
  }

  @Test("queryAndCommit commits with the last statement; a failure there rolls everything back")
  func queryAndCommit() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    try await pool.query("CREATE TABLE shipments (id int8 PRIMARY KEY, parcels int8 NOT NULL)")

    // The last statement's rows come back, and the transaction is committed without another
    // COMMIT: a later statement in the same body is refused.
    let (id, late) = try await pool.withTransaction { tx -> (Int64?, PostgresError?) in
      try await tx.query("INSERT INTO shipments VALUES ($1, $2)", [Int64(1), Int64(3)])
      let id = try await tx.queryAndCommit(
        "INSERT INTO shipments VALUES ($1, $2) RETURNING id", [Int64(2), Int64(4)]
      ).scalar(as: Int64.self)
      do {
        try await tx.query("INSERT INTO shipments VALUES ($1, $2)", [Int64(3), Int64(5)])
        return (id, nil)
      } catch let error as PostgresError {
        return (id, error)
      }
    }
    #expect(id == 2)
    #expect(late?.code == .invalidArgument)
    #expect(try await pool.query("SELECT count(*) FROM shipments").scalar(as: Int64.self) == 2)
    #expect(pool.metrics.transactionsCommitted >= 1)

    // As the first statement: BEGIN, the statement and COMMIT travel together.
    _ = try await pool.withTransaction { tx in
      try await tx.queryAndCommit("INSERT INTO shipments VALUES ($1, $2)", [Int64(10), Int64(1)])
    }
    #expect(try await pool.query("SELECT parcels FROM shipments WHERE id = 10").scalar(as: Int64.self) == 1)

    // The last statement fails (duplicate key): COMMIT never runs and the earlier insert rolls
    // back with it.
    let failure = await #expect(throws: PostgresError.self) {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO shipments VALUES ($1, $2)", [Int64(20), Int64(1)])
        try await tx.queryAndCommit("INSERT INTO shipments VALUES ($1, $2)", [Int64(1), Int64(1)])
      }
    }
    #expect(failure?.sqlState == "23505")
    #expect(try await pool.query("SELECT count(*) FROM shipments WHERE id = 20").scalar(as: Int64.self) == 0)
    // The one connection was left clean: no transaction open on it.
    #expect(
      try await pool.withConnection { try await $0.query("SELECT count(*) FROM shipments").scalar(as: Int64.self) }
        == 3)
    await pool.close()
  }

  @Test("a key match selects the same rows as ANY for 0, 1 and several keys, and with one key PostgreSQL keeps one plan")
  func keyMatchIsPlannedOnce() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    try await pool.query("CREATE TABLE shelves (id int8 PRIMARY KEY, label text NOT NULL)")
    try await pool.query("INSERT INTO shelves SELECT g, 'shelf ' || g FROM generate_series(1, 5000) AS g")
    try await pool.query("ANALYZE shelves")
    func labels(_ keys: [Int64]) async throws -> [String] {
      let match = PostgresKeyMatch("id", parameter: 1, keys)
      return try await pool.query("SELECT label FROM shelves WHERE \(match.condition) ORDER BY id", [match.value])
        .map { try $0.decode(0, as: String.self) }
    }
    #expect(try await labels([]) == [])
    #expect(try await labels([42]) == ["shelf 42"])
    #expect(try await labels([7, 3, 9000, 4999]) == ["shelf 3", "shelf 7", "shelf 4999"])

    // The same statement run eight times on the pool's one connection: as `= ANY($1)` with one
    // key, every run is planned for its value; as the match's `= $1`, the generic plan takes
    // over after PostgreSQL's five custom plans.
    for key in Int64(1)...8 {
      _ = try await pool.query("SELECT label FROM shelves WHERE id = ANY($1) ORDER BY id", [[key]])
      _ = try await labels([key])
    }
    let plans = try await pool.query(
      "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FROM shelves WHERE id%'"
    ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int64.self), try $0.decode(2, as: Int64.self)) }
    let array = try #require(plans.first { $0.0.contains("ANY") })
    let single = try #require(plans.first { $0.0.contains("id = $1") })
    #expect(array.1 == 0 && array.2 >= 8, "ANY: \(array.1) generic and \(array.2) custom plans")
    #expect(single.1 >= 3 && single.2 <= 5, "= $1: \(single.1) generic and \(single.2) custom plans")
    await pool.close()
  }

  @Test(
    "an advisory lock is held across statements with no transaction open, refused to others meanwhile, and released after a return, a throw or a cancel"
  )
  func advisoryLockHeldWithoutTransaction() async throws {
    let pool = try await self.makePool(maximumConnections: 3)
    let observer = try await PostgresConnection.connect(.init(url: try await Self.database.url()))
    struct Failure: Error {}
    // The holder's backend, once it holds the lock; then it waits until `release` yields.
    let (held, heldSink) = AsyncStream<Int32>.makeStream()
    let (release, releaseSink) = AsyncStream<Void>.makeStream()
    func hold(_ key: String, then outcome: @escaping @Sendable () throws -> Int) -> Task<Int?, any Error> {
      Task {
        try await pool.withAdvisoryLock(key) { connection in
          let pid = try await connection.query("SELECT pg_backend_pid()").scalar(as: Int32.self) ?? -1
          heldSink.yield(pid)
          for await _ in release { break }
          try Task.checkCancellation()
          return try outcome()
        }
      }
    }
    func session(_ pid: Int32) async throws -> (state: String, advisoryLocks: Int64) {
      let row = try await observer.query(
        "SELECT a.state, (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted) "
          + "FROM pg_stat_activity a WHERE a.pid = $1", [pid])
      let first = try #require(row.first)
      return (try first.decode(0, as: String.self), try first.decode(1, as: Int64.self))
    }
    var heldPIDs = held.makeAsyncIterator()

    // Returning: while the body waits, its session holds the lock and no transaction.
    let first = hold("shelf/restock") { 7 }
    let pid = try #require(await heldPIDs.next())
    let holding = try await session(pid)
    #expect(holding.state == "idle", "the holder's session is \(holding.state)")
    #expect(holding.advisoryLocks == 1)
    var ranSecond = false
    #expect(try await pool.withAdvisoryLock("shelf/restock") { _ in ranSecond = true } == nil)
    #expect(!ranSecond, "a busy lock runs nothing")
    #expect(try await pool.withAdvisoryLock("shelf/other") { _ in 1 } == 1, "another key is free")
    releaseSink.yield()
    #expect(try await first.value == 7)
    #expect(try await session(pid).advisoryLocks == 0)
    #expect(try await pool.withAdvisoryLock("shelf/restock") { _ in 2 } == 2)

    // Throwing: the error comes out and the lock is free.
    let throwing = hold("shelf/restock") { throw Failure() }
    _ = try #require(await heldPIDs.next())
    releaseSink.yield()
    await #expect(throws: Failure.self) { try await throwing.value }
    #expect(try await pool.withAdvisoryLock("shelf/restock") { _ in 3 } == 3)

    // Cancelled while it holds the lock: the unlock is still sent.
    let cancelled = hold("shelf/restock") { 4 }
    let cancelledPID = try #require(await heldPIDs.next())
    cancelled.cancel()
    releaseSink.yield()
    await #expect(throws: CancellationError.self) { try await cancelled.value }
    #expect(try await session(cancelledPID).advisoryLocks == 0)
    #expect(try await pool.withAdvisoryLock("shelf/restock") { _ in 5 } == 5)

    releaseSink.finish()
    heldSink.finish()
    await observer.close()
    await pool.close()
  }

  @Test("a batch of statements runs in order in one request; with COMMIT it ends the transaction; a failure skips the rest")
  func statementBatches() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    try await pool.query("CREATE TABLE parcels (id int8 PRIMARY KEY, weight int8 NOT NULL CHECK (weight > 0))")

    // In order: the second statement sees the first one's row, and the last one's rows come back.
    let (total, late) = try await pool.withTransaction { tx -> (Int64?, PostgresError?) in
      let total = try await tx.query([
        try .init("INSERT INTO parcels VALUES ($1, $2)", [Int64(1), Int64(5)]),
        try .init("UPDATE parcels SET weight = weight * 2 WHERE id = $1", [Int64(1)]),
        try .init("SELECT sum(weight)::int8 FROM parcels"),
      ]).scalar(as: Int64.self)
      // With COMMIT: the last statement's rows, and the transaction is over.
      let count = try await tx.queryAndCommit([
        try .init("INSERT INTO parcels VALUES ($1, $2)", [Int64(2), Int64(7)]),
        try .init("SELECT count(*) FROM parcels"),
      ]).scalar(as: Int64.self)
      #expect(count == 2)
      do {
        try await tx.query([try .init("INSERT INTO parcels VALUES (3, 1)")])
        return (total, nil)
      } catch let error as PostgresError {
        return (total, error)
      }
    }
    #expect(total == 10)
    #expect(late?.code == .invalidArgument)
    #expect(try await pool.query("SELECT count(*) FROM parcels").scalar(as: Int64.self) == 2)

    // The second statement fails (CHECK): the third and COMMIT never run, and the whole
    // transaction, the first statement included, rolls back.
    let failure = await #expect(throws: PostgresError.self) {
      try await pool.withTransaction { tx in
        try await tx.query("INSERT INTO parcels VALUES (10, 1)")
        try await tx.queryAndCommit([
          try .init("INSERT INTO parcels VALUES (11, 1)"),
          try .init("INSERT INTO parcels VALUES (12, 0)"),
          try .init("INSERT INTO parcels VALUES (13, 1)"),
        ])
      }
    }
    #expect(failure?.sqlState == "23514")
    #expect(try await pool.query("SELECT count(*) FROM parcels WHERE id >= 10").scalar(as: Int64.self) == 0)

    // An empty batch runs nothing; an empty batch with COMMIT commits what ran before.
    try await pool.withTransaction { tx in
      #expect(try await tx.query([]).isEmpty)
      try await tx.query("INSERT INTO parcels VALUES (20, 1)")
      try await tx.queryAndCommit([])
    }
    #expect(try await pool.query("SELECT count(*) FROM parcels WHERE id = 20").scalar(as: Int64.self) == 1)
    // The one connection was left clean: no transaction open on it.
    #expect(try await pool.withConnection { try await $0.query("SELECT count(*) FROM parcels").scalar(as: Int64.self) } == 3)
    await pool.close()
  }

  @Test("a batch's statement planned per call is never prepared; cached, PostgreSQL keeps its generic plan")
  func batchStatementsPlannedPerCall() async throws {
    let pool = try await self.makePool(maximumConnections: 1)
    try await pool.query("CREATE TABLE crates (owner text, seq int8, PRIMARY KEY (owner, seq))")
    try await pool.query("INSERT INTO crates VALUES ('a', 1), ('a', 2), ('b', 1)")
    try await pool.query("ANALYZE crates")
    func trim(_ planning: PostgresPool.Planning, _ marker: String) async throws -> Int64 {
      try await pool.withTransaction { tx in
        try await tx.queryAndCommit([
          try .init(
            "DELETE FROM crates AS c USING unnest($1::text[], $2::int8[]) AS u (owner, last) WHERE c.owner = u.owner AND c.seq <= u.last - 5 /* \(marker) */",
            [["a", "b"], [Int64(3), Int64(9)]], planning: planning),
          try .init("SELECT count(*) FROM crates"),
        ]).scalar(as: Int64.self) ?? -1
      }
    }
    // The first call trims b's old crate; the later ones find nothing more to trim.
    for _ in 0..<8 {
      #expect(try await trim(.cached, "kept") == 2)
      #expect(try await trim(.perCall, "each time") == 2)
    }
    let prepared = try await pool.query(
      "SELECT statement, generic_plans FROM pg_prepared_statements WHERE position($1 in statement) > 0", ["DELETE FROM crates"]
    ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int64.self)) }
    #expect(prepared.count == 1)
    #expect(prepared.first?.0.contains("kept") == true)
    #expect((prepared.first?.1 ?? 0) >= 1, "the cached statement settled on a generic plan")
    await pool.close()
  }

  @Test("a deadlock (40P01) is retried: both transactions commit, one of them twice attempted")
  func deadlockRetry() async throws {
    let url = try await Self.database.url()
    let pool = try PostgresPool(
      configuration: .init(url: url + "?options=-c%20deadlock_timeout%3D50ms", maximumConnections: 4))
    try await pool.query("CREATE TABLE stock (sku text PRIMARY KEY, quantity int8 NOT NULL)")
    try await pool.query("INSERT INTO stock VALUES ('A', 100), ('B', 100)")

    let attempts = Attempts()
    let firstLocks = Barrier(parties: 2)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for (name, first, second) in [("one", "A", "B"), ("two", "B", "A")] {
        group.addTask {
          try await pool.withTransaction { tx in
            let attempt = attempts.counts.withLock { counts -> Int in
              counts[name, default: 0] += 1
              return counts[name]!
            }
            try await tx.query("UPDATE stock SET quantity = quantity - 1 WHERE sku = $1", [first])
            if attempt == 1 {
              await firstLocks.arrive()  // both hold their first row: the second UPDATEs deadlock
            }
            try await tx.query("UPDATE stock SET quantity = quantity - 1 WHERE sku = $1", [second])
          }
        }
      }
      try await group.waitForAll()
    }

    let counts = attempts.counts.withLock { $0 }
    #expect(counts.values.sorted() == [1, 2])
    #expect(pool.metrics.transactionRetries == 1)
    let quantities = try await pool.query("SELECT quantity FROM stock ORDER BY sku").map { try $0.decode(0, as: Int64.self) }
    #expect(quantities == [98, 98])
    await pool.close()
  }

  @Test("a serialization failure (40001) is retried until it succeeds")
  func serializationRetry() async throws {
    let pool = try await self.makePool()
    try await pool.query("CREATE TABLE counters (id int PRIMARY KEY, value int8 NOT NULL)")
    try await pool.query("INSERT INTO counters VALUES (1, 0)")
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<8 {
        group.addTask {
          try await pool.withTransaction(isolation: .serializable, maxAttempts: 50) { tx in
            let value = try await tx.query("SELECT value FROM counters WHERE id = 1").scalar(as: Int64.self) ?? 0
            try await Task.sleep(for: .milliseconds(5))
            try await tx.query("UPDATE counters SET value = $1 WHERE id = 1", [value + 1])
          }
        }
      }
      try await group.waitForAll()
    }
    // Lost updates would leave less than 8.
    #expect(try await pool.query("SELECT value FROM counters WHERE id = 1").scalar(as: Int64.self) == 8)
    #expect(pool.metrics.transactionRetries > 0)
    await pool.close()
  }

  @Test(
    "a subscription that starts as the last one of its channel ends still hears every notification",
    .timeLimit(.minutes(1)))
  func resubscribing() async throws {
    let pool = try await self.makePool()
    for round in 0..<200 {
      // The previous round's subscription ended when its iterator went out of scope; its
      // UNLISTEN must not land after this round's LISTEN.
      let notifications = try await pool.notifications(channel: "resubscribed")
      var iterator = notifications.makeAsyncIterator()
      try await pool.notify(channel: "resubscribed", payload: "\(round)")
      #expect(await iterator.next()?.payload == "\(round)")
    }
    await pool.close()
  }

  @Test(
    "LISTEN/NOTIFY delivers, and keeps delivering after the listening connection is killed",
    .timeLimit(.minutes(1)))
  func notifications() async throws {
    let pool = try await self.makePool()
    let notifications = try await pool.notifications(channel: "Order Events")
    var iterator = notifications.makeAsyncIterator()
    try await pool.notify(channel: "Order Events", payload: "first")
    #expect(await iterator.next()?.payload == "first")

    // Kill the session of this database that listens to the channel: the pool's listener
    // connection (other tests' pools listen to other channels, or in other databases).
    let killed = try await pool.query(
      """
      SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE pid <> pg_backend_pid() AND datname = current_database() AND query = 'LISTEN "Order Events"'
      """
    ).scalar(as: Int64.self)
    #expect(killed == 1)

    // After the reconnect (and LISTEN again) notifications arrive again. Notifications sent
    // while the listener was reconnecting are lost (PostgreSQL keeps none), so keep sending.
    let sender = Task {
      while !Task.isCancelled {
        try? await pool.notify(channel: "Order Events", payload: "after")
        try? await Task.sleep(for: .milliseconds(50))
      }
    }
    let next = await iterator.next()
    sender.cancel()
    #expect(next?.payload == "after")
    #expect(next?.channel == "Order Events")
    await pool.close()
    // Closing the pool ends the sequence.
    while await iterator.next() != nil {}
  }
}

/// Attempts per transaction name, shared by concurrent tasks.
private final class Attempts: Sendable {
  let counts = Mutex<[String: Int]>([:])
}
