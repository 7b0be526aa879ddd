public import CoreMetrics
import Messages
public import NIOCore

extension RPCServer {
  /// How a server listens, what it lets clients do, and how it shuts down.
  public struct Configuration: Sendable {
    /// Where to listen. Default 127.0.0.1:7700.
    public var host = "127.0.0.1"
    public var port = 7700
    /// The limits and capabilities announced to every client; a metadata table of 16 entries
    /// (docs/PROTOCOL.md §7.1) unless set otherwise.
    public var settings: ConnectionSettings = {
      var settings = ConnectionSettings()
      settings.metadataTableSize = 16
      return settings
    }()
    /// Flood limits for PING and CANCEL frames.
    public var limits = FloodLimits()
    /// Handlers running at once, across all connections; calls past it are refused
    /// (RESOURCE_EXHAUSTED, marked refused so clients may retry elsewhere). Default 10,000.
    public var maxRunningHandlers = 10_000
    /// How long a new connection has to complete the handshake. Default 10 s.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Idle time after which the server pings a client. Default 60 s.
    public var keepaliveInterval: TimeAmount = .seconds(60)
    /// How long a ping may go unanswered before the connection is closed. Default 20 s.
    public var keepaliveTimeout: TimeAmount = .seconds(20)
    /// How long a client may leave responses unread (socket not writable) before the
    /// connection is closed. Default 30 s.
    public var writeStallTimeout: TimeAmount = .seconds(30)
    /// zstd level for responses (1 is fast; 3 is zstd's default). Default 1.
    public var zstdLevel: Int32 = 1
    /// The largest zstd window the server compresses with (further capped by each client's
    /// ZSTD_WINDOW_LOG_MAX). Default 17.
    public var zstdWindowLog: Int32 = 17
    /// How long a graceful shutdown waits for running calls before cancelling them. Default 30 s.
    public var drainTimeout: TimeAmount = .seconds(30)
    /// Run handlers on their connection's event loop (no thread hop per call; handlers must
    /// not block) rather than on Swift's global executor. Default true.
    public var runHandlersOnEventLoop = true
    /// Answer unary calls through their methods' immediate paths
    /// (``RPCRouter/registerUnary(_:immediate:_:)``) on the connection's event loop, without a
    /// task, where the server's interceptors have synchronous forms. Off: every call runs its
    /// handler in a task. Default true.
    public var immediateHandlers = true
    /// Host the built-in health and reflection services. Default true.
    public var builtInServices = true
    /// Where the server's metrics go (docs/OBSERVABILITY.md). Nil: the factory `MetricsSystem`
    /// has when the server is created (the bootstrapped one, or one bound with
    /// `withMetricsFactory`); with none bootstrapped nothing is recorded.
    public var metricsFactory: (any MetricsFactory)?

    public init() {}

    /// Decoding limits for request messages, from the announced settings.
    var decodingLimits: ProtoDecodingLimits {
      ProtoDecodingLimits(maxMessageSize: Int(settings.maxMessageSize))
    }
  }
}
