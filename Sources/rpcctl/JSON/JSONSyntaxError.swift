/// JSON text that does not parse: what was wrong and where (1-based line and column).
struct JSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
  var message: String
  var line: Int
  var column: Int

  var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}
