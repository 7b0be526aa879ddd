import ArgumentParser
import LoadCore
import NIOCore
import NIOPosix
import RPC

/// Which of LoadCore's engines runs the journeys (`--engine`).
enum EngineChoice: String, CaseIterable, ExpressibleByArgument {
  /// `loop` for scenarios of one call per journey (echo), `tasks` for the rest.
  case auto
  /// Every journey a Swift task, its calls through the client pool.
  case tasks
  /// One event loop runs arrivals, calls and recording, with no task per journey; its own
  /// connections. Only for scenarios of one call per journey.
  case loop
}

/// How the loop engine makes its calls (`--call-path`; docs/LOADGEN.md, "Call paths").
enum CallPath: String, CaseIterable, ExpressibleByArgument {
  /// `prebuilt` when the scenario sends the same request every time, else `client`.
  case auto
  /// Each call's frames copied from ones built once, on a connection of loadgen's own
  /// (``PrebuiltCallConnection``): the server's work per call is the same, loadgen's smaller.
  /// Uncompressed.
  case prebuilt
  /// Each call through the RPC client's connection (`RPCConnection.startUnary`), as one
  /// service calls another.
  case client
}

/// A scenario whose journey is one unary call, which can run on the loop engine: the journey
/// starts its call on a connection's event loop and finishes from the call's completion.
protocol OneCallScenario: Scenario {
  /// The call's step name (the journey records it as "<name>.<step>", as the task engine does).
  var step: String { get }
  /// Starts the journey's call on `connection` (on its event loop); its completion finishes
  /// `journey` with the call's status.
  func start(_ journey: LoopJourney, on connection: RPCConnection)
  /// The call as the `prebuilt` path sends it, when every journey sends the same request.
  var prebuilt: PrebuiltCall? { get }
}

/// A one-call scenario's call for the `prebuilt` path: its frames (with its deadline), and the
/// check its response message must pass (a response that fails it is recorded as BAD_RESPONSE).
struct PrebuiltCall: Sendable {
  let call: PrebuiltUnaryCall
  let check: @Sendable (ByteBuffer) -> Bool
}

extension OneCallScenario {
  /// The status a finished call is recorded under: OK, or what the task engine would name the
  /// error.
  static func status(_ result: Result<some Any, RPCError>) -> String {
    switch result {
    case .success: OperationKey.ok
    case .failure(let error): Scenarios.classify(error)
    }
  }
}

/// A SwiftNIO event loop as LoadCore's ``LoadLoop``.
struct NIOLoadLoop: LoadLoop {
  let eventLoop: any EventLoop

  var isCurrent: Bool { eventLoop.inEventLoop }

  func execute(_ work: @escaping @Sendable () -> Void) { eventLoop.execute(work) }

  func schedule(afterNanoseconds nanoseconds: UInt64, _ work: @escaping @Sendable () -> Void) {
    eventLoop.scheduleTask(in: .nanoseconds(Int64(min(nanoseconds, UInt64(Int64.max))))) { work() }
  }
}

/// The loop engine's connections: `count` connections to the target, all on one event loop of
/// their own, which also runs the engine. A journey takes connection `lane` mod count
/// (``LoopJourney/lane``): the arrivals of one open-model wake-up share one, as do one
/// closed-model user's journeys, and over the run every connection takes its share.
final class LoopConnections: Sendable {
  /// The connections, of the call path they serve.
  enum Connections: Sendable {
    case client([RPCConnection])
    case prebuilt([PrebuiltCallConnection])
  }

  let group: MultiThreadedEventLoopGroup
  let connections: Connections

  var loop: NIOLoadLoop { NIOLoadLoop(eventLoop: group.any()) }

  /// The call path the connections serve.
  var callPath: CallPath {
    switch connections {
    case .client: .client
    case .prebuilt: .prebuilt
    }
  }

  private init(group: MultiThreadedEventLoopGroup, connections: Connections) {
    self.group = group
    self.connections = connections
  }

  /// Connects for `scenario` on `path`. `auto`: prebuilt when the scenario has a prebuilt call
  /// and the server can take it as built (its request in one frame and its first window), else
  /// through the client; `log` says when it falls back.
  static func connect(
    host: String, port: Int, count: Int, configuration: RPCConnection.Configuration, scenario: any OneCallScenario,
    path: CallPath, log: @Sendable (String) -> Void = { _ in }
  ) async throws -> LoopConnections {
    let prebuilt = scenario.prebuilt
    if path == .prebuilt, prebuilt == nil {
      throw ValidationError("--call-path prebuilt needs a scenario that sends the same request every time; \(scenario.name) does not")
    }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
      if path != .client, let prebuilt {
        do {
          let connections = try await open(count, close: { await $0.close() }) {
            try await PrebuiltCallConnection.connect(
              host: host, port: port, on: group.any(), call: prebuilt.call,
              connectTimeout: configuration.connectTimeout, check: prebuilt.check)
          }
          return LoopConnections(group: group, connections: .prebuilt(connections))
        } catch let error as PrebuiltCallError where error.unsuitable {
          guard path == .auto else { throw ValidationError("--call-path prebuilt: \(error); run with --call-path client") }
          log("the loop engine calls through the RPC client: \(error)")
        }
      }
      let connections = try await open(count, close: { await $0.close() }) {
        try await RPCConnection.connect(host: host, port: port, configuration: configuration, group: group)
      }
      return LoopConnections(group: group, connections: .client(connections))
    } catch {
      try? await group.shutdownGracefully()
      throw error
    }
  }

  /// Opens `count` connections (at least one) with `connect`, or none: on an error, closes the
  /// ones already open and rethrows it.
  private static func open<Connection>(
    _ count: Int, close: (Connection) async -> Void, _ connect: () async throws -> Connection
  ) async throws -> [Connection] {
    var connections: [Connection] = []
    do {
      for _ in 0..<max(1, count) { connections.append(try await connect()) }
      return connections
    } catch {
      for connection in connections { await close(connection) }
      throw error
    }
  }

  /// Runs `scenario` under `engine` (whose configuration says the model).
  func measure(_ scenario: any OneCallScenario, engine: LoadEngine) async -> LoadResult {
    switch connections {
    case .client(let connections):
      return await engine.run(journey: scenario.name, step: scenario.step, on: loop) { journey in
        scenario.start(journey, on: connections[Int(journey.lane % UInt64(connections.count))])
      }
    case .prebuilt(let connections):
      return await engine.run(journey: scenario.name, step: scenario.step, on: loop) { journey in
        connections[Int(journey.lane % UInt64(connections.count))].start(journey)
      }
    }
  }

  func close() async {
    switch connections {
    case .client(let connections): for connection in connections { await connection.close() }
    case .prebuilt(let connections): for connection in connections { await connection.close() }
    }
    try? await group.shutdownGracefully()
  }
}
