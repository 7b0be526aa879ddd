import NIOCore
import RPC

/// One connection for the length of one command, made with the command's
/// ``ConnectionOptions``.
struct Session: Sendable {
  let connection: RPCConnection
  let address: HostPort
  /// How long connecting and the handshake took.
  let connectDuration: Duration
  let log: VerboseLog

  /// Connects, runs `body`, and closes the connection however `body` ends.
  ///
  /// - Throws: ``CommandFailure`` with UNAVAILABLE when the server cannot be reached, and
  ///   whatever `body` throws.
  static func with<Result: Sendable>(
    _ options: ConnectionOptions, terminal: Terminal, _ body: (Session) async throws -> Result
  ) async throws -> Result {
    let address = try options.resolvedAddress(environment: terminal.environment)
    let log = VerboseLog(enabled: options.verbose, output: terminal.errors)
    var configuration = RPCConnection.Configuration()
    configuration.offerCompression(options.compression.compression)
    configuration.connectTimeout = .nanoseconds(Int64(options.connectTimeout.duration.components.seconds) * 1_000_000_000
      + options.connectTimeout.duration.components.attoseconds / 1_000_000_000)
    let clock = ContinuousClock()
    let start = clock.now
    let connection: RPCConnection
    do {
      connection = try await RPCConnection.connect(host: address.host, port: address.port, configuration: configuration)
    } catch let error as RPCError {
      let message = error.message.hasPrefix("could not connect") ? error.message : "could not connect to \(address): \(error.message)"
      throw CommandFailure(error.code == .ok ? .unavailable : error.code, message)
    } catch {
      throw CommandFailure(.unavailable, "could not connect to \(address): \(error)")
    }
    let session = Session(connection: connection, address: address, connectDuration: start.duration(to: clock.now), log: log)
    if log.enabled {
      let compression = (try? await connection.compression).map { "\($0)" } ?? "unknown"
      log.info("connected to \(address) in \(Formatting.milliseconds(session.connectDuration)), compression \(compression)")
    }
    do {
      let result = try await body(session)
      await connection.close()
      return result
    } catch {
      await connection.close()
      throw error
    }
  }
}
