import LoadCore
import Messages
import RPC

/// The Emporium side of `client`: one `RPCConnection` (or, with `--pool`, an `RPCClientPool`
/// over the `--ports` servers), the generated typed client.
///
/// Unary: LoadCore's engine in the closed model (``UnaryLoad``), each journey one `echo(_:)`
/// call. Bidi (``StreamLoad``): each task holds one `Update` stream for
/// the whole run and sends its next request only after the previous echo arrived (the request
/// writer waits on an `AsyncStream` that the response reader feeds; the typed bidirectional API
/// writes and reads in separate tasks, as grpc-swift-2's does). With `--on-loop` everything runs
/// under `withTaskExecutorPreference(connection.executor)`.
///
/// The pool uses its defaults (at most 4 connections per server unless
/// `--max-connections-per-endpoint`, one opened per server on the first call, more only when
/// every connection has reached the server's concurrent-call limit), with the same connection
/// configuration as the single connection.
enum EmporiumEchoClient {
  static func run(_ options: ClientOptions) async throws -> ClientReport {
    BenchMetrics.bootstrapIfRequested()
    var configuration = RPCConnection.Configuration()
    configuration.settings.compression = options.compression == .zstd ? [.none, .zstd] : [.none]
    if options.pool { return try await runPool(options, connection: configuration) }
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: options.port, configuration: configuration)
    let client = RpcV1.EchoService.Client(connection)
    let outcome: LoadOutcome
    if options.onLoop {
      outcome = try await withTaskExecutorPreference(connection.executor) { try await measure(client, options) }
    } else {
      outcome = try await measure(client, options)
    }
    var report = ClientReport(options: options, outcome: outcome)
    let statistics = await connection.statistics()
    report.wireBytesSent = statistics.wireBytesSent
    report.plainBytesSent = statistics.plainBytesSent
    await connection.close()
    return report
  }

  private static func runPool(_ options: ClientOptions, connection: RPCConnection.Configuration) async throws
    -> ClientReport
  {
    var configuration = RPCClientPool.Configuration()
    configuration.connection = connection
    configuration.maxConnectionsPerEndpoint = options.maxConnectionsPerEndpoint
    let pool = RPCClientPool(
      endpoints: options.ports.map { Endpoint(host: "127.0.0.1", port: $0) }, configuration: configuration)
    let outcome = try await measure(RpcV1.EchoService.Client(pool), options)
    let snapshot = pool.snapshot()
    var report = ClientReport(options: options, outcome: outcome)
    report.poolEndpoints = snapshot.endpoints.count
    report.poolConnections = snapshot.endpoints.reduce(0) { $0 + $1.connections }
    await pool.close()
    return report
  }

  /// Runs the load of `options.mode` through `client` and returns what its window measured.
  private static func measure(_ client: RpcV1.EchoService.Client, _ options: ClientOptions) async throws
    -> LoadOutcome
  {
    let pool = PayloadPool(size: options.payload)
    let callOptions = options.callOptions
    switch options.mode {
    case .unary:
      return try await options.unaryLoad.run { sequence in
        try await unary(client, pool: pool, options: callOptions, sequence: sequence)
      }
    case .bidi:
      return try await options.streamLoad.run { index, phase in
        try await bidi(client, pool: pool, options: callOptions, index: index, phase: phase)
      }
    }
  }

  /// One journey: one call with the `sequence`th payload of the pool, its echo checked for size.
  private static func unary(
    _ client: RpcV1.EchoService.Client, pool: PayloadPool, options: CallOptions, sequence: UInt64
  ) async throws {
    var request = RpcV1.EchoRequest()
    request.payload = pool[Int(truncatingIfNeeded: sequence % UInt64(pool.payloads.count))]
    let response = try await client.echo(request, options: options)
    if response.payload.count != request.payload.count {
      throw LoadFailure("BAD_RESPONSE", "the echo's payload differs in size from the request's")
    }
  }

  private static func bidi(
    _ client: RpcV1.EchoService.Client, pool: PayloadPool, options: CallOptions, index: Int, phase: StreamPhase
  ) async throws -> StreamTally {
    let (asks, ask) = AsyncStream.makeStream(of: Void.self)
    return try await client.update(
      options: options,
      requests: { writer in
        var request = RpcV1.EchoRequest()
        var next = index &* 7_919
        for await _ in asks {
          request.payload = pool[next]
          next &+= 1
          try await writer.write(request)
        }
      },
      responses: { responses in
        var tally = StreamTally()
        var start = monotonicNanoseconds()
        ask.yield()
        for try await _ in responses {
          tally.record(since: start, phase: phase)
          if phase.isDone {
            ask.finish()  // the writer returns and half-closes; the server then ends the call
            continue
          }
          start = monotonicNanoseconds()
          ask.yield()
        }
        return tally
      })
  }
}
