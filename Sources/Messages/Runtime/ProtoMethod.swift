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

/// Who may call a method, as its proto declares with `option (emporium.rpc.v1.access)`
/// (proto/emporium/rpc/v1/options.proto). A caller is admitted when any set part admits it.
/// The runtime only carries the rule; an auth interceptor enforces it.
public struct ProtoAccessRule: Hashable, Sendable {
  /// Anyone, with or without an access token.
  public var anonymous: Bool
  /// Any authenticated user.
  public var anyUser: Bool
  /// Users holding at least one of these roles ("CUSTOMER", "SELLER", "ADMIN", ...).
  public var roles: [String]
  /// The user who owns the resource: any authenticated user is admitted, and the service checks
  /// ownership once it has the resource. Users holding one of ``roles`` skip that check.
  public var owner: Bool
  /// Service identities by name; a name ending in "*" matches by prefix.
  public var services: [String]

  public init(anonymous: Bool = false, anyUser: Bool = false, roles: [String] = [], owner: Bool = false, services: [String] = []) {
    self.anonymous = anonymous
    self.anyUser = anyUser
    self.roles = roles
    self.owner = owner
    self.services = services
  }

  /// Whether the rule names the service identity `name` (exactly, or by a "prefix*" pattern).
  public func admitsService(named name: String) -> Bool {
    services.contains { pattern in
      pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
    }
  }
}

/// One RPC method as declared in proto/.
///
/// Its fields live in one immutable object, so that a copy (every call carries its method) is
/// one reference, not one per string; setting `access` makes a new one.
public struct ProtoMethodDescriptor: Hashable, Sendable {
  /// The declared fields: equality and hashing are theirs.
  private struct Fields: Hashable, Sendable {
    var service: String
    var method: String
    var kind: ProtoCallKind
    var inputType: String
    var outputType: String
    var idempotency: ProtoIdempotency
    var access: ProtoAccessRule?
  }

  private final class Storage: Sendable {
    let fields: Fields
    let path: String

    init(_ fields: Fields) {
      self.fields = fields
      self.path = "/\(fields.service)/\(fields.method)"
    }
  }

  private var storage: Storage

  /// The service's fully qualified name, for example `emporium.rpc.v1.EchoService`.
  public var service: String { storage.fields.service }
  /// The method's name, for example `Echo`.
  public var method: String { storage.fields.method }
  /// Whether requests and responses stream.
  public var kind: ProtoCallKind { storage.fields.kind }
  /// The request message's fully qualified name.
  public var inputType: String { storage.fields.inputType }
  /// The response message's fully qualified name.
  public var outputType: String { storage.fields.outputType }
  /// What calling it twice does.
  public var idempotency: ProtoIdempotency { storage.fields.idempotency }
  /// Who may call it; nil when its proto declares no rule (the runtime's own services). Settable
  /// (a benchmark gives a runtime method a rule).
  public var access: ProtoAccessRule? {
    get { storage.fields.access }
    set {
      var fields = storage.fields
      fields.access = newValue
      storage = Storage(fields)
    }
  }

  /// The path a call names on the wire: `/emporium.rpc.v1.EchoService/Echo` (built once, as
  /// every call sends it).
  public var path: String { storage.path }

  public init(
    service: String, method: String, kind: ProtoCallKind, inputType: String, outputType: String,
    idempotency: ProtoIdempotency = .unknown, access: ProtoAccessRule? = nil
  ) {
    storage = Storage(
      Fields(
        service: service, method: method, kind: kind, inputType: inputType, outputType: outputType,
        idempotency: idempotency, access: access))
  }

  public static func == (lhs: Self, rhs: Self) -> Bool {
    lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(storage.fields)
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
