import ArgumentParser
import BenchSupport
import CommerceAPI
import CommerceInventory
import CommerceKit
import EmporiumApp
import EmporiumSeed
import Foundation
import Histogram
import Logging
import Messages
import Postgres
import PostgresEmbedded
import RPC
import ServiceLifecycle
import Synchronization

/// `checkout-bench`: the money path through the whole stack (client, RPC, services,
/// PostgreSQL) beside pgbench running the equivalent SQL in the same run on the same database.
/// See docs/PERFORMANCE.md, "Checkout and hot products (the money path)" and docs/DATABASE.md,
/// "Hot products".
///
/// One process hosts two servers on 127.0.0.1 over one database, as `emporium serve` would
/// (EmporiumApp, every service): one with ReserveStock coalescing on, one with it off (each
/// call its own transaction queueing on the row lock). Each round measures, for each
/// concurrency (closed loop: that many callers, each sending its next call when the previous
/// one answered), in this order (reversed in odd rounds):
/// - Checkout of 1 unit, the whole saga: spread over the products, and on one hot product
///   (coalesced and with the row lock); pgbench's naive checkout transaction;
/// - ReserveStock of 1 unit of one hot product, coalesced and with the plain row lock;
/// - ReserveStock of 1 unit of a random product among `--products`, coalesced and plain (at 1
///   caller: the uncontended latency coalescing must not add to);
/// - pgbench (-M prepared, -j 2, as many connections as callers) on tables of its own: the
///   single-statement conditional decrement of one hot row; the same spread over `--buckets`
///   rows of the product (bucketed rows); and the naive multi-statement reservation
///   transaction (lock, update, insert) on one hot product and spread over the products;
/// - pgbench on Emporium's own tables, the ceiling of its data model with no RPC and no service
///   code: a checkout's saga as its SQL (the rows a confirmed checkout writes, in the saga's
///   transactions, each sent as one pipeline), and the hot product's reservations in perfect
///   batches of as many calls as there are callers (the rows a coalesced batch writes; and the
///   reservation rows alone, the least any design keeps).
/// Stock is large enough never to run out. Latency goes into one HdrHistogram per caller,
/// merged.
@main
struct CheckoutBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "checkout-bench", abstract:
      "Checkout and ReserveStock through the whole stack, on hot and spread products, beside pgbench's equivalent SQL and Emporium's own SQL."
  )

  @Option(help: "A database to use; by default an embedded cluster is started.") var databaseURL: String?
  @Option(help: "Callers per phase, comma-separated.") var concurrency = "1,16,64"
  @Option(help: "Seconds of warm-up per phase.") var warmup = 1.0
  @Option(help: "Seconds measured per phase.") var seconds = 4
  @Option(help: "Rounds (phase order alternates).") var rounds = 3
  @Option(help: "Products of the spread phases.") var products = 10_000
  @Option(help: "Rows per product in pgbench's bucketed variant.") var buckets = 16
  @Option(
    help: "Phases to run: prefixes of their names as printed, separated by commas without a space after them (names hold \", \"); all by default."
  ) var only = ""
  @Option(help: "Database connections of each server's pool (EmporiumApp's maximumDatabaseConnections).")
  var poolConnections = EmporiumApp.Configuration(databaseURL: "").maximumDatabaseConnections
  @Option(help: "pgbench.") var pgbench = "/usr/lib/postgresql/15/bin/pgbench"
  @Flag(
    help: """
      Commit durably, as a production server does (fsync, synchronous_commit and full_page_writes on); \
      the embedded cluster otherwise turns them off, which makes every commit nearly free.
      """)
  var durable = false

  var levels: [Int] { concurrency.split(separator: ",").compactMap { Int($0) } }
  var levelsMaximum: Int { levels.max() ?? 1 }

  /// `--only`'s prefixes: split at commas not followed by a space, since names hold ", ".
  static func filters(_ only: String) -> [String] {
    only.split(separator: /,(?! )/).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  func validate() throws {
    for filter in Self.filters(only) where !PhaseName.allCases.contains(where: { $0.rawValue.hasPrefix(filter) }) {
      throw ValidationError("--only: no phase's name begins with \"\(filter)\"; the phases are: \(PhaseName.allCases.map(\.rawValue).joined(separator: "; "))")
    }
  }

  func run() async throws {
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    let logger = Logger(label: "checkout-bench")
    var cluster: EmbeddedPostgres?
    let url: String
    if let databaseURL {
      url = databaseURL
    } else {
      print(durable ? "starting an embedded cluster (durable commits)..." : "starting an embedded cluster...")
      var configuration = EmbeddedPostgres.Configuration()
      if durable {
        configuration.serverSettings = ["fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"]
      }
      let started = try await EmbeddedPostgres.start(configuration)
      cluster = started
      url = try await started.createDatabase("checkout_bench")
    }
    print("seeding \(products + 2) products...")
    fflush(nil)
    let seedPool = try PostgresPool(configuration: .init(url: url, maximumConnections: 4))
    _ = try await Seeder.run(SeedGenerator(.init(products: products + 2, users: 0, sellers: 20, seed: 42)), pool: seedPool, logger: logger)
    await seedPool.close()
    let coalesced = try await Host.start(databaseURL: url, coalesce: true, poolConnections: poolConnections, logger: logger)
    let plain = try await Host.start(databaseURL: url, coalesce: false, poolConnections: poolConnections, logger: logger)
    let data = try await BenchData.create(coalesced.app.pool, products: products, buckets: buckets)
    // The seed's and the bench's stock events (one per product) go to the catalog through the
    // stock relay; measuring while that backlog drains made the first phases' figures swing by
    // a factor of three from run to run.
    try await Self.waitForRelays(coalesced.app.pool)
    // Flush what the set-up wrote before measuring, so that no phase shares the disk with the
    // seed's checkpoint (a superuser's or pg_checkpoint's right; skipped without it).
    do {
      try await coalesced.app.pool.query("CHECKPOINT")
      print("checkpointed; measuring")
      fflush(nil)
    } catch {
      print("no CHECKPOINT before the phases (\(error)); a checkpoint of the set-up's writes may overlap them")
    }
    let asOrders = try await coalesced.options(for: Principal(kind: .service, subject: "orders", expiresAt: 0))
    let asOrdersPlain = try await plain.options(for: Principal(kind: .service, subject: "orders", expiresAt: 0))
    var buyers: [CallOptions] = []
    var buyersPlain: [CallOptions] = []
    for _ in 0..<max(64, levelsMaximum) {
      let buyer = Principal(kind: .user, subject: UUID().uuidString.lowercased(), roles: [.customer], expiresAt: 0)
      buyers.append(try await coalesced.options(for: buyer))
      buyersPlain.append(try await plain.options(for: buyer))
    }
    let scripts = try PgbenchScript.write(products: products, buckets: buckets, spreadRows: data.spread.count)
    let pgbenchTarget = try Pgbench.Target(url: url)

    let filters = Self.filters(only)
    var results: [String: [Result]] = [:]
    for round in 0..<rounds {
      for callers in levels {
        var phases: [Phase] = [
          .checkout(PhaseName.checkoutSpread.rawValue, coalesced.orders, data.spread, buyers, coalesced.app.pool),
          .checkout(PhaseName.checkoutHot.rawValue, coalesced.orders, [data.hotCoalesced], buyers, coalesced.app.pool),
          .checkout(PhaseName.checkoutHotRowLock.rawValue, plain.orders, [data.hotPlain], buyersPlain, plain.app.pool),
          .pgbench(PhaseName.pgbenchCheckoutSpread.rawValue, scripts.checkoutSpread),
          .pgbench(PhaseName.pgbenchSaga.rawValue, scripts.saga),
          .reserve(PhaseName.reserveHot.rawValue, coalesced.inventory, [data.hotCoalesced], asOrders, coalesced.app.pool),
          .reserve(PhaseName.reserveHotRowLock.rawValue, plain.inventory, [data.hotPlain], asOrdersPlain, plain.app.pool),
          .reserve(PhaseName.reserveSpread.rawValue, coalesced.inventory, data.spread, asOrders, coalesced.app.pool),
          .reserve(PhaseName.reserveSpreadRowLock.rawValue, plain.inventory, data.spread, asOrdersPlain, plain.app.pool),
          .pgbench(PhaseName.pgbenchHotSingle.rawValue, scripts.hotSingle),
          .pgbench(PhaseName.pgbenchHotBucketed.rawValue, scripts.hotBucketed),
          .pgbench(PhaseName.pgbenchHotMulti.rawValue, scripts.hotMulti),
          .pgbench(PhaseName.pgbenchSpreadMulti.rawValue, scripts.spreadMulti),
          .pgbenchBatches(PhaseName.pgbenchBatch.rawValue, scripts.batch),
          .pgbenchBatches(PhaseName.pgbenchBatchReservationsOnly.rawValue, scripts.batchReservationsOnly),
        ].filter { phase in filters.isEmpty || filters.contains { phase.name.hasPrefix($0) } }
        if round % 2 == 1 { phases.reverse() }
        for phase in phases {
          let before = coalesced.service.reservationBatchCounts
          let result: Result
          switch phase {
          case .reserve(_, let client, let productIDs, let options, let pool):
            result = await Self.measure(callers: callers, warmup: warmup, seconds: Double(seconds), pool: pool) { index in
              _ = try await client.reserveStock(
                .with {
                  $0.orderId = UUID().uuidString.lowercased()
                  $0.lines = [.with { $0.productId = productIDs[index % productIDs.count]; $0.quantity = 1 }]
                  $0.idempotencyKey = UUID().uuidString
                }, options: options)
            }
          case .checkout(_, let client, let productIDs, let buyers, let pool):
            result = await Self.measure(callers: callers, warmup: warmup, seconds: Double(seconds), pool: pool) { index in
              _ = try await client.checkout(
                .with {
                  $0.itemsSource = .lines(.with { $0.lines = [.with { $0.productId = productIDs[index % productIDs.count]; $0.quantity = 1 }] })
                  $0.shippingAddress = Self.address
                  $0.paymentMethod = .with {
                    $0.method = .testCard(
                      .with {
                        $0.number = "4242 4242 4242 4242"
                        $0.expMonth = 12
                        $0.expYear = 2040
                        $0.cvc = "123"
                      })
                  }
                  $0.idempotencyKey = UUID().uuidString
                }, options: buyers[index % buyers.count])
            }
          case .pgbench(_, let script):
            result = try await Self.pgbench(pgbench, target: pgbenchTarget, script: script, clients: callers, seconds: seconds)
          case .pgbenchBatches(_, let script):
            // One client: a hot product's batches run one after another behind its row lock,
            // as the coalescer runs them; each holds every caller's reservation.
            var batches = try await Self.pgbench(
              pgbench, target: pgbenchTarget, script: script, clients: 1, seconds: seconds,
              variables: ["n": String(callers), "product": data.hotCoalesced, "warehouse": data.warehouse.uuidString.lowercased()])
            batches.callsPerSecond *= Double(callers)
            result = batches
          }
          if phase.writesEmporiumTables { try await data.forgetPgbenchEvents(coalesced.app.pool) }
          results["\(phase.name) × \(callers)", default: []].append(result)
          var line = "round \(round + 1) \(phase.name) × \(callers): \(Int(result.callsPerSecond)) calls/s"
          if let p50 = result.p50, let p99 = result.p99 { line += ", p50 \(p50) µs, p99 \(p99) µs" }
          line += ", errors \(result.errors)"
          if case .reserve(let name, _, _, _, _) = phase, name.hasSuffix("coalesced"), let before,
            let after = coalesced.service.reservationBatchCounts, after.batches > before.batches
          {
            line += String(format: ", %.1f calls per batch", Double(after.calls - before.calls) / Double(after.batches - before.batches))
          }
          line += result.poolSummary
          print(line)
          fflush(nil)
        }
      }
    }
    try await Self.printCheckoutProfile(coalesced.app.pool)
    let oversold = try await data.oversold(coalesced.app.pool)
    print("\nstock rows with reserved > on_hand or negative counts: \(oversold)")
    print("\n| phase × callers | calls/s (median) | p50 µs | p99 µs |")
    print("|---|---:|---:|---:|")
    let names = PhaseName.allCases.map(\.rawValue)
    func median(_ key: String, _ value: (Result) -> Double?) -> Double? {
      let values = (results[key] ?? []).compactMap(value).sorted()
      guard !values.isEmpty else { return nil }
      return values.count % 2 == 1 ? values[values.count / 2] : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
    }
    for callers in levels {
      for name in names {
        let key = "\(name) × \(callers)"
        guard let calls = median(key, \.callsPerSecond) else { continue }
        let p50 = median(key) { $0.p50.map { Double($0) } }.map { String(Int($0)) } ?? "–"
        let p99 = median(key) { $0.p99.map { Double($0) } }.map { String(Int($0)) } ?? "–"
        print("| \(key) | \(Int(calls)) | \(p50) | \(p99) |")
      }
    }
    print("\nratios (medians):")
    for callers in levels {
      func ratio(_ a: String, _ b: String, _ value: (Result) -> Double?) -> String {
        guard let x = median("\(a) × \(callers)", value), let y = median("\(b) × \(callers)", value), y > 0 else { return "–" }
        return String(format: "%.2f", x / y)
      }
      print(
        "× \(callers): checkout spread ÷ pgbench naive checkout \(ratio(PhaseName.checkoutSpread.rawValue, PhaseName.pgbenchCheckoutSpread.rawValue, \.callsPerSecond)); "
          + "checkout hot ÷ pgbench single statement \(ratio(PhaseName.checkoutHot.rawValue, PhaseName.pgbenchHotSingle.rawValue, \.callsPerSecond)); "
          + "checkout hot coalesced ÷ row lock \(ratio(PhaseName.checkoutHot.rawValue, PhaseName.checkoutHotRowLock.rawValue, \.callsPerSecond)); "
          + "checkout spread ÷ the saga's SQL \(ratio(PhaseName.checkoutSpread.rawValue, PhaseName.pgbenchSaga.rawValue, \.callsPerSecond)); "
          + "the saga's SQL ÷ pgbench naive checkout \(ratio(PhaseName.pgbenchSaga.rawValue, PhaseName.pgbenchCheckoutSpread.rawValue, \.callsPerSecond))")
      print(
        "× \(callers): hot coalesced ÷ pgbench single statement \(ratio(PhaseName.reserveHot.rawValue, PhaseName.pgbenchHotSingle.rawValue, \.callsPerSecond)); "
          + "hot coalesced ÷ row lock \(ratio(PhaseName.reserveHot.rawValue, PhaseName.reserveHotRowLock.rawValue, \.callsPerSecond)); "
          + "spread p50 coalesced ÷ row lock \(ratio(PhaseName.reserveSpread.rawValue, PhaseName.reserveSpreadRowLock.rawValue) { $0.p50.map { Double($0) } }); "
          + "spread calls/s coalesced ÷ row lock \(ratio(PhaseName.reserveSpread.rawValue, PhaseName.reserveSpreadRowLock.rawValue, \.callsPerSecond))")
      print(
        "× \(callers): hot coalesced ÷ the batch's SQL \(ratio(PhaseName.reserveHot.rawValue, PhaseName.pgbenchBatch.rawValue, \.callsPerSecond)); "
          + "the batch's SQL ÷ pgbench single statement \(ratio(PhaseName.pgbenchBatch.rawValue, PhaseName.pgbenchHotSingle.rawValue, \.callsPerSecond)); "
          + "reservation rows only ÷ pgbench single statement \(ratio(PhaseName.pgbenchBatchReservationsOnly.rawValue, PhaseName.pgbenchHotSingle.rawValue, \.callsPerSecond))")
    }
    await coalesced.stop()
    await plain.stop()
    try await cluster?.stop()
  }

  /// Waits until every schema's relay queue (`<schema>.outbox_pending`) is empty, printing what
  /// is left every few seconds.
  static func waitForRelays(_ pool: PostgresPool, timeout: Duration = .seconds(600)) async throws {
    let schemas = try await pool.query(
      "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox_pending' ORDER BY 1"
    ).map { try $0.decode(0, as: String.self) }
    let count = schemas.map { "(SELECT count(*) FROM \($0).outbox_pending)" }.joined(separator: " + ")
    let start = ContinuousClock.now
    var lastReport = start
    while true {
      let left = try await pool.query("SELECT \(count)").first!.decode(0, as: Int64.self)
      if left == 0 { break }
      guard ContinuousClock.now - start < timeout else {
        throw ValidationError("the relays still had \(left) events to send after \(timeout)")
      }
      if ContinuousClock.now - lastReport >= .seconds(5) || lastReport == start {
        print("waiting for the relays: \(left) events to send")
        fflush(nil)
        lastReport = ContinuousClock.now
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    print("relays idle after \(Int((ContinuousClock.now - start).wholeMicroseconds / 1000)) ms")
    fflush(nil)
  }

  /// Where a confirmed checkout's time goes, step by step, from the records each service keeps
  /// (the order's saga log, the reservation, the payment and its ledger): no extra
  /// instrumentation. Pricing (the catalog call before the order exists) is the rest of the
  /// call's latency.
  /// What the phase's server's database pool did per call of the measured window: statements,
  /// transactions, the mean wait for a connection and the mean statement latency.
  static func poolSummary(before: PostgresPoolMetrics, after: PostgresPoolMetrics, calls: Int) -> String {
    guard calls > 0 else { return "" }
    let statements = after.queryLatency.count - before.queryLatency.count
    let acquires = after.acquireLatency.count - before.acquireLatency.count
    func mean(_ sum: Duration, _ count: Int) -> Double { count == 0 ? 0 : Double((sum / count).wholeMicroseconds) }
    return String(
      format: "; its server's pool, all its work: %.1f statements and %.1f commits per call, connection wait %.0f µs, statement %.0f µs (means)",
      Double(statements) / Double(calls),
      Double(after.transactionsCommitted - before.transactionsCommitted) / Double(calls),
      mean(after.acquireLatency.sum - before.acquireLatency.sum, acquires),
      mean(after.queryLatency.sum - before.queryLatency.sum, statements))
  }

  static func printCheckoutProfile(_ pool: PostgresPool) async throws {
    let rows = try await pool.query(
      """
      WITH o AS (
        SELECT o.created_at AS created, r.created_at AS reserved_at, r.finished_at AS committed_at, p.created_at AS payment_created,
          (SELECT created_at FROM orders.saga_log l WHERE l.order_id = o.id AND l.step = 'reserved') AS reserved_logged,
          (SELECT created_at FROM orders.saga_log l WHERE l.order_id = o.id AND l.step = 'confirmed') AS confirmed_logged,
          (SELECT max(created_at) FROM payments.payment_events e WHERE e.payment_id = p.id AND e.kind = 'AUTHORIZE_RESULT') AS authorized_at
        FROM orders.orders o
        JOIN inventory.reservations r ON r.id::text = o.reservation_id
        JOIN payments.payments p ON p.order_id = o.id::text
        WHERE o.status = 'CONFIRMED' AND o.checkout_key NOT LIKE 'pgbench-%'),
      steps AS (
        SELECT '1 order recorded PENDING -> reservation made (ReserveStock)' AS step, reserved_at - created AS d FROM o
        UNION ALL SELECT '2 -> order recorded AWAITING_PAYMENT', reserved_logged - reserved_at FROM o
        UNION ALL SELECT '3 -> payment recorded PENDING (AuthorizePayment begins)', payment_created - reserved_logged FROM o
        UNION ALL SELECT '4 -> provider answered, payment recorded AUTHORIZED', authorized_at - payment_created FROM o
        UNION ALL SELECT '5 -> reservation committed (CommitReservation)', committed_at - authorized_at FROM o
        UNION ALL SELECT '6 -> order recorded CONFIRMED', confirmed_logged - committed_at FROM o
        UNION ALL SELECT '  total: order recorded -> CONFIRMED', confirmed_logged - created FROM o)
      SELECT step, count(*), (avg(extract(epoch FROM d)) * 1e6)::int8,
        (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d)) * 1e6)::int8,
        (percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d)) * 1e6)::int8
      FROM steps GROUP BY step ORDER BY step
      """)
    print("\nwhere a confirmed checkout's time goes (all confirmed orders of the run, both servers; not pgbench's):\n")
    print("| step | orders | mean µs | p50 µs | p99 µs |")
    print("|---|---:|---:|---:|---:|")
    for row in rows {
      print(
        "| \(try row.decode(0, as: String.self)) | \(try row.decode(1, as: Int64.self)) | \(try row.decode(2, as: Int64.self)) | "
          + "\(try row.decode(3, as: Int64.self)) | \(try row.decode(4, as: Int64.self)) |")
    }
  }

  /// One phase's measurement.
  struct Result: Sendable {
    var callsPerSecond: Double
    var p50: UInt64?
    var p99: UInt64?
    var errors: Int
    /// What the phase's server's pool did in the measured window (``poolSummary(before:after:calls:)``).
    var poolSummary = ""
  }

  enum Phase {
    case reserve(String, CommerceV1.InventoryService.Client, [String], CallOptions, PostgresPool)
    case checkout(String, CommerceV1.OrderService.Client, [String], [CallOptions], PostgresPool)
    case pgbench(String, String)
    /// pgbench with one client sending batches of as many calls as there are callers.
    case pgbenchBatches(String, String)

    var name: String {
      switch self {
      case .reserve(let name, _, _, _, _), .checkout(let name, _, _, _, _), .pgbench(let name, _), .pgbenchBatches(let name, _): name
      }
    }

    /// Whether the phase's pgbench script writes Emporium's own tables (and so queues events
    /// that no relay takes, to be forgotten after it).
    var writesEmporiumTables: Bool {
      name == PhaseName.pgbenchSaga.rawValue || name == PhaseName.pgbenchBatch.rawValue
    }
  }

  static let address = CommerceV1.Address.with {
    $0.recipientName = "Ada Buyer"
    $0.addressLines = ["1 Market Street"]
    $0.locality = "San Francisco"
    $0.regionCode = "US"
    $0.postalCode = "94105"
  }

  static func histogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
  }

  /// A closed loop of `callers` for `seconds` after a warm-up of `warmup` seconds.
  static func measure(
    callers: Int, warmup: Double, seconds: Double, pool: PostgresPool, _ call: @escaping @Sendable (Int) async throws -> Void
  ) async -> Result {
    _ = await loop(callers: callers, seconds: warmup, seed: 0, call)
    let before = pool.metrics
    let measured = await loop(callers: callers, seconds: seconds, seed: 1_000_003, call)
    let after = pool.metrics
    var all = histogram()
    var errors = 0
    for (histogram, failed) in measured {
      all.add(histogram)
      errors += failed
    }
    return Result(
      callsPerSecond: Double(all.totalCount) / seconds, p50: all.valueAtPercentile(50), p99: all.valueAtPercentile(99), errors: errors,
      poolSummary: poolSummary(before: before, after: after, calls: Int(all.totalCount) + errors))
  }

  private static func loop(
    callers: Int, seconds: Double, seed: Int, _ call: @escaping @Sendable (Int) async throws -> Void
  ) async -> [(Histogram<UInt64>, Int)] {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    return await withTaskGroup(of: (Histogram<UInt64>, Int).self) { group in
      for caller in 0..<callers {
        group.addTask {
          var histogram = Self.histogram()
          var errors = 0
          var index = seed + caller * 7919
          while ContinuousClock.now < deadline {
            let start = ContinuousClock.now
            do {
              try await call(index)
              let elapsed = ContinuousClock.now - start
              _ = histogram.record(max(1, UInt64(elapsed.wholeMicroseconds)))
            } catch {
              errors += 1
            }
            index += 1
          }
          return (histogram, errors)
        }
      }
      var all: [(Histogram<UInt64>, Int)] = []
      for await result in group { all.append(result) }
      return all
    }
  }

  /// Runs pgbench and returns its transactions per second (excluding connection time).
  static func pgbench(
    _ executable: String, target: Pgbench.Target, script: String, clients: Int, seconds: Int, variables: [String: String] = [:]
  ) async throws -> Result {
    let outcome = try await Pgbench.run(executable, target: target, script: script, clients: clients, seconds: seconds, variables: variables)
    // pgbench prints the mean latency, not percentiles: p50 and p99 are left empty.
    return Result(callsPerSecond: outcome.transactionsPerSecond, p50: nil, p99: nil, errors: outcome.failedTransactions)
  }
}

/// The rows every phase works on, created before the measured run.
struct BenchData {
  var hotCoalesced: String
  var hotPlain: String
  var spread: [String]
  /// The warehouse every bench product's stock is in.
  var warehouse: UUID

  /// Units of each stock row: never running out.
  static let units: Int64 = 1_000_000_000_000

  static func create(_ pool: PostgresPool, products: Int, buckets: Int) async throws -> BenchData {
    let warehouse = UUID()
    try await pool.query(
      "INSERT INTO inventory.warehouses (id, code, name, region_code, created_at) VALUES ($1, $2, 'Bench', 'US', now())",
      [warehouse, "B" + String(UUID().uuidString.prefix(8).filter { $0 != "-" })])
    // Active catalog products, so that Checkout can price them.
    let ids = try await pool.query(
      "SELECT id::text FROM catalog.products WHERE status = 'ACTIVE' ORDER BY id LIMIT $1", [Int64(products + 2)]
    ).map { try $0.decode(0, as: String.self) }
    guard ids.count >= 3 else { throw ValidationError("the seed left \(ids.count) active products") }
    let data = BenchData(hotCoalesced: ids[0], hotPlain: ids[1], spread: Array(ids.dropFirst(2)), warehouse: warehouse)
    let all = [data.hotCoalesced, data.hotPlain] + data.spread
    try await pool.query(
      """
      INSERT INTO inventory.stock (product_id, warehouse_id, on_hand, reserved, version, updated_at)
      SELECT p, $2, $3, 0, 1, now() FROM unnest($1::text[]) AS p
      """, [all, warehouse, Self.units])
    // The catalog learns the levels through the stock relay, as in production.
    try await pool.query(
      """
      WITH events AS (
        INSERT INTO inventory.outbox (topic, aggregate_id, payload) SELECT 'stock.changed', p, '' FROM unnest($1::text[]) AS p
        RETURNING id, topic),
      queued AS (INSERT INTO inventory.outbox_pending (id, topic) SELECT id, topic FROM events)
      SELECT pg_notify('inventory_outbox', '')
      """, [all])
    // pgbench's own tables: one hot row, the hot product's buckets, the spread products, and
    // the reservations the multi-statement transaction inserts.
    try await pool.query("DROP SCHEMA IF EXISTS pgbench_money CASCADE")
    try await pool.query("CREATE SCHEMA pgbench_money")
    try await pool.query("CREATE TABLE pgbench_money.stock (id int PRIMARY KEY, available int8 NOT NULL CHECK (available >= 0))")
    try await pool.query(
      "CREATE TABLE pgbench_money.buckets (id int, bucket int, available int8 NOT NULL CHECK (available >= 0), PRIMARY KEY (id, bucket))")
    try await pool.query(
      "CREATE TABLE pgbench_money.reservations (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id int NOT NULL, quantity int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    )
    try await pool.query(
      "CREATE TABLE pgbench_money.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id uuid NOT NULL, status text NOT NULL, total_minor int8 NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    )
    try await pool.query(
      "CREATE TABLE pgbench_money.order_lines (order_id bigint NOT NULL REFERENCES pgbench_money.orders (id), product_id int NOT NULL, quantity int NOT NULL, price_minor int8 NOT NULL, PRIMARY KEY (order_id, product_id))"
    )
    try await pool.query(
      "CREATE TABLE pgbench_money.payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id bigint NOT NULL REFERENCES pgbench_money.orders (id), amount_minor int8 NOT NULL, status text NOT NULL)"
    )
    try await pool.query("INSERT INTO pgbench_money.stock SELECT g, $1 FROM generate_series(0, $2) AS g", [Self.units, Int64(products)])
    try await pool.query(
      "INSERT INTO pgbench_money.buckets SELECT 0, b, $1 FROM generate_series(1, $2) AS b", [Self.units / Int64(buckets), Int64(buckets)])
    // The saga's SQL picks its product as the Checkout phase does: the n-th spread product.
    try await pool.query(
      """
      CREATE TABLE pgbench_money.spread_rows AS
      SELECT n::int, p AS product_id, $2::uuid AS warehouse_id FROM unnest($1::text[]) WITH ORDINALITY AS s (p, n)
      """, [data.spread, warehouse])
    try await pool.query("ALTER TABLE pgbench_money.spread_rows ADD PRIMARY KEY (n)")
    // The reservation rows alone, in copies of Emporium's tables (columns, constraints and
    // indexes), so that they leave no reservation without its allocations behind.
    try await pool.query("CREATE TABLE pgbench_money.hot_stock (LIKE inventory.stock INCLUDING ALL)")
    try await pool.query("CREATE TABLE pgbench_money.hot_reservations (LIKE inventory.reservations INCLUDING ALL)")
    try await pool.query(
      "INSERT INTO pgbench_money.hot_stock (product_id, warehouse_id, on_hand, reserved, version, updated_at) VALUES ($1, $2, $3, 0, 1, now())",
      [data.hotCoalesced, warehouse, Self.units])
    try await pool.query("VACUUM ANALYZE pgbench_money.stock")
    try await pool.query("VACUUM ANALYZE pgbench_money.buckets")
    try await pool.query("VACUUM ANALYZE pgbench_money.spread_rows")
    try await pool.query("VACUUM ANALYZE pgbench_money.hot_stock")
    try await pool.query("VACUUM ANALYZE inventory.stock")
    return data
  }

  /// Removes the events pgbench's scripts queued in Emporium's relay queues: their topics
  /// (`pgbench.…`) are no relay's, and a queue that only grows would slow the relays' reads.
  func forgetPgbenchEvents(_ pool: PostgresPool) async throws {
    for schema in ["orders", "inventory", "payments"] {
      try await pool.query("DELETE FROM \(schema).outbox_pending WHERE topic LIKE 'pgbench.%'")
    }
  }

  func oversold(_ pool: PostgresPool) async throws -> Int64 {
    try await pool.query("SELECT count(*) FROM inventory.stock WHERE reserved > on_hand OR reserved < 0 OR on_hand < 0")
      .first!.decode(0, as: Int64.self)
  }
}

/// pgbench's scripts: the SQL a hand-written reservation would send, and Emporium's own SQL
/// (``EmporiumSQL``).
struct PgbenchScript {
  var hotSingle: String
  var hotBucketed: String
  var hotMulti: String
  var spreadMulti: String
  var checkoutSpread: String
  var saga: String
  var batch: String
  var batchReservationsOnly: String

  static func write(products: Int, buckets: Int, spreadRows: Int) throws -> PgbenchScript {
    func file(_ name: String, _ text: String) throws -> String {
      let path = FileManager.default.temporaryDirectory.appendingPathComponent("checkout-bench-\(name).sql").path
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      return path
    }
    let multi = """
      BEGIN;
      SELECT available FROM pgbench_money.stock WHERE id = :p FOR UPDATE;
      UPDATE pgbench_money.stock SET available = available - 1 WHERE id = :p AND available >= 1;
      INSERT INTO pgbench_money.reservations (product_id, quantity) VALUES (:p, 1);
      END;

      """
    return PgbenchScript(
      hotSingle: try file("hot-single", "UPDATE pgbench_money.stock SET available = available - 1 WHERE id = 0 AND available >= 1;\n"),
      hotBucketed: try file(
        "hot-bucketed",
        "\\set b random(1, \(buckets))\nUPDATE pgbench_money.buckets SET available = available - 1 WHERE id = 0 AND bucket = :b AND available >= 1;\n"),
      hotMulti: try file("hot-multi", "\\set p 0\n" + multi),
      spreadMulti: try file("spread-multi", "\\set p random(1, \(products))\n" + multi),
      checkoutSpread: try file(
        "checkout-spread",
        """
        \\set p random(1, \(products))
        BEGIN;
        SELECT available FROM pgbench_money.stock WHERE id = :p FOR UPDATE;
        UPDATE pgbench_money.stock SET available = available - 1 WHERE id = :p AND available >= 1;
        INSERT INTO pgbench_money.orders (customer_id, status, total_minor) VALUES (gen_random_uuid(), 'CONFIRMED', 2158) RETURNING id \\gset
        INSERT INTO pgbench_money.order_lines (order_id, product_id, quantity, price_minor) VALUES (:id, :p, 1, 1999);
        INSERT INTO pgbench_money.payments (order_id, amount_minor, status) VALUES (:id, 2158, 'AUTHORIZED');
        END;

        """),
      saga: try file("saga", EmporiumSQL.saga(products: spreadRows)),
      batch: try file("batch", EmporiumSQL.batch),
      batchReservationsOnly: try file("batch-reservations-only", EmporiumSQL.batchReservationsOnly))
  }
}

/// One server over the database, and a client connection to it.
struct Host: Sendable {
  let app: EmporiumApp
  let service: InventoryService
  let running: Task<Void, any Error>
  let group: ServiceGroup
  let connection: RPCConnection
  var inventory: CommerceV1.InventoryService.Client { .init(connection) }
  var orders: CommerceV1.OrderService.Client { .init(connection) }

  /// Call options carrying a token this server's keys signed for `principal`.
  func options(for principal: Principal) async throws -> CallOptions {
    let token = try await app.tokens.issue(for: principal, lifetime: .seconds(4 * 3600)).token
    return CallOptions(metadata: ["authorization": "Bearer " + token])
  }

  final class Made: Sendable {
    let service = Mutex<InventoryService?>(nil)
  }

  static func start(databaseURL: String, coalesce: Bool, poolConnections: Int, logger: Logger) async throws -> Host {
    var configuration = EmporiumApp.Configuration(databaseURL: databaseURL)
    configuration.maximumDatabaseConnections = poolConnections
    let made = Made()
    var inventoryConfiguration = InventoryService.Configuration()
    inventoryConfiguration.coalesceReservations = coalesce
    let finalConfiguration = inventoryConfiguration
    let inventory = ServiceDeclaration(
      name: "inventory", schema: "inventory", migrations: InventoryService.migrations, peers: ["catalog"]
    ) { environment in
      let service = InventoryService(
        pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), configuration: finalConfiguration,
        logger: environment.logger)
      made.service.withLock { $0 = service }
      return HostedService(rpc: service, background: service.backgroundServices)
    }
    configuration.services = ServiceCatalog.all.map { $0.name == "inventory" ? inventory : $0 }
    configuration.settings["auth"] = ["bootstrap-admin": "off"]
    configuration.server.port = 0
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let port = try await app.server.localAddress().port!
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
    return Host(app: app, service: made.service.withLock { $0 }!, running: running, group: group, connection: connection)
  }

  func stop() async {
    await connection.close()
    await group.triggerGracefulShutdown()
    _ = try? await running.value
    await app.close()
  }
}

/// The phases, as printed and as `--only` selects them.
enum PhaseName: String, CaseIterable {
  case checkoutSpread = "Checkout spread, coalesced"
  case checkoutHot = "Checkout hot, coalesced"
  case checkoutHotRowLock = "Checkout hot, row lock"
  case pgbenchCheckoutSpread = "pgbench checkout spread, multi-statement"
  case reserveHot = "ReserveStock hot, coalesced"
  case reserveHotRowLock = "ReserveStock hot, row lock"
  case reserveSpread = "ReserveStock spread, coalesced"
  case reserveSpreadRowLock = "ReserveStock spread, row lock"
  case pgbenchHotSingle = "pgbench hot, single statement"
  case pgbenchHotBucketed = "pgbench hot, bucketed rows"
  case pgbenchHotMulti = "pgbench hot, multi-statement"
  case pgbenchSpreadMulti = "pgbench spread, multi-statement"
  case pgbenchSaga = "pgbench checkout spread, the saga's SQL"
  case pgbenchBatch = "pgbench hot, the batch's SQL"
  case pgbenchBatchReservationsOnly = "pgbench hot, reservation rows only"
}
