import Logging
import Messages
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import RPC

/// What an HTTP server sent back to one raw request, read until it closed the connection.
struct RawHTTPResponse {
  var text: String
  /// False when the server still had the connection open at the time-out.
  var closedByServer: Bool

  var statusCode: Int? {
    guard let line = text.split(separator: "\r\n", maxSplits: 1).first else { return nil }
    let parts = line.split(separator: " ")
    return parts.count >= 2 ? Int(parts[1]) : nil
  }

  var body: String {
    guard let range = text.firstRange(of: "\r\n\r\n") else { return "" }
    return String(text[range.upperBound...])
  }
}

/// Sends `request` as is to 127.0.0.1:`port` and collects what comes back until the server
/// closes the connection, or `timeout` passes (then the client closes it).
func rawHTTP(port: Int, _ request: String, timeout: TimeAmount = .seconds(10)) async throws -> RawHTTPResponse {
  let loop = MultiThreadedEventLoopGroup.singleton.next()
  let done = loop.makePromise(of: (ByteBuffer, Bool).self)
  let channel: any Channel
  do {
    channel = try await ClientBootstrap(group: loop)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(CollectUntilClose(done))
        }
      }
      .connect(host: "127.0.0.1", port: port)
      .get()
  } catch {
    done.fail(error)
    throw error
  }
  let timer = loop.scheduleTask(in: timeout) {
    done.succeed((ByteBuffer(), false))
    channel.close(promise: nil)
  }
  if !request.isEmpty { try await channel.writeAndFlush(ByteBuffer(string: request)) }
  let (bytes, closed) = try await done.futureResult.get()
  timer.cancel()
  return RawHTTPResponse(text: String(buffer: bytes), closedByServer: closed)
}

private final class CollectUntilClose: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  private var received = ByteBuffer()
  private let done: EventLoopPromise<(ByteBuffer, Bool)>

  init(_ done: EventLoopPromise<(ByteBuffer, Bool)>) { self.done = done }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var bytes = unwrapInboundIn(data)
    received.writeBuffer(&bytes)
  }

  func channelInactive(context: ChannelHandlerContext) {
    done.succeed((received, true))
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}

