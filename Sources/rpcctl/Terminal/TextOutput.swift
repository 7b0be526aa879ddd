/// A sink for text. Each `write` is written whole, so lines from concurrent tasks do not mix.
protocol TextOutput: Sendable {
  func write(_ text: String)
}
