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

/// A scenario whose journey is one unary call, which can run on the loop engine: the journey
/// starts its call on a connection's event loop and finishes from the call's completion.
protocol OneCallScenario: Scenario {
  /// The call's step name (the journey records it as "<name>.<step>", as the task engine does).
  var step: String { get }
  /// Starts the journey's call on `connection` (on its event loop); its completion finishes
  /// `journey` with the call's status.
  func start(_ journey: LoopJourney, on connection: RPCConnection)
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
/// their own, which also runs the engine. Arrival n goes to connection n mod count.
final class LoopConnections: Sendable {
  let group: MultiThreadedEventLoopGroup
  let connections: [RPCConnection]

  var loop: NIOLoadLoop { NIOLoadLoop(eventLoop: connections[0].eventLoop) }

  private init(group: MultiThreadedEventLoopGroup, connections: [RPCConnection]) {
    self.group = group
    self.connections = connections
  }

  static func connect(host: String, port: Int, count: Int, configuration: RPCConnection.Configuration) async throws
    -> LoopConnections
  {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var connections: [RPCConnection] = []
    do {
      for _ in 0..<max(1, count) {
        connections.append(try await RPCConnection.connect(host: host, port: port, configuration: configuration, group: group))
      }
    } catch {
      for connection in connections { await connection.close() }
      try? await group.shutdownGracefully()
      throw error
    }
    return LoopConnections(group: group, connections: connections)
  }

  /// Runs `scenario` under `engine` (whose configuration says the model).
  func measure(_ scenario: any OneCallScenario, engine: LoadEngine) async -> LoadResult {
    let connections = self.connections
    return await engine.run(journey: scenario.name, step: scenario.step, on: loop) { journey in
      scenario.start(journey, on: connections[Int(journey.sequence % UInt64(connections.count))])
    }
  }

  func close() async {
    for connection in connections { await connection.close() }
    try? await group.shutdownGracefully()
  }
}
