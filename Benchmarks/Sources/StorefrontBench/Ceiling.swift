import BenchSupport
import CommerceAPI
import CommerceCatalog
import Foundation
import Histogram
import Postgres

/// The search mix's own SQL run by pgbench: what the database does for the mix with no RPC, no
/// service code and no driver of ours. Two scripts, each picking one query of the mix at random
/// per transaction:
///
/// - "the mix's SQL": the statements the service runs for that query (its page with the count,
///   then its facets when it asks for them, one after the other where the service runs them
///   side by side on two connections), after the service checked its words for typos;
/// - "counting the mix's matches": one count of the query's matches and nothing else, the least
///   a search that counts and ranks its matches when asked can do.
///
/// pgbench runs them with `-M simple`, so every statement is planned for its values, as the
/// service plans searches (`Planning.perCall`), with the session settings the service's
/// connections start with.
struct Ceiling {
  var mixScript: String
  var countScript: String
  let directory: URL

  static let phaseNames = ["pgbench: the mix's SQL", "pgbench: counting the mix's matches"]

  static func write(
    _ mix: [(kind: String, request: CommerceV1.SearchProductsRequest)], service: CatalogService, pool: PostgresPool
  ) async throws -> Ceiling {
    var mixBranches: [String] = []
    var countBranches: [String] = []
    for (_, request) in mix {
      let statements = try await service.searchStatements(request)
      var branch = [try await inline(statements.page, pool) + ";"]
      if let facets = statements.facets { branch.append(try await inline(facets, pool) + ";") }
      mixBranches.append(branch.joined(separator: "\n"))
      countBranches.append(try await inline(statements.countOnly, pool) + ";")
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("storefront-ceiling-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let ceiling = Ceiling(
      mixScript: directory.appendingPathComponent("mix.sql").path, countScript: directory.appendingPathComponent("count.sql").path,
      directory: directory)
    try script(mixBranches).write(toFile: ceiling.mixScript, atomically: true, encoding: .utf8)
    try script(countBranches).write(toFile: ceiling.countScript, atomically: true, encoding: .utf8)
    return ceiling
  }

  func remove() { try? FileManager.default.removeItem(at: directory) }

  /// A pgbench script running one of `branches` at random per transaction.
  private static func script(_ branches: [String]) -> String {
    var lines = ["\\set i random(1, \(branches.count))"]
    for (index, branch) in branches.enumerated() {
      lines.append("\\\(index == 0 ? "if" : "elif") :i = \(index + 1)")
      // pgbench reads a statement until its semicolon, across lines.
      lines.append(branch)
    }
    lines.append("\\endif")
    return lines.joined(separator: "\n") + "\n"
  }

  /// `statement` with its parameters written as literals, quoted by PostgreSQL itself
  /// (`quote_literal` of the value sent as the driver sends it). The statements cast every
  /// parameter whose type the context does not fix, so an untyped literal reads the same.
  private static func inline(_ statement: CatalogService.SearchStatement, _ pool: PostgresPool) async throws -> String {
    var literals: [String] = []
    for parameter in statement.parameters {
      guard let literal = try await pool.query("SELECT quote_literal($1)", [parameter]).scalar(as: String.self) else {
        throw Pgbench.Failure("cannot quote a parameter of \(statement.sql)")
      }
      // pgbench would read ":name" inside a literal as one of its variables.
      if literal.range(of: #":[A-Za-z_]"#, options: .regularExpression) != nil {
        throw Pgbench.Failure("the literal \(literal) holds what pgbench reads as a variable")
      }
      literals.append(literal)
    }
    // $12 before $1: replace whole numbers only, scanning once.
    var sql = ""
    var rest = Substring(statement.sql)
    while let dollar = rest.firstIndex(of: "$") {
      sql += rest[..<dollar]
      let digits = rest[rest.index(after: dollar)...].prefix { $0.isNumber }
      if let number = Int(digits), number >= 1, number <= literals.count {
        sql += literals[number - 1]
        rest = rest[digits.endIndex...]
      } else {
        sql += "$"
        rest = rest[rest.index(after: dollar)...]
      }
    }
    return sql + rest
  }

  /// One run of `script` at `clients` connections.
  func measure(
    _ script: String, pgbench: String, target: Pgbench.Target, clients: Int, seconds: Double
  ) async throws -> Phase.Result {
    let outcome = try await Pgbench.run(
      pgbench, target: target, script: script, clients: clients, seconds: max(1, Int(seconds.rounded())), mode: "simple",
      logLatencies: true)
    var histogram = Phase.histogram()
    for latency in outcome.latencies { _ = histogram.record(max(1, latency)) }
    return Phase.Result(
      callsPerSecond: outcome.transactionsPerSecond, p50: histogram.valueAtPercentile(50), p99: histogram.valueAtPercentile(99),
      errors: outcome.failedTransactions, byKind: [:])
  }
}
