import ArgumentParser
import Foundation
import Logging
import Messages
import NIOCore
import PostgresEmbedded
import RPC

/// `emporium demo`: the whole system on this machine in one command, with progress.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start an embedded database and the server, call it, and shut down.")

  mutating func run() async throws {
    let clock = ContinuousClock()
    let started = clock.now
    @Sendable func step(_ text: String) {
      let elapsed = started.duration(to: clock.now)
      print(String(format: "[%6.2fs] ", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) + text)
    }
    LogLevel(.warning).bootstrapLogging()

    step("starting an embedded PostgreSQL cluster (initdb + pg_ctl on a free loopback port)")
    var pgConfiguration = EmbeddedPostgres.Configuration()
    pgConfiguration.progress = { progress in step("  postgres: \(progress)") }
    let cluster = try await EmbeddedPostgres.start(pgConfiguration)
    let databaseURL = try await cluster.createDatabase("emporium_demo")
    step("database ready at \(databaseURL)")

    var configuration = RPCServer.Configuration()
    configuration.port = 0
    let server = RPCServer(services: [EchoService()], configuration: configuration)
    let serving = Task { try await server.serve() }
    let address = try await server.localAddress()
    step("server listening on \(address)")

    do {
      let connection = try await RPCConnection.connect(host: "127.0.0.1", port: address.port!)
      step("connected; negotiated compression: \(try await connection.compression)")
      let health = try await RpcV1.HealthService.Client(connection).check(.init(), options: CallOptions(timeout: .seconds(5)))
      step("health check: \(RpcV1.ServingStatus.protoValueNames[health.status.rawValue] ?? "?")")
      let echo = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "hello, Emporium" })
      step("echo: \"\(echo.message)\" from \(echo.serverInstance)")
      let services = try await RpcV1.ReflectionService.Client(connection).listServices(.init())
      step("services hosted: \(services.serviceNames.joined(separator: ", "))")
      let rtt = try await connection.ping()
      step("ping round trip: \(rtt)")
      await connection.close()
      guard health.status == .serving else { throw ExitCode(1) }
    } catch {
      step("demo failed: \(error)")
      server.beginGracefulShutdown()
      _ = try? await serving.value
      try? await cluster.stop()
      throw ExitCode(1)
    }

    step("draining the server")
    server.beginGracefulShutdown()
    try await serving.value
    try await cluster.stop()
    step("stopped; the demo database was removed")
  }
}
