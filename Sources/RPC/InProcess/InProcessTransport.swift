public import Messages
public import NIOCore
import Synchronization

/// Calls the services an ``RPCServer`` hosts in this process, without a socket.
///
/// Generated clients take it like any transport (`RpcV1.EchoService.Client(transport)`), and a
/// call goes through what it would go through over a connection: the client interceptors
/// (``ClientPipeline``), the server's admission (``ServerCore/admit(path:draining:callID:peer:)``:
/// drain, unknown method, handler limit, refusals counted and logged), the server's
/// interceptors, logger, metrics, deadline and status mapping (``ServerCore/run(_:io:context:)``),
/// the message size limits, flow control and encoding. It skips only what a socket needs: frames, compression
/// and the network. Errors are the ones a connection gives, value for value.
///
/// The server does not need to listen: in-process calls are accepted from the server's creation
/// until ``RPCServer/beginGracefulShutdown()``, and a running `serve()` drains them with its
/// connections.
///
/// Each call's handler runs in a task of its own, which starts on the caller's thread and then
/// runs on the caller's task executor, if it has one (a handler calling another service on an
/// event loop stays there), so a call that does not wait costs no thread hop. The handler's task
/// inherits the caller's priority but none of its task-local values: as over a connection, only
/// the call's metadata and deadline cross.
public final class InProcessTransport: ClientTransport {
  /// The caller's side of in-process calls: what a connection's client settings would say.
  public struct Configuration: Sendable {
    /// Run around every call, first outermost.
    public var interceptors: [any ClientInterceptor] = []
    /// The largest response message accepted; a larger one fails the call with
    /// RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE), as over a connection. Default 4 MiB.
    public var maxMessageSize: UInt32 = ConnectionSettings().maxMessageSize
    /// Response bytes a handler may write ahead of the caller's reads before it waits (a
    /// connection's INITIAL_CALL_WINDOW). Default 64 KiB.
    public var initialCallWindow: UInt32 = ConnectionSettings().initialCallWindow

    public init() {}
  }

  /// The server whose services this transport calls.
  public let server: RPCServer
  private let configuration: Configuration
  private let limits: InProcessCall.Limits
  private let lastCallID = Atomic<UInt32>(0)

  /// A transport to `server`'s services; `interceptors` run around every call, first outermost.
  public convenience init(server: RPCServer, interceptors: [any ClientInterceptor] = []) {
    var configuration = Configuration()
    configuration.interceptors = interceptors
    self.init(server: server, configuration: configuration)
  }

  public init(server: RPCServer, configuration: Configuration) {
    self.server = server
    self.configuration = configuration
    let settings = server.core.configuration.settings
    self.limits = InProcessCall.Limits(
      requestWindow: Int(settings.initialCallWindow), maxRequestSize: Int(settings.maxMessageSize),
      responseWindow: Int(configuration.initialCallWindow), maxResponseSize: Int(configuration.maxMessageSize),
      responseDecoding: ProtoDecodingLimits(maxMessageSize: Int(configuration.maxMessageSize)))
  }

  // MARK: ClientTransport

  public func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    try await intercepted(method: method, options: options) { context in
      let (call, handler) = try self.open(context)
      return try await withTaskCancellationHandler {
        // The request is queued before the handler starts, so a handler that does not wait
        // runs to its end right here and the response is ready when the caller looks.
        call.sendUnaryRequest(request)
        self.start(handler, call)
        guard var response = try await call.nextResponse() else {
          throw RPCError(code: .internal, message: "the server ended a unary call without a response")
        }
        while let later = try await call.nextResponse() { response = later }
        return response
      } onCancel: {
        call.cancel()
      }
    }
  }

  public func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    try await intercepted(method: method, options: options) { context in
      let (call, handler) = try self.open(context)
      return try await withTaskCancellationHandler {
        self.start(handler, call)
        do {
          let result = try await body(call.caller)
          call.cancel()  // no-op when the call already ended
          return result
        } catch {
          call.cancel()
          throw error
        }
      } onCancel: {
        call.cancel()
      }
    }
  }

  private func intercepted<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    try await ClientPipeline.run(method: method, options: options, interceptors: configuration.interceptors, body)
  }

  // MARK: Opening a call

  /// A call's method and context, until its handler starts.
  private struct Handler {
    let method: RPCRouter.Method
    let context: ServerContext
  }

  /// Admits a call through the server's admission (``ServerCore/admit(path:draining:callID:peer:)``,
  /// as for a connection's calls: same checks, same errors, refusals counted and logged), takes
  /// a handler slot and arms the deadline; the handler is not started yet.
  private func open(_ context: ClientCallContext) throws -> (InProcessCall, Handler) {
    // As a connection's client: computed in the calling task, which sees the inherited deadline.
    // A deadline already passed fails the call here, before the server sees it, as a
    // connection's client fails it before sending HEADERS.
    let deadline = context.options.effectiveDeadline()
    var timeout: Duration?
    if let deadline {
      let remaining = ContinuousClock.now.duration(to: deadline)
      guard remaining > .zero else {
        throw RPCError.rpc(.deadlineExceeded, .deadlineTooShort, "the deadline passed before the call started")
      }
      timeout = remaining
    }
    let core = server.core
    let path = context.method.path
    let callID = nextCallID()
    let (metadata, headerSize) = context.options.metadata.asSent(path: path)
    let maxHeaderSize = core.configuration.settings.maxHeaderSize
    guard headerSize <= Int(maxHeaderSize) else {
      // Counted and logged without the path, as a connection, which does not decode HEADERS
      // over the limit, does.
      throw core.refuse(
        .rpc(
          .resourceExhausted, .metadataTooLarge,
          "call metadata of \(headerSize) bytes exceeds the limit of \(maxHeaderSize)",
          metadata: ["limitBytes": "\(maxHeaderSize)"]),
        path: nil, callID: callID, peer: Self.peer
      ).asReceived
    }
    let method: RPCRouter.Method
    switch core.admit(path: path, draining: server.inProcessCalls.isDraining, callID: callID, peer: Self.peer) {
    case .success(let admitted): method = admitted
    case .failure(let error): throw error.asReceived
    }
    let call = InProcessCall(id: callID, limits: limits, registry: server.inProcessCalls)
    guard server.inProcessCalls.add(call) else {
      // The drain began since the admission.
      core.handlerSlots.release()
      throw core.refuse(ServerCore.drainingError, path: path, callID: callID, peer: Self.peer).asReceived
    }
    if let timeout {
      call.setDeadlineTimer(server.group.any().scheduleTask(in: TimeAmount(timeout)) { call.deadlineExceeded() })
    }
    let serverContext = ServerContext(
      method: method.descriptor, metadata: metadata, deadline: deadline, peer: Self.peer, callID: callID,
      serverLogger: core.logger)
    return (call, Handler(method: method, context: serverContext))
  }

  /// The peer of every in-process call, in its context and logs.
  static let peer = "in-process"

  private func nextCallID() -> UInt32 {
    while true {
      let id = lastCallID.wrappingAdd(1, ordering: .relaxed).newValue
      if id != 0 { return id }
    }
  }

  /// Starts the handler in its own task, through the server's one call pipeline; gives the slot
  /// back instead if the call already ended (cancelled, or its deadline passed, before this).
  private func start(_ handler: Handler, _ call: InProcessCall) {
    let core = server.core
    guard !call.hasEnded else {
      core.handlerSlots.release()
      return
    }
    let io = ServerCallIO(source: MessageSource(call: call, limits: core.decodingLimits), sink: MessageSink(call: call))
    let task = Self.handlerTask {
      let trailers = await core.run(handler.method, io: io, context: handler.context)
      // The slot is free before the caller learns the outcome: a caller that calls again at
      // once is never refused for its own previous call.
      core.handlerSlots.release()
      call.finish(trailers)
    }
    call.setHandler(task)
  }

  /// A task for one handler: started at once on this thread (no enqueue) and resumed on the
  /// caller's task executor, if any; no task-local values cross.
  private static func handlerTask(_ operation: sending @escaping @concurrent () async -> Void) -> Task<Void, Never> {
    let priority = Task.currentPriority
    if #available(macOS 26.4, iOS 26.4, watchOS 26.4, tvOS 26.4, visionOS 26.4, *) {
      let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor?.asTaskExecutor() }
      return Task.immediateDetached(priority: priority, executorPreference: preferred, operation: operation)
    }
    return Task.detached(priority: priority, operation: operation)
  }
}

extension Metadata {
  /// What crossing a connection leaves of this metadata, and the size of the HEADERS payload
  /// that opens a call to `path` with it (nil: not a call's opening).
  ///
  /// The frame encoder (`FrameEncoder.writeMetadata`) skips invalid keys, text values that are
  /// not printable ASCII and entries past 65,535; the decoder reads values under `-bin` keys as
  /// bytes and the others as text. A binary value under another key that is not printable text
  /// would be a connection error; in-process it is dropped.
  func asSent(path: String?) -> (metadata: Metadata, headerSize: Int) {
    var size = path.map { 2 + $0.utf8.count + 8 } ?? 0
    size += 2
    var canonical = true
    var count = 0
    for (key, value) in self {
      let sent = Self.sentEntry(key, value)
      guard count < Int(UInt16.max), let sent else {
        canonical = false
        continue
      }
      if sent != value { canonical = false }
      count += 1
      size += 1 + key.utf8.count + 4 + sent.byteCount
    }
    guard !canonical else { return (self, size) }
    var metadata = Metadata()
    count = 0
    for (key, value) in self {
      guard count < Int(UInt16.max), let sent = Self.sentEntry(key, value) else { continue }
      switch sent {
      case .text(let text): metadata.add(key, text)
      case .binary(let bytes): metadata.add(key, binary: bytes)
      }
      count += 1
    }
    return (metadata, size)
  }

  /// The entry as the other side of a connection reads it, or nil when it does not get there.
  private static func sentEntry(_ key: String, _ value: Entry) -> Entry? {
    guard isValidKey(key.utf8) else { return nil }
    let isBinaryKey = key.hasSuffix("-bin")
    switch value {
    case .text(let text):
      guard isValidText(text.utf8) else { return nil }
      return isBinaryKey ? .binary(Array(text.utf8)) : value
    case .binary(let bytes):
      if isBinaryKey { return value }
      return isValidText(bytes) ? .text(String(decoding: bytes, as: UTF8.self)) : nil
    }
  }
}
