import ArgumentParser
import RPC

/// `--compression`.
enum CompressionChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
  case zstd, none

  var compression: ConnectionSettings.Compression { self == .zstd ? .zstd : .none }
}
