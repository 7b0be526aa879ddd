// postgres-bench: our PostgreSQL driver against pgbench -M prepared, on one fresh embedded
// cluster, in alternating runs. Not a timed test: a measurement, reported in
// docs/PERFORMANCE.md ("PostgreSQL: driver vs pgbench").
//
//   swift run -c release PostgresBenchmarks [--seconds 5] [--warmup 1] [--rounds 3] [--clients 16,64]
//     [--only select1|checkout]
//     [--variants pgbench,pgbench-pipeline,driver,pipelined,libpq,sequential-commit,deadline]
//     [--pipelined-connections 4] [--io-threads 2] [--cooperative-pool] [--pgbench-client-work N]
//
// Workloads (the same statements on both sides):
//   select1   SELECT 1
//   checkout  BEGIN; two conditional stock decrements; INSERT an order RETURNING id;
//             INSERT its two lines; COMMIT
// Variants:
//   pgbench        pgbench -M prepared -c N -j 2 -f <script>, N connections, one statement per
//                  round trip (checkout: 6 round trips)
//   pgbench-pipeline
//                  pipelined's peer, with pgbench's \startpipeline/\endpipeline at the same
//                  connections and round trips: select1: 4 connections (--pipelined-connections),
//                  N/4 SELECT 1 per pipeline; checkout: N connections, BEGIN and the two
//                  decrements in one pipeline, the order INSERT, the lines and COMMIT in one
//                  pipeline (3 round trips)
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
// Each round runs every variant once; the order rotates by one variant per round, so no variant
// always runs first. Every variant gets the same warm-up (--warmup seconds of its own work on
// its own connections, after they are open) right before its measured window. The tables show
// medians over the rounds, and each comparison both as the median of its per-round ratios and
// as the ratio of the medians.
// Client CPU per transaction is measured the same way for every variant: the client process's
// user + system time from /proc/PID/stat, sampled at the start and the end of the measured
// window (connection set-up and warm-up excluded), over the transactions of that window. For
// pgbench, which runs --warmup + --seconds + 1 s, the window's transactions are read from its
// per-second progress reports (-P 1).
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
  /// Seconds of unmeasured work every variant does right before its measured window.
  var warmup = 1
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
      case "--warmup": self.warmup = Int(iterator.next() ?? "") ?? self.warmup
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

  /// pgbench's script. `pipelineDepth`: `select1` sends that many statements in one pipeline;
  /// `checkout` sends its statements in 3 round trips (any depth).
  func pgbenchScript(clientWork: Int, pipelineDepth: Int? = nil) -> String {
    switch (self, pipelineDepth) {
    case (.select1, nil):
      return String(repeating: "\\set x random(1, 1000000) * 7 + 3\n", count: clientWork) + "SELECT 1;\n"
    case (.select1, let depth?):
      return "\\startpipeline\n" + String(repeating: "SELECT 1;\n", count: depth) + "\\endpipeline\n"
    case (.checkout, let depth):
      // The same statements either way; pipelined, they travel in 3 round trips: BEGIN with the
      // decrements, the order (its id is needed next), the lines with COMMIT.
      let (open, close) = depth == nil ? ("", "") : ("\\startpipeline\n", "\\endpipeline\n")
      let decrement = { (product: String, quantity: String) in
        Bench.decrement.replacingOccurrences(of: "$1", with: product).replacingOccurrences(of: "$2", with: quantity)
      }
      let lines = Bench.insertLines.replacingOccurrences(of: "$1", with: ":id")
        .replacingOccurrences(of: "$2", with: ":p1").replacingOccurrences(of: "$3", with: ":p2")
      return """
        \\set a random(1, \(Bench.products))
        \\set b random(1, \(Bench.products))
        \\set p1 least(:a, :b)
        \\set p2 greatest(:a, :b)
        \\set c random(1, 100000)
        \(open)BEGIN;
        \(decrement(":p1", "1"));
        \(decrement(":p2", "2"));
        \(close)\(Bench.insertOrder.replacingOccurrences(of: "$1", with: ":c")) \\gset
        \(open)\(lines);
        COMMIT;
        \(close)
        """
    }
  }
}

enum Variant: String, CaseIterable {
  case pgbench
  /// pgbench with `\startpipeline`: `pipelined`'s like-for-like peer.
  case pgbenchPipeline = "pgbench-pipeline"
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

  /// Runs pgbench for `--warmup` + `--seconds` + 1 s and measures the `--seconds` after the
  /// warm-up: transactions from its per-second progress reports, client CPU from /proc.
  /// `pipelineDepth` (select1): statements per pipeline; the rate and CPU are then per
  /// statement.
  static func pgbench(
    _ options: Options, workload: Workload, clients: Int, pipelineDepth: Int? = nil, port: Int,
    user: String
  ) async throws -> Measurement {
    let script = FileManager.default.temporaryDirectory
      .appendingPathComponent("postgres-bench-\(workload)-\(pipelineDepth ?? 0).sql").path
    try workload.pgbenchScript(clientWork: options.pgbenchClientWork, pipelineDepth: pipelineDepth)
      .write(toFile: script, atomically: true, encoding: .utf8)
    let (warmup, seconds) = (options.warmup, options.seconds)
    let (output, cpu) = try await Program.run(
      options.pgbench,
      [
        "-n", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-f", script, "-M", "prepared",
        "-c", String(clients), "-j", "2", "-T", String(warmup + seconds + 1), "-P", "1",
        "--max-tries=10", "bench",
      ],
      whileRunning: { pid -> Double? in
        try? await Task.sleep(for: .seconds(warmup))
        guard let before = ProcFS.cpuSeconds(pid: pid) else { return nil }
        try? await Task.sleep(for: .seconds(seconds))
        return ProcFS.cpuSeconds(pid: pid).map { $0 - before }
      })
    // "progress: 3.0 s, 91234.5 tps, lat 0.175 ms stddev 0.051, 0 failed": the intervals that end
    // inside the measured window.
    var transactions = 0.0
    var intervals = 0
    for line in output.split(separator: "\n") where line.hasPrefix("progress: ") {
      let fields = line.dropFirst("progress: ".count).split(separator: " ")
      guard fields.count >= 4, let at = Double(fields[0]), let tps = Double(fields[2]) else { continue }
      if at > Double(warmup) + 0.5 && at < Double(warmup + seconds) + 0.5 {
        transactions += tps
        intervals += 1
      }
    }
    guard intervals == seconds, let cpu else {
      throw NSError(
        domain: "pgbench", code: 1,
        userInfo: [NSLocalizedDescriptionKey: "pgbench reported \(intervals) of \(seconds) seconds:\n\(output)"])
    }
    let statements = transactions * Double(pipelineDepth.flatMap { workload == .select1 ? $0 : nil } ?? 1)
    return Measurement(
      tps: statements / Double(seconds), cpuMicroseconds: cpu * 1e6 / statements, allocations: nil)
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
    // Warm up: open every connection, prepare the statements, run for --warmup seconds.
    let warmUntil = ContinuousClock.now + .seconds(options.warmup)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for caller in 0..<clients {
        let pool = pools[caller % shards]
        group.addTask(executorPreference: onIOThread ? pool.taskExecutor : nil) {
          while ContinuousClock.now < warmUntil { try await work(pool) }
        }
      }
      try await group.waitForAll()
    }
    let cpuBefore = ProcFS.cpuSeconds(pid: getpid()) ?? 0
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
    let cpu = (ProcFS.cpuSeconds(pid: getpid()) ?? 0) - cpuBefore
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
// Warm-up of the cluster, not measured: a fresh cluster creates its WAL segments and extends the
// tables' files on first use, which slowed whichever variant ran the first checkout by half or
// more.
for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
  print("warming up the cluster: \(workload.rawValue)")
  fflush(nil)
  var warmUp = options
  (warmUp.warmup, warmUp.seconds) = (0, 2)
  _ = try await Bench.pgbench(
    warmUp, workload: workload, clients: options.clients.max() ?? 16, port: cluster.port,
    user: cluster.superuser)
}

extension Variant {
  func applies(to workload: Workload) -> Bool {
    switch self {
    case .libpq: workload == .select1
    case .sequentialCommit: workload == .checkout
    default: true
    }
  }

  /// Connections and round trips, for the table.
  func shape(_ workload: Workload, clients: Int, pipelinedConnections: Int) -> String {
    let connections = min(pipelinedConnections, clients)
    let depth = (clients + connections - 1) / connections
    switch (self, workload) {
    case (.pgbench, .select1), (.driver, .select1), (.deadline, .select1), (.libpq, _):
      return "\(clients) conn, 1 statement per round trip"
    case (.pgbench, .checkout): return "\(clients) conn, 6 round trips"
    case (.driver, .checkout), (.deadline, .checkout): return "\(clients) conn, 5 round trips"
    case (.sequentialCommit, _): return "\(clients) conn, 4 round trips"
    case (.pgbenchPipeline, .select1): return "\(connections) conn, \(depth) statements per pipeline"
    case (.pipelined, .select1): return "\(connections) conn, up to \(depth) statements in flight each"
    case (.pgbenchPipeline, .checkout), (.pipelined, .checkout): return "\(clients) conn, 3 round trips"
    }
  }
}

struct Key: Hashable {
  var workload: Workload
  var clients: Int
  var variant: Variant
}
let selected = Variant.allCases.filter { options.variants.isEmpty || options.variants.contains($0.rawValue) }
var results: [Key: [Measurement]] = [:]
for round in 1...options.rounds {
  for workload in Workload.allCases where options.only.isEmpty || options.only.contains(workload.rawValue) {
    for clients in options.clients {
      // The order rotates by one variant per round.
      let applicable = selected.filter { $0.applies(to: workload) }
      let shift = (round - 1) % max(1, applicable.count)
      for variant in applicable[shift...] + applicable[..<shift] {
        let measurement: Measurement
        switch variant {
        case .pgbench:
          measurement = try await Bench.pgbench(
            options, workload: workload, clients: clients, port: cluster.port, user: cluster.superuser)
        case .pgbenchPipeline:
          let connections = workload == .select1 ? min(options.pipelinedConnections, clients) : clients
          measurement = try await Bench.pgbench(
            options, workload: workload, clients: connections,
            pipelineDepth: (clients + connections - 1) / connections, port: cluster.port,
            user: cluster.superuser)
        case .driver:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: false)
        case .pipelined:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: true, commitWithLast: true)
        case .sequentialCommit:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: true)
        case .deadline:
          measurement = try await Bench.driver(
            options, workload: workload, clients: clients, url: url, pipelined: false, commitWithLast: false,
            underDeadline: true)
        case .libpq:
          measurement = try BareLibPQ.selectOne(
            url: url, clients: clients, threads: options.ioThreads, warmup: options.warmup,
            seconds: options.seconds)
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
func twoDecimals(_ value: Double) -> String {
  value.isFinite && value > 0 ? String(format: "%.2f", value) : "-"
}
func oneDecimal(_ value: Double?) -> String {
  value.map { $0.isFinite && $0 > 0 ? String(format: "%.1f", $0) : "-" } ?? "-"
}
let workloads = Workload.allCases.filter { options.only.isEmpty || options.only.contains($0.rawValue) }
let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
let clock = cpuInfo.split(separator: "\n").first { $0.hasPrefix("cpu MHz") }.map(String.init) ?? "cpu MHz: unknown"
print("")
print("\(clock); medians of \(options.rounds) rounds of \(options.warmup) s warm-up + \(options.seconds) s, variant order rotated per round")
print("")
print("| workload | callers | variant | shape | tps | client CPU µs/tx | mallocs/tx |")
print("|---|---:|---|---|---:|---:|---:|")
for workload in workloads {
  for clients in options.clients {
    for variant in selected {
      guard let runs = results[Key(workload: workload, clients: clients, variant: variant)] else { continue }
      let counted = runs.compactMap(\.allocations)
      print(
        "| \(workload.rawValue) | \(clients) | \(variant.rawValue) | "
          + "\(variant.shape(workload, clients: clients, pipelinedConnections: options.pipelinedConnections)) | "
          + "\(format(median(runs.map(\.tps)))) | \(oneDecimal(median(runs.map(\.cpuMicroseconds)))) | "
          + "\(counted.isEmpty ? "-" : oneDecimal(median(counted))) |")
    }
  }
}

/// What each comparison sets side by side.
let comparisons: [(Variant, Variant, String)] = [
  (.driver, .pgbench, "same connections, one statement per round trip (checkout: 5 round trips against 6)"),
  (.pipelined, .pgbenchPipeline, "like for like: both pipelined, same connections and round trips"),
  (.pipelined, .pgbench, "unlike: select1 4 connections against N; checkout 3 round trips against 6"),
  (.libpq, .pgbench, "pgbench's loop in Swift on libpq, no driver"),
  (.sequentialCommit, .pgbench, "4 round trips against 6"),
  (.deadline, .driver, "the same, each transaction under a deadline"),
]
print("")
print("| workload | callers | comparison | what it compares | median of per-round ratios | ratio of medians | client CPU, median of per-round ratios |")
print("|---|---:|---|---|---:|---:|---:|")
for workload in workloads {
  for clients in options.clients {
    for (variant, peer, what) in comparisons {
      guard let runs = results[Key(workload: workload, clients: clients, variant: variant)],
        let peerRuns = results[Key(workload: workload, clients: clients, variant: peer)]
      else { continue }
      let perRound = zip(runs, peerRuns).map { $0.tps / $1.tps }
      let cpuPerRound = zip(runs, peerRuns).map { $0.cpuMicroseconds / $1.cpuMicroseconds }
      print(
        "| \(workload.rawValue) | \(clients) | \(variant.rawValue) / \(peer.rawValue) | \(what) | "
          + "\(twoDecimals(median(perRound))) | \(twoDecimals(median(runs.map(\.tps)) / median(peerRuns.map(\.tps)))) | "
          + "\(twoDecimals(median(cpuPerRound))) |")
    }
  }
}
