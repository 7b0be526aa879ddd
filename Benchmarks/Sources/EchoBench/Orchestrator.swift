import CommerceKit
import BenchSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts servers and clients for `run` and samples the server around the client's window.
struct Orchestrator {
  let executable: String
  /// libEchoBenchMallocCounter.so, or nil to run without allocation counts.
  let preload: String?
  /// Logs and the server's allocation-count file.
  let scratch: String
  var nextPort: Int
  let seconds: Double
  let warmUp: Double
  /// The access-token keys directory shared by the server and client of auth variants (made by
  /// ``makeAuthKeys()``).
  var authKeys: String?

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Makes a signing key in `auth-keys` of the scratch directory, for auth variants: their
  /// server verifies with it and their client issues its token with it.
  mutating func makeAuthKeys() throws {
    let directory = scratch + "/auth-keys"
    _ = try AccessTokenKeySet.load(directory: directory)
    authKeys = directory
  }

  /// `--auth-keys DIR` for the server and client of `variant`, when it authenticates.
  private func authArguments(_ variant: Variant) throws -> [String] {
    guard variant.authenticates else { return [] }
    guard let authKeys else { throw Failure(description: "\(variant.id) needs makeAuthKeys() first") }
    return ["--auth-keys", authKeys]
  }

  private mutating func port() -> Int {
    defer { nextPort += 1 }
    return nextPort
  }

  var preloadEnvironment: [String: String] { preload.map { ["LD_PRELOAD": $0] } ?? [:] }

  /// Runs `malloc-check` under the counter: it must count every allocation.
  func checkMallocCounter() throws {
    let check = try ChildProcess(
      name: "malloc-check", arguments: [executable, "malloc-check"], environment: preloadEnvironment,
      stderrPath: scratch + "/malloc-check.log")
    let line = check.readLine(timeout: 30) ?? ""
    guard check.waitForExit(timeout: 30) == 0 else { throw Failure(description: "allocation counter check failed: \(line)") }
    log(line)
  }

  /// Starts a server on a fresh port; tries the next port when one is taken (the server then
  /// exits without printing READY).
  private mutating func startServer(_ variant: Variant, heapBytes: Bool, extraArguments: [String] = []) throws
    -> (ChildProcess, Int)
  {
    var lastError: (any Error)?
    for _ in 0..<5 {
      let port = port()
      do {
        return (try startServer(variant, port: port, heapBytes: heapBytes, extraArguments: extraArguments), port)
      } catch {
        log("server did not start on port \(port) (\(error)); trying the next port")
        lastError = error
      }
    }
    throw lastError!
  }

  /// Servers always run under the counter (when there is one); `heapBytes` also tracks live
  /// heap bytes, which costs a little per allocation, so only the idle runs ask for it.
  private func startServer(_ variant: Variant, port: Int, heapBytes: Bool, extraArguments: [String] = []) throws
    -> ChildProcess
  {
    var environment = preloadEnvironment
    if preload != nil {
      environment["ECHO_BENCH_MALLOC_FILE"] = mallocFile
      if heapBytes { environment["ECHO_BENCH_MALLOC_BYTES"] = "1" }
    }
    return try startServer(
      arguments: [
        "--impl", variant.implementation.rawValue, "--port", "\(port)", "--compression", variant.compression.rawValue,
      ] + authArguments(variant) + (variant.handlersInTasks ? ["--no-immediate"] : []) + extraArguments,
      environment: environment)
  }

  /// Starts `echo-bench server` with `arguments` and `environment` (added to this process's) and
  /// waits for READY; stderr goes to `server.log` in the scratch directory.
  func startServer(arguments: [String], environment: [String: String]) throws -> ChildProcess {
    let server = try ChildProcess(
      name: "server", arguments: [executable, "server"] + arguments, environment: environment,
      stderrPath: scratch + "/server.log")
    do {
      try server.expect("READY", timeout: 30)
    } catch {
      server.terminate()
      throw error
    }
    return server
  }

  /// Starts emporium servers on `count` ports from `nextPort` up (skipping ports where one does
  /// not start), each with `arguments` after `--port`; `environment(index)` for server `index`.
  mutating func startEmporiumServers(
    count: Int, arguments: [String], environment: (Int) -> [String: String] = { _ in [:] }
  ) throws -> [(process: ChildProcess, port: Int)] {
    var servers: [(process: ChildProcess, port: Int)] = []
    var failures = 0
    while servers.count < count {
      let port = port()
      do {
        let process = try startServer(
          arguments: ["--impl", "emporium", "--port", "\(port)"] + arguments, environment: environment(servers.count))
        servers.append((process, port))
      } catch {
        failures += 1
        log("server did not start on port \(port) (\(error)); trying the next port")
        if failures >= 5 {
          for server in servers { server.process.terminate() }
          throw error
        }
      }
    }
    return servers
  }

  private var mallocFile: String { scratch + "/server-mallocs" }

  /// The server's allocation counts: SIGUSR2 makes the interposer write them to `mallocFile`.
  private func serverMallocs(_ server: ChildProcess) -> MallocCounts? {
    guard preload != nil else { return nil }
    return Self.mallocCounts(of: server.pid, file: mallocFile)
  }

  /// The allocation counts of process `pid`, started with the counter preloaded and
  /// ECHO_BENCH_MALLOC_FILE=`file`: SIGUSR2 makes it write them there. Nil after 2 s without.
  static func mallocCounts(of pid: pid_t, file: String) -> MallocCounts? {
    unlink(file)
    kill(pid, SIGUSR2)
    let deadline = monotonicNanoseconds() + 2_000_000_000
    while monotonicNanoseconds() < deadline {
      if let text = try? String(contentsOfFile: file, encoding: .utf8), text.hasSuffix("\n") {
        let fields = text.dropLast().split(separator: " ")
        if fields.count == 3, let allocations = UInt64(fields[0]), let frees = UInt64(fields[1]),
          let bytes = Int64(fields[2])
        {
          return MallocCounts(allocations: allocations, frees: frees, liveBytes: bytes)
        }
      }
      usleep(1_000)
    }
    return nil
  }

  /// One `client` process with `arguments` (after `echo-bench client`), against servers that
  /// are already running: its report, and the CPU seconds all of `servers` spent between its
  /// WINDOW_START and WINDOW_END.
  func runClient(_ arguments: [String], servers: [ChildProcess], label: String) throws -> (ClientReport, Double) {
    let client = try ChildProcess(
      name: "client", arguments: [executable, "client"] + arguments, environment: preloadEnvironment,
      stderrPath: scratch + "/client.log")
    defer { client.terminate() }
    func serversCPU() throws -> Double {
      try servers.reduce(0) { total, server in
        guard let seconds = ProcFS.cpuSeconds(pid: server.pid) else {
          throw Failure(description: "cannot read /proc/\(server.pid)/stat")
        }
        return total + seconds
      }
    }
    try client.expect("WINDOW_START", timeout: warmUp + 30)
    let startCPU = try serversCPU()
    try client.expect("WINDOW_END", timeout: seconds + 30)
    let endCPU = try serversCPU()
    guard let line = client.readLine(timeout: 60), let data = line.data(using: .utf8),
      let report = try? JSONDecoder().decode(ClientReport.self, from: data)
    else {
      throw Failure(description: "\(label): no report from the client (see \(scratch)/client.log)")
    }
    client.waitForExit(timeout: 10)
    return (report, endCPU - startCPU)
  }

  /// One client run against a fresh server.
  mutating func measure(_ scenario: Scenario, _ variant: Variant, round: Int) throws -> Measurement {
    let (server, port) = try startServer(variant, heapBytes: false)
    defer { server.terminate() }
    var arguments = [
      executable, "client", "--impl", variant.implementation.rawValue, "--port", "\(port)", "--concurrency",
      "\(scenario.concurrency)", "--payload", "\(scenario.payload)", "--seconds", "\(seconds)", "--warm-up", "\(warmUp)",
      "--mode", scenario.mode.rawValue,
    ]
    if variant.implementation == .emporium { arguments += ["--compression", variant.compression.rawValue] }
    if variant.onLoop { arguments.append("--on-loop") }
    if variant.nioExecutor { arguments.append("--nio-executor") }
    arguments += try authArguments(variant)
    let client = try ChildProcess(
      name: "client", arguments: arguments, environment: preloadEnvironment, stderrPath: scratch + "/client.log")
    defer { client.terminate() }

    try client.expect("WINDOW_START", timeout: warmUp + 30)
    let startCPU = ProcFS.cpuSeconds(pid: server.pid)
    let startMallocs = serverMallocs(server)
    try client.expect("WINDOW_END", timeout: seconds + 30)
    let endCPU = ProcFS.cpuSeconds(pid: server.pid)
    let endMallocs = serverMallocs(server)
    let authCache = variant.authenticates ? serverAuthCache(server) : nil
    guard let line = client.readLine(timeout: 60), let data = line.data(using: .utf8),
      let report = try? JSONDecoder().decode(ClientReport.self, from: data)
    else {
      throw Failure(description: "\(scenario.id) \(variant.id): no report from the client (see \(scratch)/client.log)")
    }
    client.waitForExit(timeout: 10)
    guard let startCPU, let endCPU else { throw Failure(description: "cannot read the server's /proc/PID/stat") }
    var mallocs: UInt64?
    if let startMallocs, let endMallocs { mallocs = endMallocs.allocations - startMallocs.allocations }
    return Measurement(
      scenario: scenario, variant: variant, round: round, client: report, serverCPUSeconds: endCPU - startCPU,
      serverMallocs: mallocs, serverAuthCache: authCache)
  }

  /// An auth server's token cache counts so far: SIGUSR1 makes it print `AUTH hits misses entries`.
  private func serverAuthCache(_ server: ChildProcess) -> AuthCacheCounts? {
    kill(server.pid, SIGUSR1)
    guard let line = server.readLine(timeout: 5) else { return nil }
    let fields = line.split(separator: " ")
    guard fields.count == 4, fields[0] == "AUTH", let hits = Int(fields[1]), let misses = Int(fields[2]),
      let entries = Int(fields[3])
    else { return nil }
    return AuthCacheCounts(hits: hits, misses: misses, entries: entries)
  }

  /// Memory per idle connection: the server's VmRSS before and after `connections` more
  /// connections (after a warm-up connection), divided by `connections`. Emporium only:
  /// `zstdWindowLog` for both sides (nil: the library's default), and `callsPerConnection`
  /// echo calls on each connection before it idles.
  mutating func measureIdle(
    _ variant: Variant, connections: Int, round: Int, zstdWindowLog: Int? = nil, callsPerConnection: Int = 0
  ) throws -> IdleMeasurement {
    let window = zstdWindowLog.map { ["--zstd-window-log", "\($0)"] } ?? []
    let (server, port) = try startServer(variant, heapBytes: true, extraArguments: window)
    defer { server.terminate() }
    let calls = callsPerConnection > 0 ? ["--calls-per-connection", "\(callsPerConnection)"] : []
    let client = try ChildProcess(
      name: "idle", arguments: [
        executable, "idle", "--impl", variant.implementation.rawValue, "--port", "\(port)", "--connections",
        "\(connections)", "--compression", variant.compression.rawValue,
      ] + window + calls, environment: preloadEnvironment.merging(["ECHO_BENCH_MALLOC_BYTES": "1"]) { a, _ in a },
      stderrPath: scratch + "/idle.log", withInput: true)
    defer { client.terminate() }
    try client.expect("WARM", timeout: 30)
    usleep(300_000)
    guard let before = ProcFS.residentKiB(pid: server.pid) else { throw Failure(description: "cannot read VmRSS") }
    let heapBefore = serverMallocs(server)
    client.writeLine("go")
    try client.expect("CONNECTED", timeout: 120)
    let line = client.readLine(timeout: 10) ?? ""
    usleep(500_000)
    guard let after = ProcFS.residentKiB(pid: server.pid) else { throw Failure(description: "cannot read VmRSS") }
    let heapAfter = serverMallocs(server)
    let report = try JSONDecoder().decode(IdleCommand.Report.self, from: Data(line.utf8))
    client.writeLine("exit")
    client.waitForExit(timeout: 10)
    return IdleMeasurement(
      variant: variant, round: round, connections: connections, zstdWindowLog: zstdWindowLog,
      callsPerConnection: callsPerConnection,
      serverKiBPerConnection: Double(after - before) / Double(connections),
      clientKiBPerConnection: report.clientKiBPerConnection,
      serverHeapKiBPerConnection: heapBefore.flatMap { before in
        heapAfter.map { Double($0.liveBytes - before.liveBytes) / 1_024 / Double(connections) }
      },
      clientHeapKiBPerConnection: report.clientHeapKiBPerConnection)
  }
}
