import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 client for one provider endpoint: one request at a time per connection,
/// connections kept alive and reused (up to ``Configuration/maximumIdleConnections`` idle ones),
/// and a deadline per request. A request whose deadline passes, or whose task is cancelled,
/// closes its connection (an answer that might still come is never read as the answer to the
/// next request).
///
/// A kept-alive connection the server has closed meanwhile is only noticed when a request is
/// sent on it; when it closes before any byte of the answer arrived, the request is sent once
/// more on a new connection. That is safe for the provider's API only because every request it
/// sends carries an idempotency key (or reads).
final class ProviderHTTPClient: Sendable {
  struct Configuration: Sendable {
    var host: String
    var port: Int
    /// Idle connections kept for reuse; more are closed.
    var maximumIdleConnections = 8
    /// The largest answer body read; a larger one fails the request.
    var maximumResponseSize = 1 << 20
  }

  struct Request: Sendable {
    var method: HTTPMethod
    /// The path and query.
    var target: String
    var headers: HTTPHeaders
    var body: [UInt8]
  }

  struct Response: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8]
    /// Whether the connection may carry another request.
    var keepAlive: Bool
  }

  /// Why a request got no answer. Every case leaves the outcome unknown.
  enum Failure: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case timedOut
    /// The connection closed (or failed) before the answer was complete.
    case connectionClosed(beforeResponse: Bool)
    case responseTooLarge

    var description: String {
      switch self {
      case .connect(let why): "could not connect: \(why)"
      case .timedOut: "no answer before the deadline"
      case .connectionClosed(let before): before ? "the connection closed before an answer" : "the connection closed during the answer"
      case .responseTooLarge: "the answer was too large"
      }
    }
  }

  private struct State {
    var idle: [any Channel] = []
    var closed = false
  }

  let configuration: Configuration
  private let group: any EventLoopGroup
  private let state = Mutex(State())

  init(configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
    self.configuration = configuration
    self.group = group
  }

  /// Sends `request` and returns the answer, or throws ``Failure`` (or CancellationError when
  /// the task is cancelled) once `timeout` has passed without one.
  func send(_ request: Request, timeout: Duration) async throws -> Response {
    let deadline = NIODeadline.now() + TimeAmount(timeout)
    let (channel, reused) = try await checkOut(deadline: deadline)
    do {
      return try await exchange(request, on: channel, deadline: deadline)
    } catch Failure.connectionClosed(beforeResponse: true) where reused {
      let fresh = try await connect(deadline: deadline)
      return try await exchange(request, on: fresh, deadline: deadline)
    }
  }

  /// Closes the idle connections and keeps none from now on: requests in flight finish, then
  /// close theirs, and later requests (a server draining its calls) each get a connection that
  /// closes after them.
  func close() {
    let idle = state.withLock { state in
      state.closed = true
      defer { state.idle = [] }
      return state.idle
    }
    for channel in idle { channel.close(promise: nil) }
  }

  /// How many idle connections are kept now (for tests).
  var idleConnections: Int { state.withLock { $0.idle.count } }

  // MARK: Connections

  private func checkOut(deadline: NIODeadline) async throws -> (any Channel, reused: Bool) {
    let reusable = state.withLock { state -> (any Channel)? in
      while let channel = state.idle.popLast() {
        if channel.isActive { return channel }
      }
      return nil
    }
    if let reusable { return (reusable, true) }
    return (try await connect(deadline: deadline), false)
  }

  private func checkIn(_ channel: any Channel) {
    let keep = state.withLock { state in
      guard !state.closed, channel.isActive, state.idle.count < configuration.maximumIdleConnections else { return false }
      state.idle.append(channel)
      return true
    }
    if !keep { channel.close(promise: nil) }
  }

  private func connect(deadline: NIODeadline) async throws -> any Channel {
    let maximumResponseSize = configuration.maximumResponseSize
    let host = configuration.port == 80 ? configuration.host : "\(configuration.host):\(configuration.port)"
    let remaining = deadline - NIODeadline.now()
    guard remaining > .zero else { throw Failure.timedOut }
    let channel: any Channel
    do {
      let bootstrap = ClientBootstrap(group: group)
        .connectTimeout(remaining)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(
              ProviderHTTPExchangeHandler(host: host, maximumResponseSize: maximumResponseSize))
          }
        }
      // An address needs no name resolution (which waits for a thread of its own).
      if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
        channel = try await bootstrap.connect(to: address).get()
      } else {
        channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
      }
    } catch {
      throw Failure.connect("\(error)")
    }
    // An idle connection the server closes leaves the idle list.
    channel.closeFuture.whenComplete { [weak self] _ in
      self?.state.withLock { state in state.idle.removeAll { $0 === channel } }
    }
    return channel
  }

  // MARK: One request

  private func exchange(_ request: Request, on channel: any Channel, deadline: NIODeadline) async throws -> Response {
    let promise = channel.eventLoop.makePromise(of: Response.self)
    let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
      promise.fail(Failure.timedOut)
      channel.close(promise: nil)
    }
    channel.writeAndFlush(ProviderHTTPExchange(request: request, answer: promise), promise: nil)
    let response: Response
    do {
      response = try await withTaskCancellationHandler {
        try await promise.futureResult.get()
      } onCancel: {
        promise.fail(CancellationError())
        channel.close(promise: nil)
      }
    } catch {
      timer.cancel()
      channel.close(promise: nil)
      throw error
    }
    timer.cancel()
    if response.keepAlive {
      checkIn(channel)
    } else {
      channel.close(promise: nil)
    }
    return response
  }
}
