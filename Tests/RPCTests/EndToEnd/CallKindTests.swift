import CommerceAPI
import Messages
import NIOConcurrencyHelpers
import NIOCore
import RPCTestSupport
import Testing

@testable import RPC

@Suite("Calls over a real connection")
struct CallKindTests {
  static let compressions: [ConnectionSettings.Compression] = [.zstd, .none]

  @Test("unary: the response echoes the request", arguments: compressions)
  func unary(compression: ConnectionSettings.Compression) async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: compression) { connection in
        let negotiated = try await connection.compression
        #expect(negotiated == compression)
        let client = RpcV1.EchoService.Client(connection)
        let response = try await client.echo(.with {
          $0.message = "hello"
          $0.payload = [1, 2, 3]
        })
        #expect(response.message == "hello")
        #expect(response.payload == [1, 2, 3])
        #expect(response.requestCount == 1)
      }
    }
  }

  @Test("server streaming: every response arrives in order", arguments: compressions)
  func serverStreaming(compression: ConnectionSettings.Compression) async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: compression) { connection in
        let sequences = try await RpcV1.EchoService.Client(connection).expand(.with { $0.repeatCount = 50 }) { stream in
          try await stream.reduce(into: [Int32]()) { $0.append($1.sequence) }
        }
        #expect(sequences == Array(0..<50))
      }
    }
  }

  @Test("client streaming: the one response covers every request", arguments: compressions)
  func clientStreaming(compression: ConnectionSettings.Compression) async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: compression) { connection in
        let response = try await RpcV1.EchoService.Client(connection).collect { writer in
          for word in ["a", "b", "c"] { try await writer.write(.with { $0.message = word }) }
        }
        #expect(response.message == "abc")
        #expect(response.requestCount == 3)
      }
    }
  }

  @Test("bidirectional: responses interleave with requests", arguments: compressions)
  func bidirectional(compression: ConnectionSettings.Compression) async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: compression) { connection in
        let (requests, continuation) = AsyncStream.makeStream(of: String.self)
        let received = try await RpcV1.EchoService.Client(connection).update { writer in
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
    }
  }

  @Test("metadata travels with the call: text and binary values")
  func metadata() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        var metadata = Metadata()
        metadata.add("x-request-id", "r-42")
        metadata.add("blob-bin", binary: [0xFF, 0x00, 0x10])
        let response = try await RpcV1.EchoService.Client(connection).echo(
          .with { $0.echoMetadata = true }, options: CallOptions(metadata: metadata))
        #expect(response.receivedMetadata["x-request-id"] == "r-42")
        #expect(response.receivedMetadata["blob-bin"] == "/wAQ")
      }
    }
  }

  @Test("a handler's error reaches the caller with its code, message and details")
  func errors() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let request = RpcV1.EchoRequest.with {
          $0.failWith = .with {
            $0.code = Int32(RPCStatusCode.notFound.rawValue)
            $0.message = "no such order"
            $0.details = .with { $0.details = [.with { $0.detail = .errorInfo(.with { $0.reason = "ORDER_NOT_FOUND" }) }] }
          }
        }
        await #expect {
          try await RpcV1.EchoService.Client(connection).echo(request)
        } throws: { error in
          guard let error = error as? RPCError else { return false }
          guard case .errorInfo(let info)? = error.details?.details.first?.detail else { return false }
          return error.code == .notFound && error.message == "no such order" && info.reason == "ORDER_NOT_FOUND"
        }
      }
    }
  }

  @Test("a method the server does not host fails with UNIMPLEMENTED; the connection stays usable")
  func unimplemented() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        await #expect {
          try await CommerceV1.CartService.Client(connection).getCart(.init())
        } throws: { error in
          guard let error = error as? RPCError, case .errorInfo(let info)? = error.details?.details.first?.detail else {
            return false
          }
          return error.code == .unimplemented && info.reason == "UNKNOWN_METHOD" && info.domain == "rpc.emporium"
            && info.metadata["method"] == "/emporium.commerce.v1.CartService/GetCart"
        }
        let after = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "still here" })
        #expect(after.message == "still here")
      }
    }
  }

  @Test("messages larger than a frame and than the call window go through in both directions", arguments: compressions)
  func largeMessages(compression: ConnectionSettings.Compression) async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: compression) { connection in
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.payload = payload })
        #expect(response.payload == payload)
      }
    }
  }

  @Test("every call kind works when the caller runs on the connection's event loop")
  func callerOnEventLoop() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        try await withTaskExecutorPreference(connection.executor) {
          let client = RpcV1.EchoService.Client(connection)
          let unary = try await client.echo(.with { $0.message = "loop" })
          #expect(unary.message == "loop")
          let count = try await client.expand(.with { $0.repeatCount = 3 }) { try await $0.reduce(0) { n, _ in n + 1 } }
          #expect(count == 3)
          let collected = try await client.collect { writer in
            try await writer.write(.with { $0.message = "a" })
            try await writer.write(.with { $0.message = "b" })
          }
          #expect(collected.message == "ab")
          let echoed = try await client.update { writer in
            try await writer.write(.with { $0.message = "x" })
          } responses: { try await $0.reduce(into: [String]()) { $0.append($1.message) } }
          #expect(echoed == ["x"])
          let timedOut = await #expect(throws: RPCError.self) {
            try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 5 } }, options: CallOptions(timeout: .milliseconds(50)))
          }
          #expect(timedOut?.code == .deadlineExceeded)
        }
      }
    }
  }

  @Test("startUnary: a call started on the loop without a task answers its callback on the loop")
  func startUnaryOnTheLoop() async throws {
    try await withServer { _, port in
      try await withConnection(port: port, compression: .none) { connection in
        /// Starts `requests` together on the loop; returns each answer and whether it came on the loop.
        func call(_ requests: [RpcV1.EchoRequest], options: CallOptions = .init()) async
          -> [(Result<RpcV1.EchoResponse, RPCError>, Bool)]
        {
          await withCheckedContinuation { continuation in
            connection.eventLoop.execute {
              var answers: [(Result<RpcV1.EchoResponse, RPCError>, Bool)?] = Array(repeating: nil, count: requests.count)
              var left = requests.count
              for (index, request) in requests.enumerated() {
                connection.startUnary(RpcV1.EchoService.Echo.self, request, options: options) { result in
                  answers[index] = (result, connection.eventLoop.inEventLoop)
                  left -= 1
                  if left == 0 { continuation.resume(returning: answers.map { $0! }) }
                }
              }
            }
          }
        }
        let answered = await call((0..<200).map { n in .with { $0.message = "call \(n)" } })
        #expect(answered.allSatisfy { $0.1 })  // every callback ran on the loop
        let messages = try answered.map { try $0.0.get().message }
        #expect(messages == (0..<200).map { "call \($0)" })

        let failed = await call([
          .with {
            $0.failWith = .with {
              $0.code = Int32(RPCStatusCode.notFound.rawValue)
              $0.message = "no such order"
            }
          }
        ])
        #expect(throws: RPCError.self) { try failed[0].0.get() }
        if case .failure(let error) = failed[0].0 {
          #expect(error.code == .notFound)
          #expect(error.message == "no such order")
        }

        let late = await call(
          [.with { $0.responseDelay = .with { $0.seconds = 5 } }], options: CallOptions(timeout: .milliseconds(50)))
        if case .failure(let error) = late[0].0 {
          #expect(error.code == .deadlineExceeded)
        } else {
          Issue.record("a call past its deadline answered \(late[0].0)")
        }
        // The connection still serves calls from tasks.
        let after = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "after" })
        #expect(after.message == "after")
      }
    }
  }

  @Test("startUnary refuses a connection with interceptors rather than skip them")
  func startUnaryRefusesInterceptors() async throws {
    struct Tag: ClientInterceptor {
      func intercept<Result: Sendable>(
        context: ClientCallContext, next: (ClientCallContext) async throws -> Result
      ) async throws -> Result {
        try await next(context)
      }
    }
    try await withServer { _, port in
      try await withConnection(port: port, configure: { $0.interceptors = [Tag()] }) { connection in
        let result: Result<RpcV1.EchoResponse, RPCError> = await withCheckedContinuation { continuation in
          connection.eventLoop.execute {
            connection.startUnary(RpcV1.EchoService.Echo.self, .with { $0.message = "x" }) { continuation.resume(returning: $0) }
          }
        }
        guard case .failure(let error) = result else {
          Issue.record("startUnary ran a call past the connection's interceptors")
          return
        }
        #expect(error.code == .failedPrecondition)
        #expect(error.message.contains("interceptors"))
      }
    }
  }

  @Test("hundreds of concurrent calls share one connection")
  func concurrency() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        let messages = try await withThrowingTaskGroup(of: String.self) { group in
          for index in 0..<400 {
            group.addTask { try await client.echo(.with { $0.message = "call \(index)" }).message }
          }
          return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(messages.count == 400)
      }
    }
  }

  @Test("health: Check answers SERVING; unknown services are NOT_FOUND")
  func health() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let health = RpcV1.HealthService.Client(connection)
        let server = try await health.check(.init())
        let echo = try await health.check(.with { $0.service = "emporium.rpc.v1.EchoService" })
        #expect(server.status == .serving && echo.status == .serving)
        await #expect { try await health.check(.with { $0.service = "nope.Service" }) } throws: {
          ($0 as? RPCError)?.code == .notFound
        }
      }
    }
  }

  @Test("health: Watch streams the current status, then changes")
  func healthWatch() async throws {
    try await withServer { server, port in
      try await withConnection(port: port) { connection in
        let statuses = try await RpcV1.HealthService.Client(connection).watch(.with { $0.service = "emporium.rpc.v1.EchoService" }) {
          stream in
          var seen: [RpcV1.ServingStatus] = []
          for try await response in stream {
            seen.append(response.status)
            if seen.count == 1 { server.healthStatus?.setStatus(.notServing, for: "emporium.rpc.v1.EchoService") }
            if seen.count == 2 { break }
          }
          return seen
        }
        #expect(statuses == [.serving, .notServing])
      }
    }
  }

  @Test("reflection lists hosted services and describes messages with maps and oneofs")
  func reflection() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let reflection = RpcV1.ReflectionService.Client(connection)
        let services = try await reflection.listServices(.init()).serviceNames
        #expect(services == ["emporium.rpc.v1.EchoService", "emporium.rpc.v1.HealthService", "emporium.rpc.v1.ReflectionService"])
        let described = try await reflection.describeSymbol(.with { $0.symbol = "/emporium.rpc.v1.EchoService/Expand" })
        guard case .methodSchema(let method)? = described.described else { Issue.record("not a method"); return }
        #expect(method.callKind == .serverStreaming)
        let response = try #require(described.messageTypes.first { $0.fullName == "emporium.rpc.v1.EchoResponse" })
        let metadataField = try #require(response.fields.first { $0.name == "received_metadata" })
        #expect(metadataField.label == .map && metadataField.mapKeyKind == .string && metadataField.kind == .string)
        #expect(described.messageTypes.contains { $0.fullName == "google.protobuf.Duration" })
        #expect(described.enumTypes.contains { $0.fullName == "emporium.rpc.v1.PayloadFill" })
        let allTypes = try await reflection.describeSymbol(.with { $0.symbol = "emporium.testing.v1.AllTypes" })
        guard case .messageSchema(let schema)? = allTypes.described else { Issue.record("not a message"); return }
        #expect(schema.oneofs.first?.name == "choice")
        #expect(schema.fields.first { $0.name == "o_text" }?.oneofName == "choice")
        #expect(schema.fields.first { $0.name == "r_int32" }?.packed == true)
        await #expect { try await reflection.describeSymbol(.with { $0.symbol = "no.Such" }) } throws: {
          ($0 as? RPCError)?.code == .notFound
        }
      }
    }
  }
}

@Suite("Echo's Collect bounds what it keeps")
struct CollectBoundTests {
  @Test("a Collect that streams past one response's worth fails RESOURCE_EXHAUSTED before the half-close")
  func collectFailsEarly() async throws {
    // The largest response is 256 KiB less 1 KiB: the fourth 64 KiB request crosses it.
    try await withServer(services: [EchoService(maxMessageSize: 256 << 10)]) { _, port in
      try await withConnection(port: port) { connection in
        let written = WriteCounter()
        await #expect {
          _ = try await RpcV1.EchoService.Client(connection).collect { writer in
            // Writes fail once the call has ended; the status comes with the response.
            for _ in 0..<100 {
              do {
                try await writer.write(.with { $0.payload = [UInt8](repeating: 1, count: 64 << 10) })
              } catch {
                return
              }
              written.increment()
            }
          }
        } throws: { ($0 as? RPCError)?.code == .resourceExhausted }
        // The server ended the call while the caller was still streaming.
        #expect(written.value < 100)
        let after = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "same connection" })
        #expect(after.message == "same connection")
      }
    }
  }
}

final class WriteCounter: Sendable {
  private let count = NIOLockedValueBox(0)
  func increment() { count.withLockedValue { $0 += 1 } }
  var value: Int { count.withLockedValue { $0 } }
}
