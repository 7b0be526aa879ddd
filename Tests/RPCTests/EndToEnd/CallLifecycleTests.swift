import Messages
import NIOCore
import RPCTestSupport
import TestSupport
import Testing

@testable import RPC

extension UnaryEchoService {
  /// Forwards each echo to a downstream server without touching deadlines: propagation must
  /// happen with no code in the handler.
  static func relay(to downstream: RpcV1.EchoService.Client) -> Self {
    Self { request, _ in try await downstream.echo(request) }
  }
}

@Suite("Deadlines, cancellation, flow control and shutdown")
struct CallLifecycleTests {
  @Test("a call past its deadline fails with DEADLINE_EXCEEDED and the server cancels its handler")
  func deadline() async throws {
    let recorder = Recorder()
    try await withServer(services: [ObservedEchoService(recorder: recorder)]) { _, port in
      try await withConnection(port: port) { connection in
        let started = ContinuousClock.now
        await #expect {
          try await RpcV1.EchoService.Client(connection).echo(
            .with { $0.responseDelay = .with { $0.seconds = 30 } }, options: CallOptions(timeout: .milliseconds(200)))
        } throws: { ($0 as? RPCError)?.code == .deadlineExceeded }
        #expect(started.duration(to: .now) < .seconds(10))  // not the 30 s the handler wanted
        await recorder.wait(for: "echo cancelled")
      }
    }
  }

  @Test("a short deadline opened after long ones still fires at its own time, on the client and the server")
  func shortDeadlineAfterLongOnes() async throws {
    let recorder = Recorder()
    try await withServer(services: [ObservedEchoService(recorder: recorder)]) { _, port in
      // Client: calls of 30 s open first, then one of 200 ms whose handler would answer in 20 s.
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        try await withThrowingTaskGroup(of: Void.self) { group in
          for _ in 0..<3 {
            group.addTask {
              let response = try await client.echo(
                .with {
                  $0.message = "long"
                  $0.responseDelay = .with { $0.seconds = 2 }
                }, options: CallOptions(timeout: .seconds(30)))
              #expect(response.message == "long")
            }
          }
          // The long calls are open (their handlers started) before the short one opens.
          #expect(await eventually { recorder.count("echo started") == 3 })
          let started = ContinuousClock.now
          await #expect {
            try await client.echo(
              .with { $0.responseDelay = .with { $0.seconds = 20 } }, options: CallOptions(timeout: .milliseconds(200)))
          } throws: { ($0 as? RPCError)?.code == .deadlineExceeded }
          #expect(started.duration(to: .now) < .seconds(1.5))  // before the long calls' answers, far from 30 s
          try await group.waitForAll()
        }
      }
      // Server: a peer that never cancels opens a call of 30 s, then one of 200 ms; the server
      // ends the short one itself with DEADLINE_EXCEEDED while the long one stays open.
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      let delayed = try RpcV1.EchoRequest.with { $0.responseDelay = .with { $0.seconds = 20 } }.serializedBytes()
      try await peer.send { buffer in
        for (id, timeout) in [(UInt32(1), UInt64(30_000_000)), (3, 200_000)] {
          FrameEncoder.writeCallOpen(
            callID: id,
            CallOpen(path: "/emporium.rpc.v1.EchoService/Echo", timeoutMicroseconds: timeout, metadata: [:]),
            into: &buffer)
          FrameEncoder.writeMessage(callID: id, ByteBuffer(bytes: delayed), endStream: true, more: false, into: &buffer)
        }
      }
      let ended = await eventually(within: .seconds(10)) {
        (try? peer.frames())?.contains { frame in
          if case .trailers(3, let trailers) = frame { return trailers.code == .deadlineExceeded }
          return false
        } ?? false
      }
      #expect(ended)
      let longOneEnded = try peer.frames().contains { frame in
        if case .trailers(1, _) = frame { return true }
        return false
      }
      #expect(!longOneEnded)
      await peer.close()
    }
  }

  @Test("a handler's downstream call inherits the remaining deadline with no handler code")
  func deadlinePropagation() async throws {
    try await withServer { _, downstreamPort in
      try await withConnection(port: downstreamPort) { downstream in
        let relay = UnaryEchoService.relay(to: RpcV1.EchoService.Client(downstream))
        try await withServer(services: [relay]) { _, relayPort in
          try await withConnection(port: relayPort) { connection in
            let response = try await RpcV1.EchoService.Client(connection).echo(
              .with { $0.message = "via relay" }, options: CallOptions(timeout: .seconds(3)))
            #expect(response.message == "via relay")
            let remaining = try #require(response.remainingDeadline)
            // The downstream server saw a deadline, and it was the caller's, not a fresh one.
            #expect(remaining.seconds < 3 && (remaining.seconds > 0 || remaining.nanos > 0))
            let withoutDeadline = try await RpcV1.EchoService.Client(connection).echo(.init())
            #expect(withoutDeadline.remainingDeadline == nil)
          }
        }
      }
    }
  }

  @Test("cancelling the calling task cancels the handler on the server")
  func cancellation() async throws {
    let recorder = Recorder()
    try await withServer(services: [ObservedEchoService(recorder: recorder)]) { _, port in
      try await withConnection(port: port) { connection in
        let call = Task {
          try await RpcV1.EchoService.Client(connection).echo(.with { $0.responseDelay = .with { $0.seconds = 30 } })
        }
        await recorder.wait(for: "echo started")
        call.cancel()
        await #expect { try await call.value } throws: { ($0 as? RPCError)?.code == .cancelled }
        await recorder.wait(for: "echo cancelled")
        // The connection carries on.
        let after = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "ok" })
        #expect(after.message == "ok")
      }
    }
  }

  @Test("a call from a task cancelled before it starts fails with CANCELLED at once, on or off the loop")
  func cancelledBeforeTheCall() async throws {
    try await withServer(services: [EchoService()]) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        for onLoop in [false, true] {
          for _ in 0..<50 {
            // A new task may start running on the other core before `cancel()` is reached, so
            // it waits on a gate that only its cancellation opens: the call then always starts
            // from a cancelled task.
            let (gate, unused) = AsyncStream<Never>.makeStream()
            let call = Task {
              for await _ in gate {}
              if onLoop {
                try await withTaskExecutorPreference(connection.executor) {
                  try await client.echo(.with { $0.message = "never" })
                }
              } else {
                try await client.echo(.with { $0.message = "never" })
              }
            }
            call.cancel()
            await #expect { try await call.value } throws: { ($0 as? RPCError)?.code == .cancelled }
            unused.finish()
          }
        }
        // The connection carries on.
        let after = try await client.echo(.with { $0.message = "ok" })
        #expect(after.message == "ok")
      }
    }
  }

  @Test("a client that stops reading a stream stops the server after one call window")
  func flowControl() async throws {
    let recorder = Recorder()
    try await withServer(services: [ObservedEchoService(recorder: recorder)]) { _, port in
      try await withConnection(port: port) { connection in
        let payload = [UInt8](repeating: 7, count: 16 << 10)  // 16 KiB per message
        let window = Int(ConnectionSettings().initialCallWindow)  // 64 KiB
        let total = try await RpcV1.EchoService.Client(connection).expand(.with {
          $0.repeatCount = 200
          $0.payload = payload
        }) { stream in
          var iterator = stream.makeAsyncIterator()
          _ = try await iterator.next()
          // Read nothing for a while: the server may only get one window ahead.
          try await Task.sleep(for: .milliseconds(300))
          let aheadWhileBlocked = recorder.count("wrote")
          #expect(aheadWhileBlocked <= 1 + window / payload.count + 1)
          #expect(recorder.count("expand done") == 0)
          var count = 1
          while try await iterator.next() != nil { count += 1 }
          return count
        }
        #expect(total == 200)
        #expect(recorder.count("expand done") == 1)
      }
    }
  }

  @Test("graceful shutdown: in-flight calls finish; later calls are refused as safe to retry")
  func gracefulShutdown() async throws {
    var configuration = RPCServer.Configuration()
    configuration.port = 0
    let recorder = Recorder()
    let server = RPCServer(services: [ObservedEchoService(recorder: recorder)], configuration: configuration)
    let serving = Task { try await server.serve() }
    let port = try await server.localAddress().port!
    try await withConnection(port: port) { connection in
      let client = RpcV1.EchoService.Client(connection)
      let slow = Task {
        try await client.echo(.with {
          $0.message = "slow"
          $0.responseDelay = .with { $0.nanos = 400_000_000 }
        })
      }
      await recorder.wait(for: "echo started")
      server.beginGracefulShutdown()
      while await connection.acceptsNewCalls { try await Task.sleep(for: .milliseconds(5)) }
      await #expect { try await client.echo(.init()) } throws: { error in
        guard let error = error as? RPCError else { return false }
        return error.code == .unavailable && error.refused
      }
      let finished = try await slow.value
      #expect(finished.message == "slow")
    }
    try await serving.value
    await #expect { try await RPCConnection.connect(host: "127.0.0.1", port: port) } throws: {
      ($0 as? RPCError)?.code == .unavailable
    }
  }

  @Test("a drain that outlasts its timeout cancels the remaining calls with UNAVAILABLE")
  func drainTimeout() async throws {
    var configuration = RPCServer.Configuration()
    configuration.port = 0
    configuration.drainTimeout = .milliseconds(200)
    let server = RPCServer(services: [EchoService()], configuration: configuration)
    let serving = Task { try await server.serve() }
    let port = try await server.localAddress().port!
    try await withConnection(port: port) { connection in
      let stuck = Task {
        try await RpcV1.EchoService.Client(connection).echo(.with { $0.responseDelay = .with { $0.seconds = 60 } })
      }
      try await Task.sleep(for: .milliseconds(100))
      server.beginGracefulShutdown()
      await #expect { try await stuck.value } throws: { ($0 as? RPCError)?.code == .unavailable }
    }
    try await serving.value
  }

  @Test("client interceptors add metadata; server interceptors see it and can refuse calls, unary and streaming")
  func interceptors() async throws {
    struct AddToken: ClientInterceptor {
      func intercept<Result: Sendable>(
        context: ClientCallContext, next: (ClientCallContext) async throws -> Result
      ) async throws -> Result {
        var context = context
        context.options.metadata.add("authorization", "Bearer good")
        return try await next(context)
      }
    }
    struct RequireToken: ServerInterceptor {
      func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        guard context.metadata["authorization"] == "Bearer good" else {
          throw RPCError(code: .unauthenticated, message: "missing token")
        }
        try await next(context)
      }
    }
    try await withServer(interceptors: [RequireToken()]) { _, port in
      _ = try await withConnection(port: port) { connection in
        await #expect { try await RpcV1.EchoService.Client(connection).echo(.init()) } throws: {
          ($0 as? RPCError)?.code == .unauthenticated
        }
        // A streaming call refused on its headers may end before its request goes out: the
        // caller still gets the server's status, never a CANCELLED that hides it.
        for _ in 0..<500 {
          await #expect {
            try await RpcV1.EchoService.Client(connection).expand(.with { $0.repeatCount = 1 }) { stream in
              try await stream.reduce(0) { count, _ in count + 1 }
            }
          } throws: { ($0 as? RPCError)?.code == .unauthenticated }
        }
      }
      try await withConnection(port: port, configure: { $0.interceptors = [AddToken()] }) { connection in
        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "in" })
        #expect(response.message == "in")
      }
    }
  }

  @Test("ping measures a round trip")
  func ping() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let rtt = try await connection.ping()
        #expect(rtt > .zero && rtt < .seconds(5))
      }
    }
  }
}
