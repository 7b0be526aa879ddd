import Foundation

/// pgbench run beside a benchmark, on the benchmark's own database.
public enum Pgbench {
  /// Where pgbench connects: the parts of a database URL.
  public struct Target: Sendable {
    public var host: String
    public var port: String
    public var user: String?
    public var database: String

    public init(url: String) throws {
      guard let components = URLComponents(string: url), let host = components.host else { throw Failure("cannot read \(url)") }
      self.host = host
      self.port = components.port.map(String.init) ?? "5432"
      self.user = components.user
      self.database = String(components.path.dropFirst())
    }
  }

  public struct Failure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
  }

  /// What one run did.
  public struct Outcome: Sendable {
    /// Transactions per second, without connection time.
    public var transactionsPerSecond: Double
    public var failedTransactions: Int
    /// Every transaction's latency in microseconds, when the run was asked to log them.
    public var latencies: [UInt64]
  }

  /// Runs `script` with `clients` connections (`-j 2` at most) for `seconds`.
  ///
  /// - Parameters:
  ///   - mode: pgbench's `-M`: "prepared" plans once per connection, "simple" sends the text
  ///     and so plans every statement for its values.
  ///   - logLatencies: log every transaction (`-l`) and return the latencies; pgbench itself
  ///     prints only their mean.
  public static func run(
    _ executable: String, target: Target, script: String, clients: Int, seconds: Int, mode: String = "prepared",
    variables: [String: String] = [:], logLatencies: Bool = false
  ) async throws -> Outcome {
    var arguments = ["-n", "-h", target.host, "-p", target.port, "-f", script, "-M", mode, "-c", String(clients), "-j", String(min(2, clients))]
    for (name, value) in variables.sorted(by: { $0.key < $1.key }) { arguments += ["-D", "\(name)=\(value)"] }
    arguments += ["-T", String(seconds), "--max-tries=10"]
    let logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pgbench-log-\(UUID())")
    if logLatencies {
      try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
      arguments += ["-l", "--log-prefix=\(logDirectory.path)/log"]
    }
    defer { try? FileManager.default.removeItem(at: logDirectory) }
    if let user = target.user { arguments += ["-U", user] }
    arguments.append(target.database)
    let output = try await Program.run(executable, arguments)
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
      let tps = Double(line.dropFirst(6).prefix { $0 == "." || $0.isNumber })
    else {
      throw Failure("pgbench failed: \(output)")
    }
    let failed = output.split(separator: "\n").first { $0.hasPrefix("number of failed transactions: ") }
      .flatMap { Int($0.dropFirst("number of failed transactions: ".count).prefix { $0.isNumber }) } ?? 0
    var latencies: [UInt64] = []
    if logLatencies {
      // One line per transaction: client id, transaction number, latency in µs, script number,
      // epoch seconds, microseconds. A failed transaction logs "failed" in place of its latency.
      for file in try FileManager.default.contentsOfDirectory(atPath: logDirectory.path) {
        let text = try String(contentsOfFile: logDirectory.appendingPathComponent(file).path, encoding: .utf8)
        for line in text.split(separator: "\n") {
          let fields = line.split(separator: " ")
          if fields.count > 2, let micros = UInt64(fields[2]) { latencies.append(micros) }
        }
      }
    }
    return Outcome(transactionsPerSecond: tps, failedTransactions: failed, latencies: latencies)
  }
}
