import ArgumentParser

/// The connection compression a process offers (Emporium only; the others always use none).
enum CompressionChoice: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
  case none
  case zstd
}
