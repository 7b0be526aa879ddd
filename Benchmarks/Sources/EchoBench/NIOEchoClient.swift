import NIOCore
import NIOPosix

/// The bare NIO side of `client`: one connection with ``FrameLoadHandler`` keeping
/// `concurrency` frames in flight. There is no call API, so `--mode` makes no difference: a
/// frame round trip is the floor for both unary calls and stream messages.
enum NIOEchoClient {
  static func run(_ options: ClientOptions) async throws -> ClientReport {
    let pool = PayloadPool(size: options.payload)
    let frames = pool.payloads.map { payload -> ByteBuffer in
      var buffer = ByteBuffer()
      buffer.writeInteger(UInt32(payload.count))
      buffer.writeBytes(payload)
      return buffer
    }
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    let finished = eventLoop.makePromise(of: StreamTally.self)
    let phase = StreamPhase()
    let channel = try await ClientBootstrap(group: eventLoop)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelOption(.maxMessagesPerRead, value: 16)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(
            FrameLoadHandler(
              frames: frames, payloadSize: options.payload, concurrency: options.concurrency, phase: phase,
              finished: finished))
        }
      }
      .connect(host: "127.0.0.1", port: options.port)
      .get()
    let outcome = try await options.streamLoad.window(phase) { try await finished.futureResult.get() }
    try? await channel.close()
    return ClientReport(options: options, outcome: outcome)
  }
}
