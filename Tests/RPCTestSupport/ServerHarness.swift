public import Logging
public import NIOCore
public import RPC

// Servers and connections on 127.0.0.1 for the test targets that talk to a real server.

/// A server on a free loopback port for the duration of `body`, then drained.
public func withServer<Result>(
  services: [any RPCService] = [EchoService()],
  interceptors: [any ServerInterceptor] = [],
  logger: Logger = Logger(label: "emporium.rpc.server"),
  configure: (inout RPCServer.Configuration) -> Void = { _ in },
  _ body: (RPCServer, Int) async throws -> Result
) async throws -> Result {
  var configuration = RPCServer.Configuration()
  configuration.port = 0
  configuration.drainTimeout = .seconds(5)
  configure(&configuration)
  let server = RPCServer(services: services, interceptors: interceptors, configuration: configuration, logger: logger)
  let serving = Task { try await server.serve() }
  let port = try await server.localAddress().port!
  do {
    let result = try await body(server, port)
    server.beginGracefulShutdown()
    try await serving.value
    return result
  } catch {
    server.beginGracefulShutdown()
    _ = try? await serving.value
    throw error
  }
}

/// A connection to a test server for the duration of `body`.
public func withConnection<Result>(
  port: Int, compression: ConnectionSettings.Compression = .zstd,
  configure: (inout RPCConnection.Configuration) -> Void = { _ in },
  _ body: (RPCConnection) async throws -> Result
) async throws -> Result {
  var configuration = RPCConnection.Configuration()
  configuration.settings.compression = compression == .none ? [.none] : [.none, compression]
  configure(&configuration)
  let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port, configuration: configuration)
  do {
    let result = try await body(connection)
    await connection.close()
    return result
  } catch {
    await connection.close()
    throw error
  }
}
