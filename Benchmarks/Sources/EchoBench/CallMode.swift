import ArgumentParser

/// How a client calls.
enum CallMode: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
  /// One unary `Echo` call per request.
  case unary
  /// Long-lived `Update` streams, one per task; each request waits for its echo before the next.
  case bidi
}
