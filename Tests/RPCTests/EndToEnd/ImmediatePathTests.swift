import Messages
import MetricsTestKit
import NIOCore
import RPCTestSupport
import TestSupport
import Testing

@testable import RPC

/// Echo with an immediate path that answers most messages itself, leaves "later" to its
/// handler and fails "fail"; each path records itself and says in the response which ran.
private struct TwoPathEcho: RPCService {
  let recorder: Recorder
  var serviceDescriptor: ProtoServiceDescriptor { RpcV1.EchoService.descriptor }

  func registerMethods(with router: inout RPCRouter) {
    router.registerUnary(
      RpcV1.EchoService.Echo.self,
      immediate: { request, context in
        recorder.record("immediate")
        if request.message == "fail" {
          throw RPCError(
            code: .failedPrecondition, message: "asked to fail",
            details: .with {
              $0.details = [.with { $0.detail = .errorInfo(.with { $0.reason = "ASKED_TO_FAIL" }) }]
            })
        }
        guard request.message != "later" else { return nil }
        return .with {
          $0.message = "immediate:\(request.message)"
          $0.payload = request.payload
          $0.sequence = context.deadline == nil ? 0 : 1
        }
      },
      { request, _ in
        recorder.record("handler")
        return .with { $0.message = "handler:\(request.message)" }
      })
  }
}

private let echoPath = RpcV1.EchoService.Echo.descriptor.path

@Suite("Unary calls answered on the event loop by their method's immediate path")
struct ImmediatePathTests {
  @Test("the immediate path answers, or leaves the call to the handler, which gets the same request")
  func answersOrDefers() async throws {
    let recorder = Recorder()
    try await withServer(services: [TwoPathEcho(recorder: recorder)]) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        let payload = [UInt8](repeating: 9, count: 3_000)
        let now = try await client.echo(.with {
          $0.message = "a"
          $0.payload = payload
        }, options: CallOptions(timeout: .seconds(30)))
        #expect(now.message == "immediate:a")
        #expect(now.payload == payload)
        #expect(now.sequence == 1)  // the context carried the call's deadline
        #expect(try await client.echo(.with { $0.message = "later" }).message == "handler:later")
        #expect(recorder.count("immediate") == 2)
        #expect(recorder.count("handler") == 1)
      }
    }
  }

  @Test("what the immediate path throws ends the call with its status and details, counted in metrics")
  func errors() async throws {
    let recorder = Recorder()
    let metrics = TestMetrics()
    try await withServer(services: [TwoPathEcho(recorder: recorder)], configure: { $0.metricsFactory = metrics }) {
      _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        let error = await #expect(throws: RPCError.self) { try await client.echo(.with { $0.message = "fail" }) }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message == "asked to fail")
        #expect(error?.details?.details.contains {
          if case .errorInfo(let info) = $0.detail { info.reason == "ASKED_TO_FAIL" } else { false }
        } == true)
        // A request that does not decode is the caller's error, on this path as on the handler's.
        let garbage = ByteBuffer(bytes: [0x0A, 0xFF])
        await #expect { try await connection.unary(method: RpcV1.EchoService.Echo.descriptor, request: garbage, options: .init()) }
          throws: { ($0 as? RPCError)?.code == .invalidArgument }
        _ = try await client.echo(.with { $0.message = "fine" })
        // The connection still serves calls, and the metrics count each with its status.
        #expect(try metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "FAILED_PRECONDITION")).totalValue == 1)
        #expect(try metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "INVALID_ARGUMENT")).totalValue == 1)
        #expect(try metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "OK")).totalValue == 1)
        #expect(try metrics.expectTimer("rpc_server_call_duration_seconds", labels(echoPath, "OK")).values.count == 1)
        #expect(recorder.count("handler") == 0)
      }
    }
  }

  @Test("with server interceptors, with immediate handlers off, and in process, the handler answers")
  func handlerOnly() async throws {
    let recorder = Recorder()
    let intercepted = Recorder()
    let interceptor = RecordingInterceptor(recorder: intercepted)
    try await withServer(services: [TwoPathEcho(recorder: recorder)], interceptors: [interceptor]) { _, port in
      try await withConnection(port: port) { connection in
        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "a" })
        #expect(response.message == "handler:a")
      }
    }
    #expect(intercepted.count(echoPath) == 1)
    try await withServer(services: [TwoPathEcho(recorder: recorder)], configure: { $0.immediateHandlers = false }) {
      server, port in
      try await withConnection(port: port) { connection in
        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "b" })
        #expect(response.message == "handler:b")
      }
      let inProcess = RpcV1.EchoService.Client(InProcessTransport(server: server))
      #expect(try await inProcess.echo(.with { $0.message = "c" }).message == "handler:c")
    }
    #expect(recorder.count("immediate") == 0)
    #expect(recorder.count("handler") == 3)
  }

  @Test("an interceptor's synchronous form runs around the immediate path, and may refuse or defer the call")
  func synchronousInterceptor() async throws {
    let recorder = Recorder()
    let intercepted = Recorder()
    let interceptor = GateInterceptor(recorder: intercepted)
    try await withServer(services: [TwoPathEcho(recorder: recorder)], interceptors: [interceptor]) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        // Admitted at once: the immediate path answers, with what the interceptor added.
        let admitted = try await client.echo(.with { $0.message = "a" }, options: CallOptions(metadata: ["gate": "open"]))
        #expect(admitted.message == "immediate:a")
        #expect(intercepted.count("immediate open") == 1)
        #expect(intercepted.count("async") == 0)
        // Refused by the synchronous form: its error is the answer, and nothing else runs.
        await #expect { try await client.echo(.with { $0.message = "b" }, options: CallOptions(metadata: ["gate": "shut"])) } throws: {
          ($0 as? RPCError)?.code == .permissionDenied && ($0 as? RPCError)?.message == "gate shut"
        }
        // Undecided there: the call takes the async path, through the interceptor's async form.
        let deferred = try await client.echo(.with { $0.message = "c" })
        #expect(deferred.message == "handler:c")
        #expect(intercepted.count("async") == 1)
        #expect(recorder.count("immediate") == 1)
        #expect(recorder.count("handler") == 1)
      }
    }
  }

  @Test("a request that arrives in a later read than its call's opening is answered immediately all the same")
  func requestInALaterRead() async throws {
    let recorder = Recorder()
    let metrics = TestMetrics()
    try await withServer(services: [TwoPathEcho(recorder: recorder)], configure: { $0.metricsFactory = metrics }) {
      _, port in
      try await withConnection(port: port) { connection in
        let echo = RpcV1.EchoService.Echo.descriptor
        for message in ["late", "later", "fail"] {
          // The deadline turns a call the server lost into a failure rather than a hang.
          let answer: Result<RpcV1.EchoResponse, RPCError> = try await connection.withStreamingCall(
            method: echo, options: CallOptions(timeout: .seconds(20))
          ) { call in
            // The ping's answer comes after the server has read the call's opening, alone.
            _ = try await connection.ping()
            try await call.send(try encode(RpcV1.EchoRequest.with { $0.message = message }))
            try await call.closeSend()
            do {
              let bytes = try #require(try await call.receive())
              return .success(try RpcV1.EchoResponse(decoding: bytes))
            } catch let error as RPCError {
              return .failure(error)
            }
          }
          switch message {
          case "late": #expect((try? answer.get())?.message == "immediate:late")
          case "later": #expect((try? answer.get())?.message == "handler:later")
          default:
            let code: RPCStatusCode? = if case .failure(let error) = answer { error.code } else { nil }
            #expect(code == .failedPrecondition)
          }
        }
        #expect(recorder.count("immediate") == 3)
        #expect(recorder.count("handler") == 1)
        // Each call counted once, and none left in flight.
        #expect(await eventually {
          (try? metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "OK")))?.totalValue == 2
            && (try? metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "FAILED_PRECONDITION")))?
              .totalValue == 1
        })
      }
    }
  }

  @Test("a call waiting for its request holds its handler slot until it ends, however it ends")
  func slotHeldWhileWaiting() async throws {
    let recorder = Recorder()
    let metrics = TestMetrics()
    try await withServer(
      services: [TwoPathEcho(recorder: recorder)],
      configure: {
        $0.maxRunningHandlers = 1
        $0.metricsFactory = metrics
      }
    ) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        let echo = RpcV1.EchoService.Echo.descriptor
        /// Refused while the slot is held; answered once it is given back.
        func slotFree() async -> Bool { (try? await client.echo(.with { $0.message = "probe" })) != nil }

        // Half-closed without a request: the handler answers as for any unary call without one.
        try await connection.withStreamingCall(method: echo, options: .init()) { call in
          await #expect { try await client.echo(.with { $0.message = "x" }) } throws: {
            ($0 as? RPCError)?.code == .resourceExhausted
          }
          try await call.closeSend()
          await #expect { _ = try await call.receive() } throws: {
            ($0 as? RPCError)?.code == .invalidArgument
              && ($0 as? RPCError)?.message == "the call ended without a request message"
          }
        }
        #expect(await eventually { await slotFree() })

        // Past its deadline, without a request.
        try await connection.withStreamingCall(method: echo, options: CallOptions(timeout: .milliseconds(300))) { call in
          await #expect { _ = try await call.receive() } throws: { ($0 as? RPCError)?.code == .deadlineExceeded }
        }
        #expect(await eventually { await slotFree() })
        #expect(await eventually {
          (try? metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "DEADLINE_EXCEEDED")))?.totalValue == 1
        })

        // Cancelled by the caller, without a request.
        let cancelled = Task {
          try await connection.withStreamingCall(method: echo, options: .init()) { call in
            recorder.record("opened")
            _ = try await call.receive()
          }
        }
        await recorder.wait(for: "opened")
        #expect(await eventually {
          (try? await client.echo(.with { $0.message = "x" })) == nil  // the waiting call holds the slot
        })
        cancelled.cancel()
        _ = await cancelled.result
        #expect(await eventually { await slotFree() })
        #expect(await eventually {
          (try? metrics.expectCounter("rpc_server_calls_total", labels(echoPath, "CANCELLED")))?.totalValue == 1
        })
        // The half-closed call was answered before its handler's body ran; the probes, at once.
        #expect(recorder.count("handler") == 0)
      }
    }
  }

  @Test("an immediate response larger than the caller's call window goes out as credit comes, then the call ends")
  func responseWaitsForCredit() async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: .none, configure: { $0.settings.initialCallWindow = 16 << 10 }) {
        connection in
        let client = RpcV1.EchoService.Client(connection)
        let responses = try await withThrowingTaskGroup(of: Int.self) { group in
          for _ in 0..<8 {
            group.addTask {
              // The deadline turns a response that never ends into a failure rather than a hang.
              try await client.echo(.with { $0.responsePayloadSize = 200_000 }, options: CallOptions(timeout: .seconds(60)))
                .payload.count
            }
          }
          return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses == Array(repeating: 200_000, count: 8))
      }
    }
  }

  @Test("responses encoded in the connection's one buffer stay whole while earlier ones wait for credit")
  func responsesWaitingForCreditKeepTheirBytes() async throws {
    let recorder = Recorder()
    try await withServer(services: [TwoPathEcho(recorder: recorder)]) { _, port in
      try await withConnection(port: port, compression: .none, configure: { $0.settings.initialCallWindow = 16 << 10 }) {
        connection in
        let client = RpcV1.EchoService.Client(connection)
        // Large answers wait for credit while the small ones after them are encoded where
        // theirs were: every answer must still be its own request's payload.
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
          for index in 0..<40 {
            group.addTask {
              let size = index % 5 == 0 ? 100_000 : 100
              let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
              let response = try await client.echo(
                .with {
                  $0.message = "\(index)"
                  $0.payload = payload
                }, options: CallOptions(timeout: .seconds(60)))
              return response.payload == payload && response.message == "immediate:\(index)" ? 0 : 1
            }
          }
          return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect(recorder.count("immediate") == 40)
      }
    }
  }
}

/// Records the path of every call it sees.
private struct RecordingInterceptor: ServerInterceptor {
  let recorder: Recorder
  func intercept(
    context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
  ) async throws {
    recorder.record(context.method.path)
    try await next(context)
  }
}

/// Decides calls by their `gate` metadata in its synchronous form (open: admitted, shut:
/// refused, none: left to its async form, which admits them).
private struct GateInterceptor: ServerInterceptor {
  let recorder: Recorder

  func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
    recorder.record("async")
    try await next(context)
  }

  func interceptImmediately(context: ServerContext, next: (ServerContext) throws -> ByteBuffer?) throws -> ByteBuffer? {
    switch context.metadata["gate"] {
    case "open":
      recorder.record("immediate open")
      return try next(context)
    case "shut":
      throw RPCError(code: .permissionDenied, message: "gate shut")
    default:
      return nil
    }
  }
}
