public import Messages
import NIOConcurrencyHelpers

/// The built-in `emporium.rpc.v1.HealthService`: the serving status of the server ("") and of
/// each hosted service. `Watch` streams the current status, then every change, until the
/// caller cancels. The server marks everything SERVING at start; when a graceful shutdown
/// begins (``shutDown()``) it marks everything NOT_SERVING and ends every `Watch` stream with
/// UNAVAILABLE right after that status, so no watcher holds the drain.
public final class HealthService: RpcV1.HealthService.ServiceProtocol {
  private struct State {
    var statuses: [String: RpcV1.ServingStatus] = [:]
    var watchers: [UInt64: (service: String, queue: AsyncMessageQueue<RpcV1.ServingStatus>)] = [:]
    var nextWatcher: UInt64 = 0
    var shuttingDown = false
  }

  /// What a `Watch` stream ends with once the server is shutting down.
  static let shuttingDown = RPCError(code: .unavailable, message: "server is shutting down")

  private let state = NIOLockedValueBox(State())

  public init() {}

  /// Sets one service's status ("" is the whole server) and tells its watchers.
  public func setStatus(_ status: RpcV1.ServingStatus, for service: String) {
    let queues = state.withLockedValue { state in
      state.statuses[service] = status
      return state.watchers.values.filter { $0.service == service }.map(\.queue)
    }
    for queue in queues { queue.yield(status) }
  }

  /// Sets every known service's status.
  public func setAll(_ status: RpcV1.ServingStatus) {
    let services = state.withLockedValue { Array($0.statuses.keys) }
    for service in services { setStatus(status, for: service) }
  }

  /// Marks every service NOT_SERVING and ends every `Watch` stream after it has sent that
  /// status (with UNAVAILABLE); later `Watch` calls send the current status and end the same
  /// way. The server calls it when its graceful shutdown begins.
  public func shutDown() {
    let queues = state.withLockedValue { state in
      state.shuttingDown = true
      for service in state.statuses.keys { state.statuses[service] = .notServing }
      return state.watchers.values.map(\.queue)
    }
    for queue in queues {
      queue.yield(.notServing)
      queue.finish()
    }
  }

  private func status(of service: String) -> RpcV1.ServingStatus {
    state.withLockedValue { $0.statuses[service] } ?? .serviceUnknown
  }

  public func check(request: RpcV1.HealthCheckRequest, context: ServerContext) async throws -> RpcV1.HealthCheckResponse {
    guard let status = state.withLockedValue({ $0.statuses[request.service] }) else {
      throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
    }
    return .with { $0.status = status }
  }

  public func watch(
    request: RpcV1.HealthCheckRequest, response: ResponseStreamWriter<RpcV1.HealthCheckResponse>, context: ServerContext
  ) async throws {
    let queue = AsyncMessageQueue<RpcV1.ServingStatus>()
    // Registered and read under one lock, so a shutdown either finds this watcher or is seen.
    let (id, initial) = state.withLockedValue { state -> (UInt64?, RpcV1.ServingStatus) in
      let current = state.statuses[request.service] ?? .serviceUnknown
      guard !state.shuttingDown else { return (nil, current) }
      state.nextWatcher += 1
      state.watchers[state.nextWatcher] = (request.service, queue)
      return (state.nextWatcher, current)
    }
    defer {
      if let id { _ = state.withLockedValue { $0.watchers.removeValue(forKey: id) } }
    }
    var last = initial
    try await response.write(.with { $0.status = last })
    guard id != nil else { throw Self.shuttingDown }
    try await withTaskCancellationHandler {
      while let status = try await queue.next() {
        guard status != last else { continue }
        last = status
        try await response.write(.with { $0.status = status })
      }
    } onCancel: {
      queue.finish(throwing: CancellationError())
    }
    // The queue ends without an error only at shutdown.
    throw Self.shuttingDown
  }
}
