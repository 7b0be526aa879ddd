public import Messages
public import NIOCore

/// The methods a server hosts, by path. Generated service protocols register themselves here.
public struct RPCRouter: Sendable {
  /// One hosted method with its body, type-erased over its messages. A class: every call holds
  /// its method, and passing one reference costs one retain where the fields would cost one
  /// each (the descriptor's strings, both bodies, the metrics).
  final class Method: Sendable {
    let descriptor: ProtoMethodDescriptor
    /// The path's UTF-8 bytes, as a HEADERS frame carries them.
    let pathBytes: ByteBuffer
    let run: @Sendable (ServerCallIO, ServerContext) async throws -> Void
    /// A unary method's immediate path (``RPCRouter/registerUnary(_:immediate:_:)``), over
    /// encoded messages: the response, or nil to leave the call to `run`.
    let immediate: (@Sendable (ByteBuffer, ServerContext, ProtoDecodingLimits, inout ByteBuffer) throws -> ByteBuffer?)?
    /// The method's server metrics (nil until the server attaches them, or when it records none).
    let metrics: MethodMetrics?

    init(
      descriptor: ProtoMethodDescriptor, metrics: MethodMetrics? = nil,
      immediate: (@Sendable (ByteBuffer, ServerContext, ProtoDecodingLimits, inout ByteBuffer) throws -> ByteBuffer?)? = nil,
      run: @escaping @Sendable (ServerCallIO, ServerContext) async throws -> Void
    ) {
      self.descriptor = descriptor
      self.pathBytes = ByteBuffer(string: descriptor.path)
      self.metrics = metrics
      self.immediate = immediate
      self.run = run
    }
  }

  private(set) var methods: [String: Method] = [:] {
    didSet { methodsByPathBytes = Dictionary(uniqueKeysWithValues: methods.map { (ByteBuffer(string: $0.key), $0.value) }) }
  }
  /// The same methods by their paths' UTF-8 bytes, so a call received on a connection finds its
  /// method by the bytes of its HEADERS frame without building a String.
  private var methodsByPathBytes: [ByteBuffer: Method] = [:]
  private(set) var services: [ProtoServiceDescriptor] = []
  /// The message types of every hosted service's module, for reflection.
  private(set) var types = ProtoTypeRegistry.messages

  public init() {}

  /// Adds every method of `service`.
  public mutating func add(_ service: some RPCService) {
    services.append(service.serviceDescriptor)
    if !service.serviceDescriptor.methods.allSatisfy({ types.messageTypes[$0.inputType] != nil }) {
      types = types.merging(service.protoTypes)
    }
    service.registerMethods(with: &self)
    if let immediate = service as? any RPCServiceImmediatePaths { immediate.registerImmediatePaths(with: &self) }
  }

  subscript(path: String) -> Method? { methods[path] }

  /// The method whose path has these UTF-8 bytes.
  subscript(pathBytes pathBytes: ByteBuffer) -> Method? { methodsByPathBytes[pathBytes] }

  /// Gives every method its metrics, created here once rather than per call.
  mutating func attach(_ metrics: ServerMetrics) {
    guard metrics.isRecording else { return }
    for (path, method) in methods {
      methods[path] = Method(
        descriptor: method.descriptor, metrics: metrics.method(path), immediate: method.immediate, run: method.run)
    }
  }

  public mutating func registerUnary<M: ProtoMethod>(
    _ method: M.Type, _ body: @escaping @Sendable (M.Input, ServerContext) async throws -> M.Output
  ) {
    methods[M.descriptor.path] = Method(descriptor: M.descriptor) { io, context in
      let request: M.Input = try await io.singleRequest()
      try await io.sendResponse(try await body(request, context))
    }
  }

  /// Hosts a unary method with an immediate path beside its handler: `immediate` runs on the
  /// connection's event loop as soon as the request arrives, without a task, and either answers
  /// (returns the response or throws, as a handler does) or returns nil to leave the call to
  /// `body`, which then runs as any handler does.
  ///
  /// For answers that need nothing but the request and memory: a cache hit, a validation error,
  /// an echo. `immediate` must not block or wait, and must have no effect when it returns nil
  /// (`body` runs next); it runs with no ``RPCDeadline`` or ``RPCTrace`` task-locals (the
  /// context carries both) and makes no calls. The server runs it inside its interceptors'
  /// synchronous forms (``ServerInterceptor/interceptImmediately(context:next:)``; an interceptor
  /// without one sends every call to `body`) when
  /// ``RPCServer/Configuration/immediateHandlers`` is on; other transports (in-process) run
  /// `body`. So the two must give the same answer.
  public mutating func registerUnary<M: ProtoMethod>(
    _ method: M.Type, immediate: @escaping @Sendable (M.Input, ServerContext) throws -> M.Output?,
    _ body: @escaping @Sendable (M.Input, ServerContext) async throws -> M.Output
  ) {
    registerUnary(method, body)
    addImmediatePath(method, immediate)
  }

  /// Gives a unary method registered already (by a generated `registerMethods`) the immediate
  /// path of ``registerUnary(_:immediate:_:)``: what a generated service's
  /// ``RPCServiceImmediatePaths/registerImmediatePaths(with:)`` calls.
  public mutating func addImmediatePath<M: ProtoMethod>(
    _ method: M.Type, _ immediate: @escaping @Sendable (M.Input, ServerContext) throws -> M.Output?
  ) {
    setImmediatePath(method) { request, context, scratch in
      guard let response = try immediate(request, context) else { return nil }
      // The connection writes the answer at once, so its buffer is free again for the next.
      try ServerCallIO.encode(response, into: &scratch)
      return scratch
    }
  }

  /// ``addImmediatePath(_:_:)`` for a path that keeps its answers encoded (a cache of
  /// responses): `immediate` returns the response's bytes, sent as they are.
  public mutating func addImmediatePath<M: ProtoMethod>(
    _ method: M.Type, encodedResponse immediate: @escaping @Sendable (M.Input, ServerContext) throws -> ByteBuffer?
  ) {
    setImmediatePath(method) { request, context, _ in try immediate(request, context) }
  }

  /// Gives the registered unary method `method` an immediate path over its decoded request;
  /// `immediate` may encode its answer into the connection's buffer (its third argument).
  private mutating func setImmediatePath<M: ProtoMethod>(
    _ method: M.Type,
    _ immediate: @escaping @Sendable (M.Input, ServerContext, inout ByteBuffer) throws -> ByteBuffer?
  ) {
    guard let registered = methods[M.descriptor.path], M.descriptor.kind == .unary else {
      preconditionFailure("\(M.descriptor.path) is not a registered unary method")
    }
    methods[M.descriptor.path] = Method(
      descriptor: registered.descriptor, metrics: registered.metrics,
      immediate: { bytes, context, limits, scratch in
        try immediate(try ServerCallIO.decode(M.Input.self, bytes, limits: limits), context, &scratch)
      },
      run: registered.run)
  }

  public mutating func registerServerStreaming<M: ProtoMethod>(
    _ method: M.Type,
    _ body: @escaping @Sendable (M.Input, ResponseStreamWriter<M.Output>, ServerContext) async throws -> Void
  ) {
    methods[M.descriptor.path] = Method(descriptor: M.descriptor) { io, context in
      let request: M.Input = try await io.singleRequest()
      try await body(request, ResponseStreamWriter(sink: io.sink), context)
    }
  }

  public mutating func registerClientStreaming<M: ProtoMethod>(
    _ method: M.Type, _ body: @escaping @Sendable (RequestStream<M.Input>, ServerContext) async throws -> M.Output
  ) {
    methods[M.descriptor.path] = Method(descriptor: M.descriptor) { io, context in
      try await io.sendResponse(try await body(RequestStream(source: io.source), context))
    }
  }

  /// Hosts `descriptor` with a body that reads and writes its encoded messages as they are,
  /// without decoding them: for a proxy that forwards calls it does not interpret (the API
  /// gateway). The body reads requests until nil and may send response headers, then messages;
  /// what it throws ends the call as any handler's error does.
  public mutating func registerRaw(
    _ descriptor: ProtoMethodDescriptor, _ body: @escaping @Sendable (RawServerCall, ServerContext) async throws -> Void
  ) {
    methods[descriptor.path] = Method(descriptor: descriptor) { io, context in
      try await body(RawServerCall(io: io), context)
    }
  }

  public mutating func registerBidirectionalStreaming<M: ProtoMethod>(
    _ method: M.Type,
    _ body: @escaping @Sendable (RequestStream<M.Input>, ResponseStreamWriter<M.Output>, ServerContext) async throws
      -> Void
  ) {
    methods[M.descriptor.path] = Method(descriptor: M.descriptor) { io, context in
      try await body(RequestStream(source: io.source), ResponseStreamWriter(sink: io.sink), context)
    }
  }
}

/// One call of a method registered with ``RPCRouter/registerRaw(_:_:)``, in encoded messages.
public struct RawServerCall: Sendable {
  let io: ServerCallIO

  /// The next request message; nil once the caller has closed its side. Reading grants the
  /// caller flow-control credit.
  public func nextRequest() async throws -> ByteBuffer? { try await io.source.next() }

  /// Sends one response message, suspending while the caller has granted no credit for it.
  public func send(_ message: ByteBuffer) async throws { try await io.sink.send(message) }

  /// Sends response headers (at most once, before any message).
  public func sendHeaders(_ metadata: Metadata) async throws { try await io.sink.sendHeaders(metadata) }

  /// The limits the server decodes requests with.
  public var decodingLimits: ProtoDecodingLimits { io.source.limits }
}

/// A generated service that answers some unary methods on the event loop: after its generated
/// `registerMethods`, the router asks it for those methods' immediate paths
/// (``RPCRouter/addImmediatePath(_:_:)``).
public protocol RPCServiceImmediatePaths: RPCService {
  func registerImmediatePaths(with router: inout RPCRouter)
}

/// A service a server can host. Generated `ServiceProtocol`s refine this and implement both
/// requirements; only the methods are left to write.
public protocol RPCService: Sendable {
  /// The service's description.
  var serviceDescriptor: ProtoServiceDescriptor { get }
  /// The message types of the module the service was generated into (its requests, responses
  /// and everything they refer to), for reflection.
  var protoTypes: ProtoTypeRegistry { get }
  /// Registers the service's methods.
  func registerMethods(with router: inout RPCRouter)
}

extension RPCService {
  /// The runtime's own message types: the registry of services written by hand over
  /// `emporium.rpc.v1` and test messages. Generated services name their module's registry.
  public var protoTypes: ProtoTypeRegistry { .messages }
}

/// What a method body uses to talk to its call.
struct ServerCallIO: Sendable {
  let source: MessageSource
  let sink: MessageSink

  /// See ``ServerCallStream/endedEarly``.
  var endedEarly: RPCStatusCode? { source.call.endedEarly }

  /// The one request of a unary or server-streaming call.
  func singleRequest<M: ProtoMessage>() async throws -> M {
    guard let bytes = try await source.next() else {
      throw RPCError(code: .invalidArgument, message: "the call ended without a request message")
    }
    return try Self.decode(M.self, bytes, limits: source.limits)
  }

  func sendResponse<M: ProtoMessage>(_ message: M) async throws {
    try await sink.send(try Self.encode(message))
  }

  /// A request message from its bytes; what does not decode is the caller's error.
  static func decode<M: ProtoMessage>(_ type: M.Type, _ bytes: ByteBuffer, limits: ProtoDecodingLimits) throws -> M {
    do {
      return try M(decoding: bytes, limits: limits)
    } catch {
      throw RPCError.undecodableRequest(error, limits: limits)
    }
  }

  /// A response message's bytes; what does not encode is the server's error.
  static func encode(_ message: some ProtoMessage) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    try encode(message, into: &buffer)
    return buffer
  }

  /// Encodes `message` into `buffer`, replacing what it held (its storage is reused when
  /// nothing else holds it).
  static func encode(_ message: some ProtoMessage, into buffer: inout ByteBuffer) throws {
    buffer.clear()
    do {
      try message.encode(into: &buffer)
    } catch {
      throw RPCError(code: .internal, message: "response message could not be encoded: \(error)")
    }
  }
}
