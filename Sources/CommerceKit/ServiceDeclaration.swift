public import Logging
public import Postgres
public import RPC
public import ServiceLifecycle
import Messages
import NIOCore

/// What a commerce service tells the composition root about itself: its identity, its schema
/// and migrations, the services it calls, and how to make it. The composition root
/// (EmporiumApp) migrates the schema, hands the service its peers' transports, hosts its
/// handlers and runs its background work; the service itself never learns where its peers run.
///
/// ```swift
/// extension AuthService {
///   public static let declaration = ServiceDeclaration(
///     name: "auth", schema: "auth", migrations: try! Migration.load(directory: migrationsPath),
///     peers: []) { environment in HostedService(rpc: try await AuthService(environment)) }
/// }
/// ```
public struct ServiceDeclaration: Sendable {
  /// The service identity's name, which its calls to other services carry (for example
  /// "orders"); access rules name it.
  public var name: String
  /// The PostgreSQL schema the service owns; no other service reads it.
  public var schema: String
  /// The schema's migrations, shipped as the target's resources.
  public var migrations: [Migration]
  /// The identities of the services it calls (for example ["catalog", "inventory"]); the
  /// composition root must be able to reach each one.
  public var peers: [String]
  /// Services it calls only when the process can reach them (for example ["notifications"],
  /// the relay of its user-facing events): a process without them starts the service without
  /// that work. The service asks ``PeerDirectory/has(_:)``.
  public var optionalPeers: [String]
  /// Makes the service once its schema is migrated.
  public var make: @Sendable (ServiceEnvironment) async throws -> HostedService

  public init(
    name: String, schema: String, migrations: [Migration], peers: [String] = [], optionalPeers: [String] = [],
    make: @escaping @Sendable (ServiceEnvironment) async throws -> HostedService
  ) {
    self.name = name
    self.schema = schema
    self.migrations = migrations
    self.peers = peers
    self.optionalPeers = optionalPeers
    self.make = make
  }
}

/// What a service is given to run with.
public struct ServiceEnvironment: Sendable {
  /// The process's one PostgreSQL pool; the service uses only its own schema.
  public var pool: PostgresPool
  /// The access token keys: services that issue tokens sign with them, every service's
  /// interceptor verifies with them.
  public var tokens: AccessTokens
  /// Transports to the peers the declaration names, already carrying the service's identity.
  public var peers: PeerDirectory
  /// A logger labelled with the service's name.
  public var logger: Logger
  /// Settings the operator gave for this service, by key (see each service for its keys).
  public var settings: [String: String]
  /// Tells the operator something once, on the terminal and never in the log (a bootstrap
  /// admin's generated password).
  public var announce: @Sendable (String) -> Void
  /// The process's read replica, when it has one (`emporium serve --database-replica-url`): a
  /// service may send reads to it under its read-your-writes rule (``ReadReplica``); nil sends
  /// everything to ``pool``.
  public var replica: ReadReplica?

  public init(
    pool: PostgresPool, tokens: AccessTokens, peers: PeerDirectory, logger: Logger, settings: [String: String] = [:],
    announce: @escaping @Sendable (String) -> Void = { _ in }, replica: ReadReplica? = nil
  ) {
    self.replica = replica
    self.pool = pool
    self.tokens = tokens
    self.peers = peers
    self.logger = logger
    self.settings = settings
    self.announce = announce
  }
}

/// A made service: its handlers, and the background work the process runs beside them (sweepers,
/// outbox relays), each a swift-service-lifecycle `Service` in the process's `ServiceGroup`.
public struct HostedService: Sendable {
  public var rpc: any RPCService
  public var background: [any Service]

  public init(rpc: any RPCService, background: [any Service] = []) {
    self.rpc = rpc
    self.background = background
  }
}

/// The transports to a service's peers, by identity name. Transports are late-bound: the
/// directory may be handed out before the peers exist (two services that call each other), and
/// each call finds its peer when it is made.
public struct PeerDirectory: Sendable {
  private let resolve: @Sendable (String) -> (any ClientTransport)?
  private let reachable: Set<String>?

  /// - Parameters:
  ///   - reachable: the peers this process can reach; nil when unknown (every peer counts as
  ///     reachable).
  ///   - resolve: the transport to a peer, or nil while it is not reachable.
  public init(reachable: Set<String>? = nil, _ resolve: @escaping @Sendable (String) -> (any ClientTransport)?) {
    self.resolve = resolve
    self.reachable = reachable
  }

  /// Whether `peer` is reachable from this process (an optional peer the service may use).
  public func has(_ peer: String) -> Bool {
    reachable?.contains(peer) ?? true
  }

  /// The transport to `peer`. Calls through it fail with UNAVAILABLE while the peer is not
  /// reachable from this process.
  public func transport(for peer: String) -> any ClientTransport {
    LateBoundTransport(peer: peer, resolve: resolve)
  }
}

/// A transport that finds its target on every call.
struct LateBoundTransport: ClientTransport {
  let peer: String
  let resolve: @Sendable (String) -> (any ClientTransport)?

  private func target() throws -> any ClientTransport {
    guard let transport = resolve(peer) else {
      throw RPCError(code: .unavailable, message: "service '\(peer)' is not reachable from this process")
    }
    return transport
  }

  func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    try await target().unary(method: method, request: request, options: options)
  }

  func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    try await target().withStreamingCall(method: method, options: options, body)
  }
}
