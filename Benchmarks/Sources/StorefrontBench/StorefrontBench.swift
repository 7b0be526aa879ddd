import ArgumentParser
import BenchSupport
import CommerceAPI
import CommerceCatalog
import CommerceKit
import EmporiumApp
import Foundation
import Histogram
import Logging
import Messages
import NIOCore
import Postgres
import RPC
import ServiceLifecycle
import Synchronization

/// `storefront-bench`: CatalogService through RPC on a seeded database, side by side with echo
/// in the same run. See docs/PERFORMANCE.md, "Storefront: search and product pages".
///
/// One process hosts two servers on 127.0.0.1 over the same database, as `emporium serve`
/// would (EmporiumApp: auth + catalog + echo): one with the catalog's caches (product pages,
/// 64 MiB; search results, 16 MiB for 2 s), one with both off. For each concurrency (closed
/// loop: that many callers, each sending its next call when the previous one answered), each
/// round measures, in this order (reversed in odd rounds): echo, GetProduct cached (a set of
/// 1,000 products, each read once before), GetProduct uncached (random products on the
/// cache-less server), the search mix without the result cache, and the same mix with it. The
/// mix takes one word, two words, a typo, a prefix, with filters, with facets in turn; its 240
/// queries are made from the seeded catalog's own words and titles, so with the result cache
/// most calls repeat a query answered under 2 s ago: read that line as the cost of a popular
/// query, and the line without the cache as the cost of a query nobody asked lately. Latency
/// goes into one HdrHistogram per caller, merged.
@main
struct StorefrontBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "storefront-bench", abstract: "CatalogService search and product pages over RPC, beside echo, on a seeded database.")

  @Option(help: "The seeded database (emporium seed).") var databaseURL: String
  @Option(help: "Callers per phase, comma-separated.") var concurrency = "1,16"
  @Option(help: "Seconds of warm-up per phase.") var warmup = 1.0
  @Option(help: "Seconds measured per phase.") var seconds = 4.0
  @Option(help: "Rounds (phase order alternates).") var rounds = 3
  @Flag(help: "At the end, time each query of the search mix alone and print EXPLAIN ANALYZE of the slowest.") var explain = false
  @Flag(help: "Also measure echo and cached GetProduct on a third server whose handlers all run in tasks (immediate paths off).")
  var tasksToo = false
  @Flag(help: "Also run the mix's own SQL with pgbench at each concurrency, in the same rounds (docs/PERFORMANCE.md, \"The database's own ceiling\").")
  var ceiling = false
  @Option(help: "pgbench, for --ceiling.") var pgbench = "/usr/lib/postgresql/15/bin/pgbench"
  @Option(help: "Only the phases whose names start with one of these, comma-separated (for example \"echo,GetProduct cached\").")
  var only: String?

  func run() async throws {
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    let logger = Logger(label: "storefront-bench")
    let cached = try await Host.start(databaseURL: databaseURL, caching: true, logger: logger)
    let uncached = try await Host.start(databaseURL: databaseURL, caching: false, logger: logger)
    let inTasks = tasksToo ? try await Host.start(databaseURL: databaseURL, caching: true, immediate: false, logger: logger) : nil
    defer {
      Task {
        await cached.stop()
        await uncached.stop()
        await inTasks?.stop()
      }
    }
    let corpus = try await Corpus.load(cached.app.pool)
    print("catalog: \(corpus.productCount) active products; \(corpus.productIDs.count) product ids sampled")
    let levels = concurrency.split(separator: ",").compactMap { Int($0) }
    var results: [String: [Phase.Result]] = [:]
    if ceiling {
      // pgbench's connections start with the settings the service's connections start with.
      let sessionOptions = EmporiumApp.Configuration(databaseURL: databaseURL).databaseSessionSettings.sorted { $0.key < $1.key }
        .map { "-c \($0.key)=\($0.value)" }.joined(separator: " ")
      setenv("PGOPTIONS", sessionOptions, 1)
    }
    let ceilingScripts = ceiling ? try await Ceiling.write(corpus.searchMix, service: uncached.catalogService, pool: cached.app.pool) : nil
    defer { ceilingScripts?.remove() }
    let pgbenchTarget = try Pgbench.Target(url: databaseURL)
    func runCeiling(_ round: Int, _ callers: Int) async throws {
      guard let ceilingScripts else { return }
      for (name, script) in zip(Ceiling.phaseNames, [ceilingScripts.mixScript, ceilingScripts.countScript]) {
        let result = try await ceilingScripts.measure(script, pgbench: pgbench, target: pgbenchTarget, clients: callers, seconds: seconds)
        results["\(name) × \(callers)", default: []].append(result)
        print("round \(round + 1) \(name) × \(callers): \(Int(result.callsPerSecond)) calls/s, p50 \(result.p50) µs, p99 \(result.p99) µs, errors \(result.errors)")
      }
    }
    for round in 0..<rounds {
      for callers in levels {
        var phases: [Phase] = [
          .echo(cached.echo), .getProductCached(cached.catalog, Array(corpus.productIDs.prefix(1000))),
          .getProductUncached(uncached.catalog, corpus.productIDs), .search(uncached.catalog, corpus.searchMix, cached: false),
          .search(cached.catalog, corpus.searchMix, cached: true),
        ]
        if let inTasks {
          phases += [
            .echo(inTasks.echo, inTasks: true),
            .getProductCached(inTasks.catalog, Array(corpus.productIDs.prefix(1000)), inTasks: true),
          ]
        }
        if let only {
          let prefixes = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
          phases = phases.filter { phase in prefixes.contains { phase.name.hasPrefix($0) } }
        }
        if round % 2 == 1 {
          phases.reverse()
          try await runCeiling(round, callers)
        }
        for phase in phases {
          let result = try await phase.measure(callers: callers, warmup: warmup, seconds: seconds)
          results["\(phase.name) × \(callers)", default: []].append(result)
          print(
            "round \(round + 1) \(phase.name) × \(callers): \(Int(result.callsPerSecond)) calls/s, p50 \(result.p50) µs, p99 \(result.p99) µs, errors \(result.errors)"
          )
          if case .getProductCached(_, _, let tasks) = phase {
            let statistics = (tasks ? inTasks! : cached).catalogService.cacheStatistics
            print("    product cache: \(statistics.hits) hits, \(statistics.misses) misses, \(statistics.entries) entries, \(statistics.bytes) bytes")
          }
          if case .search(_, _, true) = phase {
            let statistics = cached.catalogService.searchCacheStatistics
            print("    search cache (whole run): \(statistics.hits) hits, \(statistics.misses) misses, \(statistics.entries) entries, \(statistics.bytes) bytes")
          }
          for (kind, histogram) in result.byKind.sorted(by: { $0.key < $1.key }) {
            print("    \(kind): p50 \(histogram.valueAtPercentile(50)) µs, p99 \(histogram.valueAtPercentile(99)) µs, n \(histogram.totalCount)")
          }
        }
        if round % 2 == 0 { try await runCeiling(round, callers) }
      }
    }
    print("\n| phase | calls/s (median) | p50 µs | p99 µs | ÷ echo calls/s |")
    print("|---|---:|---:|---:|---:|")
    for callers in levels {
      let echo = median(results["echo × \(callers)"]?.map(\.callsPerSecond) ?? [])
      for name in [
        "echo", "GetProduct cached", "GetProduct uncached", "SearchProducts mix, no result cache", "SearchProducts mix",
        "echo, handlers in tasks", "GetProduct cached, handlers in tasks",
      ] + Ceiling.phaseNames {
        guard let group = results["\(name) × \(callers)"] else { continue }
        let calls = median(group.map(\.callsPerSecond))
        print(
          "| \(name) × \(callers) | \(Int(calls)) | \(Int(median(group.map { Double($0.p50) }))) | \(Int(median(group.map { Double($0.p99) }))) | \(String(format: "%.2f", calls / echo)) |"
        )
      }
    }
    if ceiling {
      print("\nThe service's cold search against its own SQL (medians):\n")
      for callers in levels {
        let service = median(results["SearchProducts mix, no result cache × \(callers)"]?.map(\.callsPerSecond) ?? [])
        let sql = median(results["\(Ceiling.phaseNames[0]) × \(callers)"]?.map(\.callsPerSecond) ?? [])
        let count = median(results["\(Ceiling.phaseNames[1]) × \(callers)"]?.map(\.callsPerSecond) ?? [])
        print(
          "× \(callers): searches ÷ the mix's SQL \(String(format: "%.2f", service / sql)), the mix's SQL ÷ counting its matches \(String(format: "%.2f", sql / count))"
        )
      }
    }
    for name in ["SearchProducts mix, no result cache", "SearchProducts mix"] {
      print("\n\(name), by kind (all rounds merged):\n")
      print("| kind × callers | p50 µs | p99 µs | calls |")
      print("|---|---:|---:|---:|")
      for callers in levels {
        var merged: [String: Histogram<UInt64>] = [:]
        for result in results["\(name) × \(callers)"] ?? [] {
          for (kind, histogram) in result.byKind { merged[kind, default: Phase.histogram()].add(histogram) }
        }
        for (kind, histogram) in merged.sorted(by: { $0.key < $1.key }) {
          print("| \(kind) × \(callers) | \(histogram.valueAtPercentile(50)) | \(histogram.valueAtPercentile(99)) | \(histogram.totalCount) |")
        }
      }
    }
    if explain {
      // The slowest query of the mix: each one alone, three times on the server without the
      // result cache (the median of the three, so one unlucky run does not pick it), then its
      // plan. Alone, because under load a query's latency is mostly the queue it waited in.
      var timings: [(micros: Int64, kind: String, request: CommerceV1.SearchProductsRequest)] = []
      var timed = Set<[UInt8]>()
      for (kind, request) in corpus.searchMix where timed.insert(try request.serializedBytes()).inserted {
        var samples: [Int64] = []
        for _ in 0..<3 {
          let started = ContinuousClock.now
          _ = try await uncached.catalog.searchProducts(request)
          let elapsed = ContinuousClock.now - started
          samples.append(elapsed.wholeMicroseconds)
        }
        timings.append((samples.sorted()[1], kind, request))
      }
      timings.sort { $0.micros > $1.micros }
      print("\nThe mix's slowest queries alone (median of 3 calls, one caller, no result cache):\n")
      print("| query | kind | µs |")
      print("|---|---|---:|")
      for timing in timings.prefix(5) {
        print("| \(Self.describe(timing.request)) | \(timing.kind) | \(timing.micros) |")
      }
      if let slowest = timings.first {
        print("\nEXPLAIN ANALYZE of the slowest query, \(Self.describe(slowest.request)):")
        print(try await uncached.catalogService.explainSearch(slowest.request))
      }
    }
    await cached.stop()
    await uncached.stop()
    await inTasks?.stop()
  }

  /// A search request as a table cell: its text, and what else it asks for.
  static func describe(_ request: CommerceV1.SearchProductsRequest) -> String {
    var parts = [request.query.isEmpty ? "(no text)" : "\"\(request.query)\""]
    if !request.categoryIds.isEmpty { parts.append("category") }
    if request.priceRange != nil { parts.append("price range") }
    if request.inStockOnly { parts.append("in stock") }
    if request.includeFacets { parts.append("facets" + (request.facetAttributeNames.isEmpty ? "" : " (\(request.facetAttributeNames.joined(separator: ", ")))")) }
    return parts.joined(separator: ", ")
  }

  func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
  }
}

/// One server over the seeded database, and a client connection to it.
struct Host: Sendable {
  let app: EmporiumApp
  let catalogService: CatalogService
  let running: Task<Void, any Error>
  let group: ServiceGroup
  let connection: RPCConnection
  var catalog: CommerceV1.CatalogService.Client { .init(connection) }
  var echo: RpcV1.EchoService.Client { .init(connection) }

  final class Made: Sendable {
    let service = Mutex<CatalogService?>(nil)
  }

  static func start(databaseURL: String, caching: Bool, immediate: Bool = true, logger: Logger) async throws -> Host {
    var configuration = EmporiumApp.Configuration(databaseURL: databaseURL)
    configuration.server.immediateHandlers = immediate
    let made = Made()
    var catalogConfiguration = CatalogService.Configuration()
    if !caching {
      catalogConfiguration.cacheBudgetBytes = 0
      catalogConfiguration.searchCacheBudgetBytes = 0
    }
    let finalConfiguration = catalogConfiguration
    configuration.services = ServiceCatalog.all.filter { $0.name == "auth" } + [
      ServiceDeclaration(name: "catalog", schema: "catalog", migrations: CatalogService.migrations, peers: ["auth"]) { environment in
        let service = CatalogService(
          pool: environment.pool, auth: environment.peers.transport(for: "auth"), configuration: finalConfiguration,
          logger: environment.logger)
        made.service.withLock { $0 = service }
        return HostedService(rpc: service, background: service.backgroundServices)
      }
    ]
    configuration.settings["auth"] = ["bootstrap-admin": "off"]
    configuration.server.port = 0
    configuration.extraServices = [EchoService()]
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let port = try await app.server.localAddress().port!
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
    return Host(app: app, catalogService: made.service.withLock { $0 }!, running: running, group: group, connection: connection)
  }

  func stop() async {
    await connection.close()
    await group.triggerGracefulShutdown()
    _ = try? await running.value
    await app.close()
  }
}

/// What the phases ask for, taken from the seeded catalog itself.
struct Corpus: Sendable {
  var productCount: Int64
  var productIDs: [String]
  var searchMix: [(kind: String, request: CommerceV1.SearchProductsRequest)]

  static func load(_ pool: PostgresPool) async throws -> Corpus {
    let count = try await pool.query("SELECT count(*) FROM catalog.search_documents").scalar(as: Int64.self) ?? 0
    let ids = try await pool.query(
      "SELECT product_id::text FROM catalog.search_documents ORDER BY md5(product_id::text) LIMIT 20000"
    ).map { try $0.decode(0, as: String.self) }
    // Frequent title words, long enough to misspell.
    let words = try await pool.query(
      """
      SELECT w FROM (SELECT DISTINCT lower(regexp_split_to_table(title, '[^[:alpha:]]+')) AS w
                     FROM (SELECT title FROM catalog.search_documents ORDER BY product_id LIMIT 2000) t) x
      WHERE char_length(w) >= 6 ORDER BY w LIMIT 40
      """
    ).map { try $0.decode(0, as: String.self) }
    let titles = try await pool.query("SELECT title FROM catalog.search_documents ORDER BY md5(title) LIMIT 40").map {
      try $0.decode(0, as: String.self)
    }
    let categories = try await pool.query(
      "SELECT id::text FROM catalog.categories WHERE depth = 0 ORDER BY slug LIMIT 10"
    ).map { try $0.decode(0, as: String.self) }
    var mix: [(String, CommerceV1.SearchProductsRequest)] = []
    for (index, word) in words.enumerated() {
      mix.append(("1 one word", .with { $0.query = word }))
      let title = titles[index % max(1, titles.count)].split(separator: " ").prefix(2).joined(separator: " ")
      mix.append(("2 two words", .with { $0.query = title }))
      var letters = Array(word)
      letters.swapAt(2, 3)
      mix.append(("3 typo", .with { $0.query = String(letters) }))
      mix.append(("4 prefix", .with { $0.query = String(word.prefix(4)) }))
      mix.append(
        ("5 filters",
         .with {
           $0.query = word
           if !categories.isEmpty { $0.categoryIds = [categories[index % categories.count]] }
           $0.priceRange = .with {
             $0.minPrice = .with { $0.amountMinor = 1_000; $0.currency = "USD" }
             $0.maxPrice = .with { $0.amountMinor = 20_000; $0.currency = "USD" }
           }
           $0.inStockOnly = true
         }))
      mix.append(
        ("6 facets",
         .with {
           $0.query = word
           $0.includeFacets = true
           $0.facetAttributeNames = ["brand", "color"]
         }))
    }
    return Corpus(productCount: count, productIDs: ids, searchMix: mix)
  }
}

/// One measured workload.
enum Phase: Sendable {
  case echo(RpcV1.EchoService.Client, inTasks: Bool = false)
  case getProductCached(CommerceV1.CatalogService.Client, [String], inTasks: Bool = false)
  case getProductUncached(CommerceV1.CatalogService.Client, [String])
  case search(CommerceV1.CatalogService.Client, [(kind: String, request: CommerceV1.SearchProductsRequest)], cached: Bool)

  var name: String {
    switch self {
    case .echo(_, let inTasks): inTasks ? "echo, handlers in tasks" : "echo"
    case .getProductCached(_, _, let inTasks): inTasks ? "GetProduct cached, handlers in tasks" : "GetProduct cached"
    case .getProductUncached: "GetProduct uncached"
    case .search(_, _, let cached): cached ? "SearchProducts mix" : "SearchProducts mix, no result cache"
    }
  }

  struct Result: Sendable {
    var callsPerSecond: Double
    var p50: UInt64
    var p99: UInt64
    var errors: Int
    var byKind: [String: Histogram<UInt64>]
  }

  static func histogram() -> Histogram<UInt64> { Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three) }

  /// The kind of call number `index`, and the call.
  func call(_ index: Int) async throws -> String {
    switch self {
    case .echo(let client, _):
      _ = try await client.echo(.with { $0.message = "storefront" })
      return "echo"
    case .getProductCached(let client, let ids, _), .getProductUncached(let client, let ids):
      _ = try await client.getProduct(.with { $0.productId = ids[index % ids.count] })
      return "get"
    case .search(let client, let mix, _):
      let entry = mix[index % mix.count]
      _ = try await client.searchProducts(entry.request)
      return entry.kind
    }
  }

  func measure(callers: Int, warmup: Double, seconds: Double) async throws -> Result {
    // The cached phase reads every product of its set once first, so that it measures hits.
    if case .getProductCached(let client, let ids, _) = self {
      for id in ids { _ = try await client.getProduct(.with { $0.productId = id }) }
    }
    _ = await loop(callers: callers, seconds: warmup, seed: 0)
    let measured = await loop(callers: callers, seconds: seconds, seed: 1_000_003)
    var all = Self.histogram()
    var byKind: [String: Histogram<UInt64>] = [:]
    var errors = 0
    for caller in measured {
      errors += caller.errors
      for (kind, histogram) in caller.byKind {
        all.add(histogram)
        byKind[kind, default: Self.histogram()].add(histogram)
      }
    }
    return Result(
      callsPerSecond: Double(all.totalCount) / seconds, p50: all.valueAtPercentile(50), p99: all.valueAtPercentile(99), errors: errors,
      byKind: byKind.count > 1 ? byKind : [:])
  }

  struct CallerResult: Sendable {
    var byKind: [String: Histogram<UInt64>]
    var errors: Int
  }

  private func loop(callers: Int, seconds: Double, seed: Int) async -> [CallerResult] {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    return await withTaskGroup(of: CallerResult.self) { group in
      for caller in 0..<callers {
        group.addTask {
          var result = CallerResult(byKind: [:], errors: 0)
          var index = seed + caller * 7919
          while ContinuousClock.now < deadline {
            let start = ContinuousClock.now
            do {
              let kind = try await call(index)
              let elapsed = ContinuousClock.now - start
              let micros = UInt64(elapsed.wholeMicroseconds)
              _ = result.byKind[kind, default: Phase.histogram()].record(max(1, micros))
            } catch {
              result.errors += 1
            }
            index += callers
          }
          return result
        }
      }
      var all: [CallerResult] = []
      for await result in group { all.append(result) }
      return all
    }
  }
}
