/// One configuration: call kind, payload size, calls in flight.
struct Scenario: Hashable, Codable, Sendable {
  var mode: CallMode
  var payload: Int
  var concurrency: Int

  /// The name used by `--scenarios`, for example unary-100-64 or bidi-4096-1.
  var id: String { "\(mode.rawValue)-\(payload)-\(concurrency)" }

  var label: String {
    let size = payload % 1_024 == 0 && payload > 0 ? "\(payload / 1_024) KiB" : "\(payload) B"
    return "\(mode.rawValue) \(size) × \(concurrency)"
  }

  init(mode: CallMode, payload: Int, concurrency: Int) {
    self.mode = mode
    self.payload = payload
    self.concurrency = concurrency
  }

  init?(id: String) {
    let parts = id.split(separator: "-")
    guard parts.count == 3, let mode = CallMode(rawValue: String(parts[0])), let payload = Int(parts[1]),
      let concurrency = Int(parts[2])
    else { return nil }
    self.init(mode: mode, payload: payload, concurrency: concurrency)
  }

  static let all: [Scenario] =
    [100, 4_096].flatMap { payload in [1, 64, 256].map { Scenario(mode: .unary, payload: payload, concurrency: $0) } }
    + [1, 64].map { Scenario(mode: .bidi, payload: 100, concurrency: $0) }

  static let quick: [Scenario] = [
    Scenario(mode: .unary, payload: 100, concurrency: 1), Scenario(mode: .unary, payload: 100, concurrency: 64),
    Scenario(mode: .bidi, payload: 100, concurrency: 64),
  ]
}
