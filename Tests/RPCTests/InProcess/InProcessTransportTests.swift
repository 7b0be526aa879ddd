import CommerceAPI
import Messages
import NIOCore
import NIOPosix
import RPCTestSupport
import Testing

@testable import RPC

/// A server (never listening) and an in-process transport to it.
private func inProcess(
  services: [any RPCService] = [EchoService()],
  interceptors: [any ServerInterceptor] = [],
  configure: (inout RPCServer.Configuration) -> Void = { _ in },
  transport: (inout InProcessTransport.Configuration) -> Void = { _ in }
) -> (RPCServer, InProcessTransport) {
  var configuration = RPCServer.Configuration()
  configure(&configuration)
  let server = RPCServer(services: services, interceptors: interceptors, configuration: configuration)
  var transportConfiguration = InProcessTransport.Configuration()
  transport(&transportConfiguration)
  return (server, InProcessTransport(server: server, configuration: transportConfiguration))
}

/// The ErrorInfo of an error's details.
private func errorInfo(_ error: RPCError) -> RpcV1.ErrorInfo? {
  guard case .errorInfo(let info)? = error.details?.details.first?.detail else { return nil }
  return info
}

/// Runs `body` and returns the RPCError it throws (failing the test if it throws none).
private func rpcError(_ body: () async throws -> some Any) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("the call succeeded")
    return nil
  } catch let error as RPCError {
    return error
  } catch {
    Issue.record("not an RPCError: \(error)")
    return nil
  }
}

/// Whether `recorder` records `event` within `limit` (polled, so a regression fails the test
/// rather than hanging it).
private func recorded(_ event: String, by recorder: Recorder, within limit: Duration = .seconds(10)) async -> Bool {
  let end = ContinuousClock.now + limit
  while !recorder.all.contains(event) {
    guard ContinuousClock.now < end else { return false }
    try? await Task.sleep(for: .milliseconds(5))
  }
  return true
}

/// An echo service that tells what its handlers see: it records each call's peer, id, metadata
/// and deadline, sends response headers from `expand` when asked, and its `collect` reads
/// nothing until "release" is recorded.
private struct ProbeEchoService: RpcV1.EchoService.ServiceProtocol {
  let recorder: Recorder
  let base = EchoService()

  func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    recorder.record("peer \(context.peer) call \(context.callID)")
    return try await base.echo(request: request, context: context)
  }

  func expand(
    request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext
  ) async throws {
    if request.message == "with headers" {
      try await response.writeHeaders(["x-stage": "headers", "x-blob-bin": "ab"])
    }
    do {
      try await base.expand(request: request, response: response, context: context)
    } catch let error as RPCError {
      recorder.record("expand failed: \(error)")
      throw error
    }
  }

  func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws -> RpcV1.EchoResponse {
    await recorder.wait(for: "release")
    return try await base.collect(requests: requests, context: context)
  }

  func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws {
    try await base.update(requests: requests, response: response, context: context)
  }
}

/// Answers `echo` with where its handler runs after it has waited once, and `collect` with the
/// caller's task-local value if the handler can see it.
private struct WhereEchoService: RpcV1.EchoService.ServiceProtocol {
  let loop: any EventLoop
  let base = EchoService()

  func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    try await Task.sleep(for: .milliseconds(5))
    return .with { $0.message = loop.inEventLoop ? "on the caller's loop" : "elsewhere" }
  }
  func expand(request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext)
    async throws
  { try await base.expand(request: request, response: response, context: context) }
  func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws -> RpcV1.EchoResponse {
    .with { $0.message = "task-local: \(CallerLocal.value ?? "none")" }
  }
  func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws { try await base.update(requests: requests, response: response, context: context) }
}

private enum CallerLocal {
  @TaskLocal static var value: String?
}

/// Records when it runs, under a name.
private struct NamedClientInterceptor: ClientInterceptor {
  let name: String
  let recorder: Recorder

  func intercept<Result: Sendable>(
    context: ClientCallContext, next: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    recorder.record("\(name) before")
    var context = context
    context.options.metadata.add("x-via", name)
    defer { recorder.record("\(name) after") }
    return try await next(context)
  }
}

private struct NamedServerInterceptor: ServerInterceptor {
  let name: String
  let recorder: Recorder

  func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
    let via = context.metadata.values("x-via").map { String(decoding: $0.bytes, as: UTF8.self) }
    recorder.record("\(name) before, via \(via.joined(separator: ","))")
    defer { recorder.record("\(name) after") }
    try await next(context)
  }
}

/// Records everything a server interceptor can see of a call, except its peer and id.
private struct SnapshotServerInterceptor: ServerInterceptor {
  let recorder: Recorder

  func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
    let metadata = context.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    let budget = context.deadline.map { ContinuousClock.now.duration(to: $0) > .seconds(4) ? "deadline ~5s" : "short" }
    recorder.record("\(context.method.path) [\(metadata)] \(budget ?? "no deadline")")
    do {
      try await next(context)
      recorder.record("handler ok")
    } catch let error as RPCError {
      recorder.record("handler failed \(error.code) \(error.message)")
      throw error
    }
  }
}

@Suite("In-process transport", .timeLimit(.minutes(1)))
struct InProcessTransportTests {
  // MARK: Call kinds

  @Test("unary: the response echoes the request; the handler sees peer in-process and unique call ids")
  func unary() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ProbeEchoService(recorder: recorder)])
    let client = RpcV1.EchoService.Client(transport)
    for index in 0..<3 {
      let response = try await client.echo(.with {
        $0.message = "hello \(index)"
        $0.payload = [1, 2, 3]
      })
      #expect(response.message == "hello \(index)")
      #expect(response.payload == [1, 2, 3])
    }
    let seen = recorder.all
    #expect(seen.count == 3)
    #expect(seen.allSatisfy { $0.hasPrefix("peer in-process call ") })
    #expect(Set(seen).count == 3)  // three different call ids
  }

  @Test("server streaming: every response arrives in order")
  func serverStreaming() async throws {
    let (_, transport) = inProcess()
    let sequences = try await RpcV1.EchoService.Client(transport).expand(.with { $0.repeatCount = 50 }) { stream in
      try await stream.reduce(into: [Int32]()) { $0.append($1.sequence) }
    }
    #expect(sequences == Array(0..<50))
  }

  @Test("client streaming: the one response covers every request")
  func clientStreaming() async throws {
    let (_, transport) = inProcess()
    let response = try await RpcV1.EchoService.Client(transport).collect { writer in
      for word in ["a", "b", "c"] { try await writer.write(.with { $0.message = word }) }
    }
    #expect(response.message == "abc")
    #expect(response.requestCount == 3)
  }

  @Test("bidirectional: responses interleave with requests")
  func bidirectional() async throws {
    let (_, transport) = inProcess()
    let (requests, continuation) = AsyncStream.makeStream(of: String.self)
    let received = try await RpcV1.EchoService.Client(transport).update { writer in
      for await word in requests { try await writer.write(.with { $0.message = word }) }
    } responses: { responses in
      var received: [String] = []
      continuation.yield("first")
      for try await response in responses {
        received.append(response.message)
        // Each next request is sent only after the previous response came back.
        if received.count < 5 { continuation.yield("n\(received.count)") } else { continuation.finish() }
      }
      return received
    }
    #expect(received == ["first", "n1", "n2", "n3", "n4"])
  }

  @Test("large messages (more than a call window) go through in both directions")
  func largeMessages() async throws {
    let (_, transport) = inProcess()
    let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let response = try await RpcV1.EchoService.Client(transport).echo(.with { $0.payload = payload })
    #expect(response.payload == payload)
  }

  // MARK: Metadata

  @Test("metadata reaches the handler; response headers and error metadata reach the caller")
  func metadataHeadersAndTrailers() async throws {
    let (_, transport) = inProcess(services: [ProbeEchoService(recorder: Recorder())])
    let client = RpcV1.EchoService.Client(transport)
    var metadata = Metadata()
    metadata.add("x-request-id", "r-42")
    metadata.add("blob-bin", binary: [0xFF, 0x00, 0x10])
    let response = try await client.echo(.with { $0.echoMetadata = true }, options: CallOptions(metadata: metadata))
    #expect(response.receivedMetadata["x-request-id"] == "r-42")
    #expect(response.receivedMetadata["blob-bin"] == "/wAQ")

    let (headers, trailing, count) = try await client.expand(.with {
      $0.message = "with headers"
      $0.repeatCount = 3
    }) { stream in
      let headers = try await stream.headers()
      let count = try await stream.reduce(0) { count, _ in count + 1 }
      return (headers, stream.trailingMetadata, count)
    }
    #expect(headers["x-stage"] == "headers")
    #expect(headers.values("x-blob-bin") == [.binary(Array("ab".utf8))])  // as a connection decodes it
    #expect(trailing.isEmpty)
    #expect(count == 3)

    // A stream without headers: known to be empty once the first message is there.
    let none = try await client.expand(.with { $0.repeatCount = 1 }) { stream in
      var iterator = stream.makeAsyncIterator()
      _ = try await iterator.next()
      return try await stream.headers()
    }
    #expect(none.isEmpty)

    // Trailing metadata of a failed call.
    struct FailWithMetadata: ServerInterceptor {
      func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        throw RPCError(code: .permissionDenied, message: "no", metadata: ["x-policy": "deny-all"])
      }
    }
    let (_, refusing) = inProcess(interceptors: [FailWithMetadata()])
    let error = await rpcError { try await RpcV1.EchoService.Client(refusing).echo(.init()) }
    #expect(error?.code == .permissionDenied)
    #expect(error?.metadata["x-policy"] == "deny-all")
  }

  // MARK: Interceptors

  @Test("client interceptors then server interceptors run in order, first outermost, around the handler")
  func interceptorOrder() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(
      interceptors: [
        NamedServerInterceptor(name: "server 1", recorder: recorder),
        NamedServerInterceptor(name: "server 2", recorder: recorder),
      ],
      transport: {
        $0.interceptors = [
          NamedClientInterceptor(name: "client-1", recorder: recorder),
          NamedClientInterceptor(name: "client-2", recorder: recorder),
        ]
      })
    let response = try await RpcV1.EchoService.Client(transport).echo(.with { $0.message = "x" })
    #expect(response.message == "x")
    #expect(
      recorder.all == [
        "client-1 before", "client-2 before",
        "server 1 before, via client-1,client-2", "server 2 before, via client-1,client-2",
        "server 2 after", "server 1 after",
        "client-2 after", "client-1 after",
      ])
  }

  @Test("the same interceptors see a call over a socket and the same call in-process identically")
  func sameInterceptorsBothWays() async throws {
    let socketRecorder = Recorder()
    let inProcessRecorder = Recorder()
    /// Sends each call's events to whichever recorder the call's metadata names.
    struct Split: ServerInterceptor {
      let socket: Recorder
      let inProcess: Recorder
      func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        let recorder = context.peer == "in-process" ? inProcess : socket
        try await SnapshotServerInterceptor(recorder: recorder).intercept(context: context, next: next)
      }
    }
    let split = Split(socket: socketRecorder, inProcess: inProcessRecorder)
    try await withServer(interceptors: [split]) { server, port in
      let addToken = NamedClientInterceptor(name: "token", recorder: Recorder())
      try await withConnection(port: port, configure: { $0.interceptors = [addToken] }) { connection in
        let inProcess = InProcessTransport(server: server, interceptors: [addToken])
        var metadata = Metadata()
        metadata.add("x-request-id", "r-1")
        metadata.add("trace-bin", binary: [1, 2, 3])
        metadata.add("bad key", "dropped on the wire")
        let options = CallOptions(timeout: .seconds(5), metadata: metadata)
        let failing = RpcV1.EchoRequest.with {
          $0.failWith = .with {
            $0.code = Int32(RPCStatusCode.notFound.rawValue)
            $0.message = "no such order"
          }
        }

        var outcomes: [[String]] = []
        var errors: [RPCError?] = []
        for transport in [connection, inProcess] as [any ClientTransport] {
          let client = RpcV1.EchoService.Client(transport)
          let ok = try await client.echo(.with { $0.message = "one" }, options: options)
          let streamed = try await client.expand(.with { $0.repeatCount = 2 }, options: options) { stream in
            try await stream.reduce(into: [Int32]()) { $0.append($1.sequence) }
          }
          outcomes.append([ok.message, "\(streamed)"])
          errors.append(await rpcError { try await client.echo(failing, options: options) })
        }
        #expect(outcomes[0] == outcomes[1])
        #expect(errors[0] != nil && errors[0] == errors[1])
      }
    }
    #expect(socketRecorder.all.count == 6)
    #expect(socketRecorder.all == inProcessRecorder.all)
    #expect(socketRecorder.all.first?.contains("x-request-id=text(\"r-1\")") == true)
    #expect(socketRecorder.all.first?.contains("bad key") == false)
  }

  // MARK: Errors

  @Test("a method the server does not host fails with the socket's UNIMPLEMENTED error")
  func unimplemented() async throws {
    let (_, transport) = inProcess()
    let inProcessError = await rpcError { try await CommerceV1.CartService.Client(transport).getCart(.init()) }
    let error = try #require(inProcessError)
    #expect(error.code == .unimplemented)
    #expect(errorInfo(error)?.reason == "UNKNOWN_METHOD")
    #expect(errorInfo(error)?.metadata["method"] == "/emporium.commerce.v1.CartService/GetCart")
    let socketError = try await withServer { _, port in
      try await withConnection(port: port) { connection in
        await rpcError { try await CommerceV1.CartService.Client(connection).getCart(.init()) }
      }
    }
    #expect(error == socketError)
    // Streaming calls too, before the caller's body runs.
    let streaming = await rpcError {
      try await CommerceV1.NotificationService.Client(transport).subscribe(.init()) { _ in }
    }
    #expect(streaming?.code == .unimplemented)
  }

  @Test("a handler's error reaches the caller with code, message and details exactly as over a socket")
  func handlerErrors() async throws {
    let request = RpcV1.EchoRequest.with {
      $0.failWith = .with {
        $0.code = Int32(RPCStatusCode.notFound.rawValue)
        $0.message = "no such order"
        $0.details = .with {
          $0.details = [
            .with { $0.detail = .errorInfo(.with { $0.reason = "ORDER_NOT_FOUND"; $0.domain = "orders" }) },
            .with { $0.detail = .badRequest(.with { $0.fieldViolations = [.with { $0.field = "id" }] }) },
          ]
        }
      }
    }
    let (_, transport) = inProcess()
    let error = try #require(await rpcError { try await RpcV1.EchoService.Client(transport).echo(request) })
    #expect(error.code == .notFound)
    #expect(error.message == "no such order")
    #expect(errorInfo(error)?.reason == "ORDER_NOT_FOUND")
    #expect(error.details?.details.count == 2)
    #expect(!error.refused)

    // Not an RPCError: UNKNOWN with a generic message, as over a socket.
    struct Leaky: ServerInterceptor {
      struct DatabaseError: Error {}
      func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        throw DatabaseError()
      }
    }
    let (_, leaky) = inProcess(interceptors: [Leaky()])
    let unknown = await rpcError { try await RpcV1.EchoService.Client(leaky).echo(.init()) }

    let socketError = try await withServer { _, port in
      try await withConnection(port: port) { connection in
        await rpcError { try await RpcV1.EchoService.Client(connection).echo(request) }
      }
    }
    let socketUnknown = try await withServer(interceptors: [Leaky()]) { _, port in
      try await withConnection(port: port) { connection in
        await rpcError { try await RpcV1.EchoService.Client(connection).echo(.init()) }
      }
    }
    #expect(error == socketError)
    #expect(unknown?.code == .unknown)
    #expect(unknown == socketUnknown)

    // A streaming handler that fails after some responses: the responses, then the error.
    var received = 0
    let streamed = await rpcError {
      try await RpcV1.EchoService.Client(transport).expand(.with {
        $0.repeatCount = 5
        $0.failWith = .with {
          $0.code = Int32(RPCStatusCode.aborted.rawValue)
          $0.message = "stopped"
          $0.afterResponses = 2
        }
      }) { stream in
        for try await _ in stream { received += 1 }
      }
    }
    #expect(received == 2)
    #expect(streamed?.code == .aborted && streamed?.message == "stopped")
  }

  // MARK: Limits

  @Test("a request larger than the server's message limit fails as over a socket; the server carries on")
  func oversizedRequest() async throws {
    let configure: (inout RPCServer.Configuration) -> Void = { $0.settings.maxMessageSize = 64 << 10 }
    let (_, transport) = inProcess(configure: configure)
    let client = RpcV1.EchoService.Client(transport)
    let big = RpcV1.EchoRequest.with { $0.payload = [UInt8](repeating: 1, count: 100 << 10) }
    let error = try #require(await rpcError { try await client.echo(big) })
    #expect(error.code == .resourceExhausted)
    #expect(errorInfo(error)?.reason == "MESSAGE_TOO_LARGE")
    #expect(errorInfo(error)?.metadata["limitBytes"] == "65536")
    #expect(!error.refused)

    // In a stream, the write itself fails.
    let streamed = await rpcError {
      try await client.collect { writer in
        try await writer.write(.with { $0.message = "small" })
        try await writer.write(big)
      }
    }
    #expect(streamed?.code == .resourceExhausted)
    #expect(streamed.flatMap(errorInfo)?.reason == "MESSAGE_TOO_LARGE")

    let socketError = try await withServer(configure: configure) { _, port in
      try await withConnection(port: port) { connection in
        await rpcError { try await RpcV1.EchoService.Client(connection).echo(big) }
      }
    }
    #expect(socketError?.code == error.code)
    #expect(socketError.flatMap(errorInfo)?.reason == errorInfo(error)?.reason)
    #expect(socketError.flatMap(errorInfo)?.metadata["limitBytes"] == errorInfo(error)?.metadata["limitBytes"])

    let after = try await client.echo(.with { $0.message = "still here" })
    #expect(after.message == "still here")
  }

  @Test("a response larger than the caller's message limit fails with RESOURCE_EXHAUSTED")
  func oversizedResponse() async throws {
    let (_, transport) = inProcess(transport: { $0.maxMessageSize = 4096 })
    let request = RpcV1.EchoRequest.with { $0.responsePayloadSize = 8192 }
    let error = try #require(await rpcError { try await RpcV1.EchoService.Client(transport).echo(request) })
    #expect(error.code == .resourceExhausted)
    #expect(errorInfo(error)?.reason == "MESSAGE_TOO_LARGE")
    #expect(errorInfo(error)?.metadata["limitBytes"] == "4096")
    #expect(error.message.hasPrefix("response message of"))
    let small = try await RpcV1.EchoService.Client(transport).echo(.with { $0.responsePayloadSize = 1024 })
    #expect(small.payload.count == 1024)
  }

  @Test("call metadata over the server's header limit fails exactly as over a socket")
  func oversizedMetadata() async throws {
    let configure: (inout RPCServer.Configuration) -> Void = { $0.settings.maxHeaderSize = 1024 }
    var metadata = Metadata()
    metadata.add("x-large", String(repeating: "a", count: 2000))
    let options = CallOptions(metadata: metadata)
    let (_, transport) = inProcess(configure: configure)
    let client = RpcV1.EchoService.Client(transport)
    let error = try #require(await rpcError { try await client.echo(.init(), options: options) })
    #expect(error.code == .resourceExhausted)
    #expect(errorInfo(error)?.reason == "METADATA_TOO_LARGE")
    let socketError = try await withServer(configure: configure) { _, port in
      try await withConnection(port: port) { connection in
        await rpcError { try await RpcV1.EchoService.Client(connection).echo(.init(), options: options) }
      }
    }
    #expect(error == socketError)  // same size counted, same message
  }

  @Test("the server's handler limit applies, shared with its connections: a call past it is refused as safe to retry")
  func handlerLimit() async throws {
    let recorder = Recorder()
    try await withServer(
      services: [ProbeEchoService(recorder: recorder)], configure: { $0.maxRunningHandlers = 1 }
    ) { server, port in
      let client = RpcV1.EchoService.Client(InProcessTransport(server: server))
      // Holds the server's only handler slot until "release".
      let holding = Task {
        try await client.collect { writer in
          recorder.record("holding")
          try await writer.write(.with { $0.message = "held" })
        }
      }
      #expect(await recorded("holding", by: recorder))
      let error = try #require(await rpcError { try await client.echo(.init()) })
      #expect(error.code == .resourceExhausted)
      #expect(error.refused)
      #expect(errorInfo(error)?.reason == "CONCURRENCY_LIMIT")
      // A socket call is refused the same way: the limit is the server's, not the transport's.
      let socketError = try await withConnection(port: port) { connection in
        await rpcError { try await RpcV1.EchoService.Client(connection).echo(.init()) }
      }
      #expect(socketError == error)
      recorder.record("release")
      #expect(try await holding.value.message == "held")
      // The slot is back by the time the caller has its answer.
      for index in 0..<3 {
        #expect(try await client.echo(.with { $0.message = "after \(index)" }).message == "after \(index)")
      }
    }
  }

  // MARK: Deadlines and cancellation

  @Test("a call past its deadline fails with DEADLINE_EXCEEDED and its handler is cancelled")
  func deadline() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ObservedEchoService(recorder: recorder)])
    let client = RpcV1.EchoService.Client(transport)
    let started = ContinuousClock.now
    let error = await rpcError {
      try await client.echo(
        .with { $0.responseDelay = .with { $0.seconds = 30 } }, options: CallOptions(timeout: .milliseconds(200)))
    }
    #expect(error == RPCError(code: .deadlineExceeded, message: "deadline exceeded"))
    #expect(started.duration(to: .now) < .seconds(10))
    #expect(await recorded("echo cancelled", by: recorder))

    // The handler sees the deadline in its context.
    let response = try await client.echo(.with { $0.message = "timed" }, options: CallOptions(timeout: .seconds(3)))
    let remaining = try #require(response.remainingDeadline)
    #expect(remaining.seconds < 3 && (remaining.seconds > 0 || remaining.nanos > 0))
    #expect(try await client.echo(.init()).remainingDeadline == nil)

    // A deadline that has already passed fails before the call starts.
    let tooShort = await rpcError { try await client.echo(.init(), options: CallOptions(deadline: .now - .seconds(1))) }
    #expect(tooShort?.code == .deadlineExceeded)
    #expect(tooShort.flatMap(errorInfo)?.reason == "DEADLINE_TOO_SHORT")
  }

  @Test("a handler's in-process downstream call inherits the remaining deadline with no handler code")
  func deadlinePropagation() async throws {
    let (_, downstream) = inProcess()
    let relay = UnaryEchoService.relay(to: RpcV1.EchoService.Client(downstream))
    let (_, transport) = inProcess(services: [relay])
    let client = RpcV1.EchoService.Client(transport)
    let response = try await client.echo(.with { $0.message = "via relay" }, options: CallOptions(timeout: .seconds(3)))
    #expect(response.message == "via relay")
    let remaining = try #require(response.remainingDeadline)
    #expect(remaining.seconds < 3 && (remaining.seconds > 0 || remaining.nanos > 0))
    #expect(try await client.echo(.init()).remainingDeadline == nil)
    // And the deadline of the task's own call (RPCDeadline) when the caller is a handler.
    let inherited = try await RPCDeadline.$current.withValue(.now + .seconds(2)) {
      try await client.echo(.init())
    }
    #expect(try #require(inherited.remainingDeadline).seconds < 2)
  }

  @Test("cancelling the calling task cancels the handler; the call ends with CANCELLED")
  func cancellation() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ObservedEchoService(recorder: recorder)])
    let client = RpcV1.EchoService.Client(transport)
    let call = Task {
      try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 30 } })
    }
    #expect(await recorded("echo started", by: recorder))
    call.cancel()
    let error = await rpcError { try await call.value }
    #expect(error == RPCError(code: .cancelled, message: "the call was cancelled"))
    #expect(await recorded("echo cancelled", by: recorder))
    #expect(try await client.echo(.with { $0.message = "ok" }).message == "ok")
  }

  @Test("a caller that stops reading a stream early ends the call, and the handler finds it ended")
  func earlyReturnCancelsHandler() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ProbeEchoService(recorder: recorder)])
    let first = try await RpcV1.EchoService.Client(transport).expand(.with { $0.repeatCount = 1_000_000 }) { stream in
      var iterator = stream.makeAsyncIterator()
      return try await iterator.next()?.sequence
    }
    #expect(first == 0)
    // The handler, blocked on a full window or still writing, gets an error instead of
    // writing its million responses to no one.
    #expect(await recorded("expand failed: CANCELLED: the call has ended", by: recorder))
  }

  // MARK: Flow control

  @Test("a caller that stops reading a stream stops the handler after one call window")
  func slowReader() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ObservedEchoService(recorder: recorder)])
    let payload = [UInt8](repeating: 7, count: 16 << 10)  // 16 KiB per message
    let window = Int(InProcessTransport.Configuration().initialCallWindow)  // 64 KiB
    let total = try await RpcV1.EchoService.Client(transport).expand(.with {
      $0.repeatCount = 200
      $0.payload = payload
    }) { stream in
      var iterator = stream.makeAsyncIterator()
      _ = try await iterator.next()
      // Read nothing for a while: the handler may only get one window ahead.
      try await Task.sleep(for: .milliseconds(300))
      let ahead = recorder.count("wrote")
      #expect(ahead >= 2)
      #expect(ahead <= 1 + window / payload.count + 1)
      var count = 1
      while try await iterator.next() != nil { count += 1 }
      return count
    }
    #expect(total == 200)
    #expect(recorder.count("expand done") == 1)
  }

  @Test("a handler that does not read its requests stops the caller's writes after one call window")
  func slowHandler() async throws {
    let recorder = Recorder()
    let (_, transport) = inProcess(services: [ProbeEchoService(recorder: recorder)])
    let payload = [UInt8](repeating: 7, count: 16 << 10)
    let window = Int(RPCServer.Configuration().settings.initialCallWindow)
    let call = Task {
      try await RpcV1.EchoService.Client(transport).collect { writer in
        for _ in 0..<100 {
          try await writer.write(.with { $0.payload = payload })
          recorder.record("sent")
        }
      }
    }
    try await Task.sleep(for: .milliseconds(300))
    let sent = recorder.count("sent")
    #expect(sent >= 1)
    #expect(sent <= window / payload.count + 1)
    recorder.record("release")
    let response = try await call.value
    #expect(response.requestCount == 100)
    #expect(recorder.count("sent") == 100)
  }

  // MARK: Shutdown

  @Test("a draining server refuses new in-process calls as safe to retry; running ones finish")
  func draining() async throws {
    let recorder = Recorder()
    let (server, transport) = inProcess(services: [ObservedEchoService(recorder: recorder)])
    let client = RpcV1.EchoService.Client(transport)
    let slow = Task {
      try await client.echo(.with {
        $0.message = "slow"
        $0.responseDelay = .with { $0.nanos = 300_000_000 }
      })
    }
    #expect(await recorded("echo started", by: recorder))
    server.beginGracefulShutdown()
    let error = try #require(await rpcError { try await client.echo(.init()) })
    #expect(error.code == .unavailable)
    #expect(error.refused)
    #expect(errorInfo(error)?.reason == "SERVER_DRAINING")
    let streaming = await rpcError { try await client.expand(.init()) { _ in } }
    #expect(streaming == error)
    #expect(try await slow.value.message == "slow")
  }

  @Test("serve() drains in-process calls with its connections and ends what outlasts the drain timeout")
  func drainTimeout() async throws {
    var configuration = RPCServer.Configuration()
    configuration.port = 0
    configuration.drainTimeout = .seconds(1)
    let recorder = Recorder()
    let server = RPCServer(services: [ObservedEchoService(recorder: recorder)], configuration: configuration)
    let serving = Task { try await server.serve() }
    _ = try await server.localAddress()
    let client = RpcV1.EchoService.Client(InProcessTransport(server: server))
    let finishing = Task {
      try await client.echo(.with {
        $0.message = "finishing"
        $0.responseDelay = .with { $0.nanos = 100_000_000 }
      })
    }
    let stuck = Task { try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 60 } }) }
    while recorder.count("echo started") < 2 { try await Task.sleep(for: .milliseconds(5)) }
    server.beginGracefulShutdown()
    #expect(try await finishing.value.message == "finishing")
    let error = await rpcError { try await stuck.value }
    #expect(error == RPCError(code: .unavailable, message: "server shut down before the call finished"))
    #expect(await recorded("echo cancelled", by: recorder))
    try await serving.value
  }

  // MARK: Executors

  @Test("a handler runs on the caller's task executor, or off it when the caller has none")
  func handlerFollowsCallerExecutor() async throws {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let (_, transport) = inProcess(services: [WhereEchoService(loop: loop)])
    let client = RpcV1.EchoService.Client(transport)
    let onLoop = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
      try await client.echo(.init()).message
    }
    #expect(onLoop == "on the caller's loop")
    let elsewhere = try await client.echo(.init()).message
    #expect(elsewhere == "elsewhere")
  }

  @Test("the caller's task-local values do not reach the handler: only metadata and the deadline cross")
  func taskLocalsStayWithTheCaller() async throws {
    let (_, transport) = inProcess(services: [WhereEchoService(loop: MultiThreadedEventLoopGroup.singleton.next())])
    let seen = try await CallerLocal.$value.withValue("caller's secret") {
      try await RpcV1.EchoService.Client(transport).collect { _ in }.message
    }
    #expect(seen == "task-local: none")
  }
}
