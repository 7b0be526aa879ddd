// postgres-bench: our PostgreSQL driver against pgbench -M prepared, on one fresh embedded
// cluster, in alternating runs. Not a timed test: a measurement, reported in
// docs/PERFORMANCE.md ("PostgreSQL: driver vs pgbench").
//
//   swift run -c release PostgresBenchmarks [--seconds 5] [--rounds 3] [--clients 16,64]
//     [--only select1|checkout] [--variants pgbench,driver,pipelined,libpq,sequential-commit,deadline] [--pipelined-connections 4]
//     [--io-threads 2] [--cooperative-pool] [--pgbench-client-work N]
//
// Workloads (the same statements on both sides):
//   select1   SELECT 1
//   checkout  BEGIN; two conditional stock decrements; INSERT an order RETURNING id;
//             INSERT its two lines; COMMIT
// Variants:
//   pgbench        pgbench -M prepared -c N -j 2 -T S -f <script>, N connections
//   driver         N tasks on a pool of N connections, one statement per round trip
//                  (BEGIN travels with the first statement)
//   pipelined      select1: N tasks on a pool of 4 connections, up to N/4 statements in
//                  flight per connection; checkout: N connections, the two decrements in one
//                  round trip (async let) and COMMIT with the lines (queryAndCommit): 3 round
//                  trips against pgbench's 6
//   libpq          select1 only: pgbench's own loop written in Swift on libpq, without the
//                  driver (no pool, no tasks): the floor for this pattern (BareLibPQ.swift)
//   sequential-commit
//                  checkout only: like driver, one statement per round trip, but COMMIT
//                  travels with the order lines (queryAndCommit): 4 round trips
//   deadline       like driver, but every transaction (select1: every statement) runs under a
//                  deadline of its own (PostgresDeadline, 10 s ahead), as an RPC handler's do;
//                  a second table compares it with driver
// pgbench runs two threads (-j 2); the driver likewise splits its callers and connections over
// two pools, each on an I/O thread of its own (--io-threads). Callers run with their pool's I/O
// thread as their preferred task executor (resumed where the result was read);
// --cooperative-pool runs them on Swift's default pool instead.
// --pgbench-client-work N adds N `\set` meta-commands to pgbench's select1 script: work pgbench
// does itself, none for the server, to see its rate as a function of its CPU per transaction.
// Each round runs every variant once, in turn; the table shows medians over the rounds.
// Client CPU per transaction: the driver's is this process's getrusage over its window;
// pgbench's is RUSAGE_CHILDREN over its run (its connection set-up included, a few ms).
// With LD_PRELOAD of the echo benchmark's malloc counter (libEchoBenchMallocCounter.so), the
// driver's allocations per transaction are printed too.
import Foundation
import Postgres
import PostgresEmbedded
import BenchSupport

/// One run of one variant.
struct Measurement {
  var tps: Double
  /// Client CPU (user + system) per transaction, µs.
  var cpuMicroseconds: Double
  /// Allocations per transaction, when the malloc counter is preloaded.
  var allocations: Double?
}


/// The preloaded malloc counter's count, if there is one.
let mallocCount: (@convention(c) () -> UInt64)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "echo_bench_malloc_count")
  .map { unsafeBitCast($0, to: (@convention(c) () -> UInt64).self) }

struct Options {
  var seconds = 5
  var rounds = 3
  var clients = [16, 64]
  var pgbench = "/usr/lib/postgresql/15/bin/pgbench"
  var pipelinedConnections = 4
  var only: Set<String> = []
  var onIOThread = true
  var ioThreads = 2
  var variants: Set<String> = []
  /// `\set` meta-commands added to pgbench's `select1` script: client-side work only (pgbench
  /// evaluates them itself), to see how pgbench's rate follows its own CPU per transaction.
  var pgbenchClientWork = 0

  init(_ arguments: [String]) {
    var iterator = arguments.dropFirst().makeIterator()
    while let argument = iterator.next() {
      switch argument {
      case "--seconds": self.seconds = Int(iterator.next() ?? "") ?? self.seconds
      case "--rounds": self.rounds = Int(iterator.next() ?? "") ?? self.rounds
      case "--clients":
        self.clients = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }
      case "--pgbench": self.pgbench = iterator.next() ?? self.pgbench
      case "--pipelined-connections":
        self.pipelinedConnections = Int(iterator.next() ?? "") ?? self.pipelinedConnections
      case "--cooperative-pool": self.onIOThread = false
      case "--io-threads": self.ioThreads = Int(iterator.next() ?? "") ?? self.ioThreads
      case "--only": self.only = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
      case "--pgbench-client-work":
        self.pgbenchClientWork = Int(iterator.next() ?? "") ?? self.pgbenchClientWork
      case "--variants":
        self.variants = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
      default:
        print("unknown argument \(argument)")
        exit(2)
      }
    }
  }
}

enum Workload: String, CaseIterable {
  case select1
  case checkout

  func pgbenchScript(clientWork: Int) -> String {
    switch self {
    case .select1:
      return String(repeating: "\\set x random(1, 1000000) * 7 + 3\n", count: clientWork) + "SELECT 1;\n"
    case .checkout:
      return """
        \\set a random(1, \(Bench.products))
        \\set b random(1, \(Bench.products))
        \\set p1 least(:a, :b)
        \\set p2 greatest(:a, :b)
        \\set c random(1, 100000)
        BEGIN;
        \(Bench.decrement.replacingOccurrences(of: "$1", with: ":p1").replacingOccurrences(of: "$2", with: "1"));
        \(Bench.decrement.replacingOccurrences(of: "$1", with: ":p2").replacingOccurrences(of: "$2", with: "2"));
        \(Bench.insertOrder.replacingOccurrences(of: "$1", with: ":c")) \\gset
        \(Bench.insertLines.replacingOccurrences(of: "$1", with: ":id").replacingOccurrences(of: "$2", with: ":p1").replacingOccurrences(of: "$3", with: ":p2"));
        COMMIT;

        """
    }
  }
}

enum Variant: String, CaseIterable {
  case pgbench
  case driver
  case pipelined
  /// `select1` only: pgbench's loop in Swift straight on libpq (``BareLibPQ``).
  case libpq
  /// `checkout` only: one statement per round trip like `driver`, but `COMMIT` travels with the
  /// last statement (`queryAndCommit`): 4 round trips.
  case sequentialCommit = "sequential-commit"
  /// Like `driver`, each transaction (or `select1` statement) under a deadline of its own.
  case deadline
}

enum Bench {
  static let products = 10_000
  // Products are decremented in id order (p1 <= p2) on both sides, so checkouts never deadlock.
  static let decrement = "UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2"
  static let insertOrder = "INSERT INTO orders (customer_id, total_minor) VALUES ($1, 2500) RETURNING id"
  static let insertLines =
    "INSERT INTO order_lines (order_id, product_id, quantity, price_minor) VALUES ($1, $2, 1, 1000), ($1, $3, 2, 750)"

  struct OutOfStock: Error {}

  /// One checkout through the driver: `pipelined` sends the two decrements together; `commitWithLast`
  /// sends COMMIT with the order lines.
  static func checkout(_ pool: PostgresPool, pipelined: Bool, commitWithLast: Bool) async throws {
    let a = Int64.random(in: 1...Int64(Self.products))
    let b = Int64.random(in: 1...Int64(Self.products))
    let (p1, p2) = (min(a, b), max(a, b))
    let customer = Int64.random(in: 1...100_000)
    try await pool.withTransaction { tx in
      if pipelined {
        async let first = tx.query(Self.decrement, [p1, Int64(1)])
        async let second = tx.query(Self.decrement, [p2, Int64(2)])
        let (one, two) = try await (first, second)
        guard one.affectedRows == 1, two.affectedRows == 1 else { throw OutOfStock() }
      } else {
        guard try await tx.query(Self.decrement, [p1, Int64(1)]).affectedRows == 1,
          try await tx.query(Self.decrement, [p2, Int64(2)]).affectedRows == 1
        else { throw OutOfStock() }
      }
      let order = try await tx.query(Self.insertOrder, [customer]).scalar(as: Int64.self)!
      if commitWithLast {
        try await tx.queryAndCommit(Self.insertLines, [order, p1, p2])
      } else {
        try await tx.query(Self.insertLines, [order, p1, p2])
      }
    }
  }

  static func setUp(_ url: String) async throws {
    let connection = try await PostgresConnection.connect(.init(url: url))
    try await connection.executeScript(
      """
      CREATE TABLE products (id int8 PRIMARY KEY, stock int8 NOT NULL);
      INSERT INTO products SELECT n, 1000000000 FROM generate_series(1, \(Self.products)) AS n;
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int8 NOT NULL,
        total_minor int8 NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE order_lines (order_id int8 NOT NULL REFERENCES orders, product_id int8 NOT NULL,
        quantity int4 NOT NULL, price_minor int8 NOT NULL);
      """)
    // VACUUM cannot run in the implicit transaction of a multi-statement script.
    try await connection.executeScript("VACUUM ANALYZE")
    await connection.close()
  }

  /// Runs pgbench and returns its transactions per second (excluding connection time).
  static func pgbench(
    _ options: Options, workload: Workload, clients: Int, port: Int, user: String, script: String
  ) async throws -> Measurement {
    let cpuBefore = cpuSeconds(RUSAGE_CHILDREN)
    let output = try await Program.run(
      options.pgbench,
      [
        "-n", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-f", script, "-M", "prepared",
        "-c", String(clients), "-j", "2", "-T", String(options.seconds), "--max-tries=10", "bench",
      ])
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
      let value = Double(line.dropFirst(6).prefix { $0 == "." || $0.isNumber })
    else {
      throw NSError(domain: "pgbench", code: 1, userInfo: [NSLocalizedDescriptionKey: output])
    }
    let transactions = value * Double(options.seconds)
    return Measurement(
      tps: value, cpuMicroseconds: (cpuSeconds(RUSAGE_CHILDREN) - cpuBefore) * 1e6 / transactions,
      allocations: nil)
  }

  /// Runs `clients` tasks doing `workload` for the configured time; transactions per second.
  ///
  /// The callers are split over `--io-threads` pools (default 2, as pgbench's `-j 2`), each
  /// pool on an I/O thread of its own, and each caller runs with its pool's I/O thread as its
  /// preferred task executor (unless `--cooperative-pool`).
  static func driver(
    _ options: Options, workload: Workload, clients: Int, url: String, pipelined: Bool,
    commitWithLast: Bool, underDeadline: Bool = false
  ) async throws -> Measurement {
    let shards = max(1, min(options.ioThreads, clients))
    let totalConnections =
      workload == .select1 && pipelined ? min(options.pipelinedConnections, clients) : clients
    var pools: [PostgresPool] = []
    for shard in 0..<shards {
      let callers = clients / shards + (shard < clients % shards ? 1 : 0)
      let connections = max(1, totalConnections / shards + (shard < totalConnections % shards ? 1 : 0))
      pools.append(
        try PostgresPool(
          configuration: .init(
            url: url, minimumConnections: connections, maximumConnections: connections,
            maximumPipelineDepth: max(1, (callers + connections - 1) / connections))))
    }
    let transaction: @Sendable (PostgresPool) async throws -> Void =
      switch workload {
      case .select1: { pool in _ = try await pool.query("SELECT 1") }
      case .checkout: { pool in
        try await Self.checkout(pool, pipelined: pipelined, commitWithLast: commitWithLast)
      }
      }
    let work: @Sendable (PostgresPool) async throws -> Void
    if underDeadline {
      work = { pool in
        let deadline: ContinuousClock.Instant = .now + .seconds(10)
        try await PostgresDeadline.$current.withValue(deadline) { try await transaction(pool) }
      }
    } else {
      work = transaction
    }
    let onIOThread = options.onIOThread
    // Warm up: open every connection and prepare the statements.
    let warmUntil = ContinuousClock.now + .milliseconds(500)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for caller in 0..<clients {
        let pool = pools[caller % shards]
        group.addTask(executorPreference: onIOThread ? pool.taskExecutor : nil) {
          while ContinuousClock.now < warmUntil { try await work(pool) }
        }
      }
      try await group.waitForAll()
    }
    let cpuBefore = cpuSeconds(RUSAGE_SELF)
    let mallocsBefore = mallocCount?()
    let start = ContinuousClock.now
    let end = start + .seconds(options.seconds)
    let done = try await withThrowingTaskGroup(of: Int.self) { group in
      for caller in 0..<clients {
        let pool = pools[caller % shards]
        group.addTask(executorPreference: onIOThread ? pool.taskExecutor : nil) {
          var count = 0
          while ContinuousClock.now < end {
            try await work(pool)
            count += 1
          }
          return count
        }
      }
      return try await group.reduce(0, +)
    }
    let elapsed = start.duration(to: .now)
    let cpu = cpuSeconds(RUSAGE_SELF) - cpuBefore
    let mallocs = mallocsBefore.map { Double(mallocCount!() - $0) / Double(max(1, done)) }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    for pool in pools {
      await pool.close()
    }
    return Measurement(
      tps: Double(done) / seconds, cpuMicroseconds: cpu * 1e6 / Double(max(1, done)),
      allocations: mallocs)
  }

}

func median(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return 0 }
  return sorted.count % 2 == 1
    ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

let options = Options(CommandLine.arguments)
// One I/O thread per pool shard (read once, when the driver first starts its threads).
setenv("EMPORIUM_PG_IO_THREADS", String(max(1, options.ioThreads)), 1)
print("starting an embedded cluster...")
fflush(nil)
let cluster = try await EmbeddedPostgres.start()
let url = try await cluster.createDatabase("bench")
try await Bench.setUp(url)
var scripts: [Workload: String] = [:]
for workload in Workload.allCases {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("postgres-bench-\(workload).sql").path
  try workload.pgbenchScript(clientWork: options.pgbenchClientWork).write(toFile: path, atomically: true, encoding: .utf8)
  scripts[workload] = path
}

// Warm-up, not measured: a fresh cluster creates its WAL segments and extends the tables' files
// on first use, which slowed whichever variant ran the first checkout by half or more.
for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
  print("warming up: \(workload.rawValue)")
  fflush(nil)
  var warmUp = options
  warmUp.seconds = 3
  _ = try await Bench.pgbench(
    warmUp, workload: workload, clients: options.clients.max() ?? 16, port: cluster.port,
    user: cluster.superuser, script: scripts[workload]!)
}

struct Key: Hashable {
  var workload: Workload
  var clients: Int
  var variant: Variant
}
var results: [Key: [Measurement]] = [:]
for round in 1...options.rounds {
  for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
    for clients in options.clients {
      for variant in Variant.allCases where options.variants.isEmpty || options.variants.contains(variant.rawValue) {
        let measurement: Measurement
        switch variant {
        case .pgbench:
          measurement = try await Bench.pgbench(
            options, workload: workload, clients: clients, port: cluster.port, user: cluster.superuser,
            script: scripts[workload]!)
        case .driver:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: false)
        case .pipelined:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: true, commitWithLast: true)
        case .sequentialCommit:
          guard workload == .checkout else { continue }
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: true)
        case .deadline:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: false,
            underDeadline: true)
        case .libpq:
          guard workload == .select1 else { continue }
          measurement = try BareLibPQ.selectOne(
            url: url, clients: clients, threads: options.ioThreads, seconds: options.seconds)
        }
        results[Key(workload: workload, clients: clients, variant: variant), default: []].append(measurement)
        print(
          "round \(round) \(workload.rawValue) c=\(clients) \(variant.rawValue): \(Int(measurement.tps)) tps, "
            + String(format: "%.1f µs client CPU/tx", measurement.cpuMicroseconds)
            + (measurement.allocations.map { String(format: ", %.1f mallocs/tx", $0) } ?? ""))
        fflush(nil)
      }
    }
  }
}
try await cluster.stop()

func format(_ value: Double) -> String {
  value.isFinite ? String(Int(value.rounded())) : "-"
}
func ratio(_ value: Double, _ base: Double) -> String {
  value > 0 && base > 0 ? String(format: "%.2f", value / base) : "-"
}
func oneDecimal(_ value: Double?) -> String {
  value.map { $0.isFinite && $0 > 0 ? String(format: "%.1f", $0) : "-" } ?? "-"
}
print("")
print(
  "| workload | callers | pgbench -M prepared (tps) | driver (tps) | driver / pgbench | pipelined (tps) | pipelined / pgbench "
    + "| client CPU µs/tx: pgbench / driver / pipelined | mallocs/tx: driver / pipelined "
    + "| other / pgbench (client CPU µs/tx) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
  for clients in options.clients {
    func runs(_ variant: Variant) -> [Measurement] {
      results[Key(workload: workload, clients: clients, variant: variant)] ?? []
    }
    let base = median(runs(.pgbench).map(\.tps))
    let driver = median(runs(.driver).map(\.tps))
    let pipelined = median(runs(.pipelined).map(\.tps))
    // The workload's extra variant: bare libpq for select1, sequential-commit for checkout.
    let other: Variant = workload == .select1 ? .libpq : .sequentialCommit
    let otherTPS = median(runs(other).map(\.tps))
    let otherCPU = oneDecimal(median(runs(other).map(\.cpuMicroseconds)))
    let cpu = [Variant.pgbench, .driver, .pipelined].map { oneDecimal(median(runs($0).map(\.cpuMicroseconds))) }
    let mallocs = [Variant.driver, .pipelined].map { variant -> String in
      let counted = runs(variant).compactMap(\.allocations)
      return counted.isEmpty ? "-" : oneDecimal(median(counted))
    }
    print(
      "| \(workload.rawValue) | \(clients) | \(format(base)) | \(format(driver)) | \(ratio(driver, base)) | "
        + "\(format(pipelined)) | \(ratio(pipelined, base)) | \(cpu.joined(separator: " / ")) | "
        + "\(mallocs.joined(separator: " / ")) | \(other.rawValue): \(ratio(otherTPS, base)) (\(otherCPU)) |")
  }
}
if options.variants.isEmpty || options.variants.contains(Variant.deadline.rawValue) {
  print("")
  print("| workload | callers | driver (tps) | deadline (tps) | deadline / driver | client CPU µs/tx: driver / deadline |")
  print("|---|---:|---:|---:|---:|---:|")
  for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
    for clients in options.clients {
      func runs(_ variant: Variant) -> [Measurement] {
        results[Key(workload: workload, clients: clients, variant: variant)] ?? []
      }
      let driver = median(runs(.driver).map(\.tps))
      let deadline = median(runs(.deadline).map(\.tps))
      let cpu = [Variant.driver, .deadline].map { oneDecimal(median(runs($0).map(\.cpuMicroseconds))) }
      print(
        "| \(workload.rawValue) | \(clients) | \(format(driver)) | \(format(deadline)) | \(ratio(deadline, driver)) | "
          + "\(cpu.joined(separator: " / ")) |")
    }
  }
}
print("")
print("medians of \(options.rounds) alternating rounds of \(options.seconds) s each")
