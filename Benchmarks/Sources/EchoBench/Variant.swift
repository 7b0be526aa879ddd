/// One implementation as the benchmark runs it: which server and client, which compression,
/// and (Emporium) whether the calling tasks run on the connection's event loop, or on NIO's
/// event loops installed as the client process's global executor; and (Emporium) whether every
/// call is authenticated (``AuthBench``).
struct Variant: Hashable, Codable, Sendable {
  var implementation: Implementation
  var compression: CompressionChoice = .none
  var onLoop = false
  var nioExecutor = false
  /// Emporium only: the server runs `AuthInterceptor` with every call needing a user's token, and
  /// the client sends `authorization: Bearer <token>` on every call (nil in results from before
  /// the variant existed).
  var auth: Bool? = nil
  /// Emporium only: the server runs every handler in a task, with unary methods' immediate
  /// paths off (`RPCServer.Configuration.immediateHandlers`; nil in results from before it).
  var taskHandlers: Bool? = nil

  var authenticates: Bool { auth ?? false }
  var handlersInTasks: Bool { taskHandlers ?? false }

  /// The name used by `--variants`: emporium-none, emporium-none-loop, emporium-none-nio-executor,
  /// emporium-zstd, emporium-zstd-loop, grpc, nio; and emporium-none-auth and
  /// emporium-none-tasks (not in `all`).
  var id: String {
    switch implementation {
    case .emporium:
      "emporium-\(compression.rawValue)\(onLoop ? "-loop" : "")\(nioExecutor ? "-nio-executor" : "")\(authenticates ? "-auth" : "")\(handlersInTasks ? "-tasks" : "")"
    case .grpc: "grpc"
    case .nio: "nio"
    }
  }

  var label: String {
    switch implementation {
    case .emporium:
      "Emporium, \(compression.rawValue)\(onLoop ? ", on-loop" : "")\(nioExecutor ? ", NIO executor" : "")\(authenticates ? ", auth" : "")\(handlersInTasks ? ", handlers in tasks" : "")"
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

  /// Emporium, no compression, every call authenticated (`echo-bench auth`, or `run --variants`).
  static let emporiumAuth = Variant(implementation: .emporium, compression: .none, auth: true)

  /// Emporium, no compression, with every echo handled in a task of its own, as before unary
  /// methods had immediate paths: the comparison for them.
  static let emporiumTasks = Variant(implementation: .emporium, compression: .none, taskHandlers: true)

  /// What `--variants` accepts: `all` (the default set), the auth variant and the task variant.
  static let selectable: [Variant] = all + [emporiumAuth, emporiumTasks]

  /// The variants for memory per idle connection (the executor makes no difference there).
  static let idle: [Variant] = all.filter { !$0.onLoop && !$0.nioExecutor }
}
