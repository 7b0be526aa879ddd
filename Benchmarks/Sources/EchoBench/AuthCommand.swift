import ArgumentParser
import CommerceKit
import Foundation
import Messages
import RPC

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench auth`: what `AuthInterceptor` costs, side by side with the same echo without it.
///
/// `--rounds` rounds of unary echo (`--payload` B, `--concurrency` in flight, compression none),
/// each round running `emporium-none` and `emporium-none-auth` once, each a fresh server and a
/// fresh client process as `run` does; the order alternates between rounds (none first in odd
/// rounds, auth first in even ones). The auth server runs `AuthInterceptor` with every call
/// needing a signed-in user (``AuthBench/SignedInEcho``); the client issues one user token
/// with the keys of a temporary directory both load, and sends it on every call. After each auth
/// window the server reports its token cache counts (SIGUSR1). Then, in this process, what one
/// verification costs with and without the cache. Prints the command line and Markdown tables;
/// the ratios auth ÷ none of the two runs of each round are the numbers to read on a shared
/// machine.
struct AuthCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "auth", abstract: "Echo with AuthInterceptor checking a token on every call vs without auth.")

  @Option(help: "Measured seconds per run.") var seconds: Double = 5
  @Option(help: "Warm-up seconds per run.") var warmUp: Double = 2
  @Option(help: "Rounds (each variant once per round, order alternating).") var rounds: Int = 6
  @Option(help: "Calls in flight on the one connection.") var concurrency: Int = 64
  @Option(help: "Request payload in bytes.") var payload: Int = 100
  @Option(help: "Distinct tokens for the in-process verification cost (0 skips it).") var verifyTokens: Int = 2_000
  @Option(help: "First port to use (one per run, counting up).") var basePort: Int = 24_300
  @Option(help: "libEchoBenchMallocCounter.so (default: next to this executable).") var mallocCounter: String?
  @Flag(help: "Run without the allocation counter.") var noMallocCounter = false
  @Option(help: "Where to write all measurements as JSON.") var output = "/tmp/echo-bench-auth.json"

  struct Summary: Codable {
    var command: String
    var date: String
    var machine: Machine
    var seconds: Double
    var warmUp: Double
    var rounds: Int
    var elapsedSeconds: Double
    var measurements: [Measurement]
    var verify: VerifyCost?
  }

  func validate() throws {
    guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    guard concurrency >= 1, payload >= 0, verifyTokens >= 0 else {
      throw ValidationError("--concurrency must be positive, --payload and --verify-tokens not negative")
    }
  }

  func run() async throws {
    let executable = try RunCommand.ownExecutable()
    let counter = mallocCounter ?? (executable as NSString).deletingLastPathComponent + "/libEchoBenchMallocCounter.so"
    let preload = !noMallocCounter && FileManager.default.fileExists(atPath: counter) ? counter : nil
    let scratch = NSTemporaryDirectory() + "echo-bench-auth-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch + "/auth-keys") }
    var orchestrator = Orchestrator(
      executable: executable, preload: preload, scratch: scratch, nextPort: basePort, seconds: seconds, warmUp: warmUp)
    if preload != nil { try orchestrator.checkMallocCounter() }
    try orchestrator.makeAuthKeys()

    let command = CommandLine.arguments.joined(separator: " ")
    let started = Date()
    let scenario = Scenario(mode: .unary, payload: payload, concurrency: concurrency)
    let plain = Variant(implementation: .emporium, compression: .none)
    var measurements: [Measurement] = []
    for round in 0..<rounds {
      for variant in round % 2 == 0 ? [plain, Variant.emporiumAuth] : [Variant.emporiumAuth, plain] {
        let measurement = try orchestrator.measure(scenario, variant, round: round)
        let cache = measurement.serverAuthCache.map { ", token cache \($0.hits) hits, \($0.misses) misses, \($0.entries) cached" }
        log(
          "\(variant.id) round \(round + 1): \(Int(measurement.client.callsPerSecond)) calls/s, "
            + "p50 \(measurement.client.p50Micros) µs, p99 \(measurement.client.p99Micros) µs, "
            + "server \(Report.format(measurement.serverCPUMicrosPerCall)) CPU µs/call\(cache ?? "")")
        measurements.append(measurement)
      }
    }
    let verify = verifyTokens > 0 ? try await VerifyCost.measure(tokens: verifyTokens) : nil
    if let verify { log("verify: \(verify)") }

    let results = Summary(
      command: command, date: ISO8601DateFormatter().string(from: started), machine: Machine.current(),
      seconds: seconds, warmUp: warmUp, rounds: rounds, elapsedSeconds: Date().timeIntervalSince(started),
      measurements: measurements, verify: verify)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(results).write(to: URL(fileURLWithPath: output))
    print(Self.markdown(results))
    log("measurements written to \(output)")
  }

  // MARK: Tables

  static func markdown(_ results: Summary) -> String {
    var out: [String] = []
    let first = results.measurements[0].scenario
    out.append("Command: `\(results.command)`")
    out.append("")
    out.append(
      "\(results.machine.line) \(results.date). \(results.rounds) round(s), "
        + "\(Report.format(results.warmUp)) s warm-up + \(Report.format(results.seconds)) s measured per run; "
        + "\(first.label), compression none; took \(Int(results.elapsedSeconds / 60)) min.")
    out.append("")
    out.append(
      "| variant | runs | calls/s | range | p50 µs | p99 µs | client CPU µs/call | server CPU µs/call | server mallocs/call |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    let plain = results.measurements.filter { !$0.variant.authenticates }
    let auth = results.measurements.filter { $0.variant.authenticates }
    for group in [plain, auth] where !group.isEmpty {
      let rates = group.map(\.client.callsPerSecond)
      let errors = group.reduce(0) { $0 + $1.client.errors }
      let mallocs = group.compactMap(\.serverMallocsPerCall)
      out.append(
        "| \(group[0].variant.id)\(errors > 0 ? " (\(errors) errors)" : "") | \(group.count) | "
          + "\(Report.grouping(Report.median(rates))) | \(Report.grouping(rates.min()!))–\(Report.grouping(rates.max()!)) | "
          + "\(Report.grouping(Report.median(group.map { Double($0.client.p50Micros) }))) | "
          + "\(Report.grouping(Report.median(group.map { Double($0.client.p99Micros) }))) | "
          + "\(Report.format(Report.median(group.map(\.clientCPUMicrosPerCall)))) | "
          + "\(Report.format(Report.median(group.map(\.serverCPUMicrosPerCall)))) | "
          + "\(mallocs.isEmpty ? "–" : Report.format(Report.median(mallocs))) |")
    }

    let pairs: [(none: Measurement, auth: Measurement)] = (0..<results.rounds).compactMap { round in
      guard let none = plain.first(where: { $0.round == round }), let auth = auth.first(where: { $0.round == round })
      else { return nil }
      return (none, auth)
    }
    if !pairs.isEmpty {
      out.append("")
      out.append("Each round (auth's server token cache: whole run, warm-up included):")
      out.append("")
      out.append(
        "| round | order | none calls/s | auth calls/s | auth ÷ none | none p99 µs | auth p99 µs | cache hits | misses | cached |")
      out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
      for (none, auth) in pairs {
        let cache = auth.serverAuthCache
        out.append(
          "| \(none.round + 1) | \(none.round % 2 == 0 ? "none, auth" : "auth, none") | "
            + "\(Report.grouping(none.client.callsPerSecond)) | \(Report.grouping(auth.client.callsPerSecond)) | "
            + "\(PoolCommand.times(auth.client.callsPerSecond / none.client.callsPerSecond)) | "
            + "\(Report.grouping(Double(none.client.p99Micros))) | \(Report.grouping(Double(auth.client.p99Micros))) | "
            + "\(cache.map { Report.grouping(Double($0.hits)) } ?? "–") | \(cache.map { String($0.misses) } ?? "–") | "
            + "\(cache.map { String($0.entries) } ?? "–") |")
      }
      func ratio(_ value: (Measurement) -> Double) -> String {
        let ratios = pairs.map { value($0.auth) / value($0.none) }
        return "\(PoolCommand.times(Report.median(ratios))) (\(PoolCommand.times(ratios.min()!))–\(PoolCommand.times(ratios.max()!)))"
      }
      out.append("")
      out.append("Auth ÷ none, from the two runs of each round (median over rounds, range in brackets):")
      out.append("")
      out.append("| calls/s | p50 | p99 | server CPU/call | total CPU/call (client + server) |")
      out.append("|---:|---:|---:|---:|---:|")
      out.append(
        "| \(ratio { $0.client.callsPerSecond }) | \(ratio { Double($0.client.p50Micros) }) | "
          + "\(ratio { Double($0.client.p99Micros) }) | \(ratio(\.serverCPUMicrosPerCall)) | \(ratio(\.cpuMicrosPerCall)) |")
    }

    if let verify = results.verify {
      out.append("")
      out.append(
        "In-process, one thread, \(verify.tokens) distinct user tokens (median of \(verify.repetitions) repetitions, µs per operation):")
      out.append("")
      out.append(
        "| issue (sign) | verify, uncached (distinct tokens) | verify, cached (same token) | interceptor, cached token | interceptor, method without a rule |")
      out.append("|---:|---:|---:|---:|---:|")
      out.append(
        "| \(Report.format(verify.issueMicros)) | \(Report.format(verify.uncachedMicros)) | "
          + "\(Report.format(verify.cachedMicros)) | \(Report.format(verify.interceptorCachedMicros)) | "
          + "\(Report.format(verify.interceptorNoRuleMicros)) |")
    }
    return out.joined(separator: "\n")
  }
}

/// What one token costs in-process: signing, verifying without and with the cache, and the whole
/// interceptor (header, cached verification, rule, task-local) against the same interceptor on a
/// method without a rule.
struct VerifyCost: Codable, Sendable, CustomStringConvertible {
  var tokens: Int
  var repetitions: Int
  var issueMicros: Double
  /// `verify` of `tokens` distinct tokens, each once, into a fresh cache: the signature check,
  /// claims decoding and the cache insertion.
  var uncachedMicros: Double
  /// `verify` of one token already cached.
  var cachedMicros: Double
  /// `AuthInterceptor` on ``AuthBench/SignedInEcho`` (rule "any signed-in user"), a cached token.
  var interceptorCachedMicros: Double
  /// `AuthInterceptor` on Echo as it is (no rule: the call passes untouched).
  var interceptorNoRuleMicros: Double

  var description: String {
    "issue \(Report.format(issueMicros)) µs, verify uncached \(Report.format(uncachedMicros)) µs, cached "
      + "\(Report.format(cachedMicros)) µs, interceptor cached \(Report.format(interceptorCachedMicros)) µs, "
      + "no rule \(Report.format(interceptorNoRuleMicros)) µs"
  }

  static func measure(tokens count: Int, repetitions: Int = 3) async throws -> VerifyCost {
    let keys = try AccessTokenKeySet.ephemeral()
    let issuer = await AccessTokens(keys: keys)
    var issue: [Double] = []
    var uncached: [Double] = []
    var cached: [Double] = []
    var intercepted: [Double] = []
    var noRule: [Double] = []
    let hits = count * 20
    for repetition in 0..<repetitions {
      var tokens: [String] = []
      tokens.reserveCapacity(count)
      var start = monotonicNanoseconds()
      for index in 0..<count {
        var user = AuthBench.user
        user.subject = "echo-bench-user-\(repetition)-\(index)"
        tokens.append(try await issuer.issue(for: user, lifetime: .seconds(3_600)).token)
      }
      issue.append(micros(since: start, count: count))

      let verifier = await AccessTokens(keys: keys, cacheCapacity: count + 1)
      start = monotonicNanoseconds()
      for token in tokens { _ = try await verifier.verify(token) }
      uncached.append(micros(since: start, count: count))

      let token = tokens[0]
      start = monotonicNanoseconds()
      for _ in 0..<hits { _ = try await verifier.verify(token) }
      cached.append(micros(since: start, count: hits))

      let metadata: Metadata = ["authorization": "Bearer " + token]
      let context = ServerContext(
        method: AuthBench.SignedInEcho.descriptor, metadata: metadata, deadline: nil, peer: "echo-bench", callID: 1)
      let interceptor = AuthInterceptor(tokens: verifier)
      start = monotonicNanoseconds()
      for _ in 0..<hits { try await interceptor.intercept(context: context) { _ in } }
      intercepted.append(micros(since: start, count: hits))

      let echo = ServerContext(
        method: RpcV1.EchoService.Echo.descriptor, metadata: metadata, deadline: nil, peer: "echo-bench", callID: 1)
      start = monotonicNanoseconds()
      for _ in 0..<hits { try await interceptor.intercept(context: echo) { _ in } }
      noRule.append(micros(since: start, count: hits))
    }
    return VerifyCost(
      tokens: count, repetitions: repetitions, issueMicros: Report.median(issue),
      uncachedMicros: Report.median(uncached), cachedMicros: Report.median(cached),
      interceptorCachedMicros: Report.median(intercepted), interceptorNoRuleMicros: Report.median(noRule))
  }

  private static func micros(since start: UInt64, count: Int) -> Double {
    Double(monotonicNanoseconds() - start) / 1_000 / Double(count)
  }
}
