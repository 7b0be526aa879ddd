/// JSON text that does not parse: what was wrong and where (1-based line and column).
package struct JSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
  package var message: String
  package var line: Int
  package var column: Int

  package var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}
