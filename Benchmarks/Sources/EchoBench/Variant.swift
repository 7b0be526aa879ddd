/// One implementation as the benchmark runs it: which server and client, which compression,
/// and (Emporium) whether the calling tasks run on the connection's event loop, or on NIO's
/// event loops installed as the client process's global executor.
struct Variant: Hashable, Codable, Sendable {
  var implementation: Implementation
  var compression: CompressionChoice = .none
  var onLoop = false
  var nioExecutor = false

  /// The name used by `--variants`: emporium-none, emporium-none-loop, emporium-none-nio-executor,
  /// emporium-zstd, emporium-zstd-loop, grpc, nio.
  var id: String {
    switch implementation {
    case .emporium:
      "emporium-\(compression.rawValue)\(onLoop ? "-loop" : "")\(nioExecutor ? "-nio-executor" : "")"
    case .grpc: "grpc"
    case .nio: "nio"
    }
  }

  var label: String {
    switch implementation {
    case .emporium:
      "Emporium, \(compression.rawValue)\(onLoop ? ", on-loop" : "")\(nioExecutor ? ", NIO executor" : "")"
    case .grpc: "grpc-swift-2"
    case .nio: "bare NIO"
    }
  }

  static let all: [Variant] = [
    Variant(implementation: .emporium, compression: .none),
    Variant(implementation: .emporium, compression: .none, onLoop: true),
    Variant(implementation: .emporium, compression: .none, nioExecutor: true),
    Variant(implementation: .emporium, compression: .zstd),
    Variant(implementation: .emporium, compression: .zstd, onLoop: true),
    Variant(implementation: .grpc),
    Variant(implementation: .nio),
  ]

  /// The variants for memory per idle connection (the executor makes no difference there).
  static let idle: [Variant] = all.filter { !$0.onLoop && !$0.nioExecutor }
}
