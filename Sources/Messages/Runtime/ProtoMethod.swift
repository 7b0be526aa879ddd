/// How many messages each side of a call sends.
public enum ProtoCallKind: String, Hashable, Sendable, CaseIterable {
  /// One request, one response.
  case unary
  /// One request, a stream of responses.
  case serverStreaming
  /// A stream of requests, one response.
  case clientStreaming
  /// Streams both ways.
  case bidirectionalStreaming
}

/// What calling a method twice does, as its proto declares with `option idempotency_level`.
/// Clients use it to decide what they may retry after a failure that may have reached the
/// server.
public enum ProtoIdempotency: String, Hashable, Sendable, CaseIterable {
  /// Not declared: the method may have effects that a second call repeats.
  case unknown
  /// Read-only (`NO_SIDE_EFFECTS`).
  case noSideEffects
  /// Calling twice has the effect of calling once (`IDEMPOTENT`).
  case idempotent

  /// Whether a second call is safe.
  public var isRetrySafe: Bool { self != .unknown }
}

/// One RPC method as declared in proto/.
public struct ProtoMethodDescriptor: Hashable, Sendable {
  /// The service's fully qualified name, for example `emporium.rpc.v1.EchoService`.
  public let service: String
  /// The method's name, for example `Echo`.
  public let method: String
  /// Whether requests and responses stream.
  public var kind: ProtoCallKind
  /// The request message's fully qualified name.
  public var inputType: String
  /// The response message's fully qualified name.
  public var outputType: String
  /// What calling it twice does.
  public var idempotency: ProtoIdempotency

  /// The path a call names on the wire: `/emporium.rpc.v1.EchoService/Echo` (built once, as
  /// every call sends it).
  public let path: String

  public init(
    service: String, method: String, kind: ProtoCallKind, inputType: String, outputType: String,
    idempotency: ProtoIdempotency = .unknown
  ) {
    self.idempotency = idempotency
    self.service = service
    self.method = method
    self.kind = kind
    self.inputType = inputType
    self.outputType = outputType
    self.path = "/\(service)/\(method)"
  }
}

/// One service as declared in proto/: its name and methods in declaration order.
public struct ProtoServiceDescriptor: Hashable, Sendable {
  /// The fully qualified service name.
  public var name: String
  /// The methods, in declaration order.
  public var methods: [ProtoMethodDescriptor]

  public init(name: String, methods: [ProtoMethodDescriptor]) {
    self.name = name
    self.methods = methods
  }
}

/// A generated method: its request and response types and its description. Servers and client
/// stubs are built from these.
public protocol ProtoMethod {
  /// The request message.
  associatedtype Input: ProtoMessage
  /// The response message.
  associatedtype Output: ProtoMessage
  /// The method's description.
  static var descriptor: ProtoMethodDescriptor { get }
}
