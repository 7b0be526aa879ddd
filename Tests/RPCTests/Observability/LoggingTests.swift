import Logging
import Messages
import RPCTestSupport
import Testing

@testable import RPC

/// An error that is not an RPCError.
struct Broken: Error {}

extension UnaryEchoService {
  /// Logs through the call's logger; `fail` makes it throw `Broken`.
  static let logging = Self { request, context in
    context.logger.info("handling", metadata: ["order": "42"])
    if request.message == "fail" { throw Broken() }
    return try await EchoService().echo(request: request, context: context)
  }
}

private let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
private let traceID = "0af7651916cd43dd8448eb211c80319c"
private let echoPath = RpcV1.EchoService.Echo.descriptor.path

@Suite("Structured call logs")
struct LoggingTests {
  @Test("a handler's logger carries the call id, method, peer and trace id")
  func handlerLoggerMetadata() async throws {
    let (logger, logs) = CapturingLogHandler.logger(level: .info)
    try await withServer(services: [UnaryEchoService.logging], logger: logger) { _, port in
      try await withConnection(port: port) { connection in
        var options = CallOptions()
        options.metadata.add("traceparent", traceparent)
        _ = try await RpcV1.EchoService.Client(connection).echo(.init(), options: options)
        let record = try #require(logs.all.first { $0.message == "handling" })
        #expect(record.level == .info)
        #expect(record.metadata["order"] == "42")
        #expect(record.metadata["rpc.method"].map { "\($0)" } == echoPath)
        #expect(record.metadata["trace_id"].map { "\($0)" } == traceID)
        #expect(record.metadata["rpc.call_id"].map { "\($0)" } == "1")  // the connection's first call
        #expect(record.metadata["rpc.peer"].map { "\($0)" }?.contains("127.0.0.1") == true)
      }
    }
  }

  @Test("a failed handler is logged at error with the call's metadata; the caller sees UNKNOWN only")
  func handlerFailureLogged() async throws {
    let (logger, logs) = CapturingLogHandler.logger(level: .info)
    try await withServer(services: [UnaryEchoService.logging], logger: logger) { _, port in
      try await withConnection(port: port) { connection in
        var options = CallOptions()
        options.metadata.add("traceparent", traceparent)
        await #expect {
          try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "fail" }, options: options)
        } throws: { error in
          guard let error = error as? RPCError else { return false }
          return error.code == .unknown && !error.message.contains("Broken")
        }
        let record = try #require(logs.all.first { $0.message == "handler failed" })
        #expect(record.level == .error)
        #expect(record.metadata["error"].map { "\($0)" }?.contains("Broken") == true)
        #expect(record.metadata["rpc.method"].map { "\($0)" } == echoPath)
        #expect(record.metadata["trace_id"].map { "\($0)" } == traceID)
      }
    }
  }

  @Test("each call's end is logged at debug only, never at info")
  func perCallLogLevel() async throws {
    let (quiet, quietLogs) = CapturingLogHandler.logger(level: .info)
    try await withServer(logger: quiet) { _, port in
      try await withConnection(port: port) { connection in
        for _ in 0..<3 { _ = try await RpcV1.EchoService.Client(connection).echo(.init()) }
      }
    }
    // At info a server logs its lifecycle, nothing per call.
    #expect(!quietLogs.all.contains { $0.metadata["rpc.call_id"] != nil })

    let (verbose, verboseLogs) = CapturingLogHandler.logger(level: .debug)
    try await withServer(logger: verbose) { _, port in
      try await withConnection(port: port) { connection in
        var options = CallOptions()
        options.metadata.add("traceparent", traceparent)
        _ = try await RpcV1.EchoService.Client(connection).echo(.init(), options: options)
        await #expect(throws: RPCError.self) {
          try await RpcV1.EchoService.Client(connection).echo(.with { $0.failWith = .with { $0.code = 5 } })
        }
      }
    }
    let ended = verboseLogs.all.filter { $0.message == "call ended" }
    #expect(ended.count == 2)
    #expect(ended.allSatisfy { $0.level == .debug && $0.metadata["rpc.method"].map { "\($0)" } == echoPath })
    #expect(ended.map { $0.metadata["rpc.code"].map { "\($0)" } } == ["OK", "NOT_FOUND"])
    #expect(ended.first?.metadata["trace_id"].map { "\($0)" } == traceID)
  }
}
