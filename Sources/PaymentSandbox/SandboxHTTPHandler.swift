import NIOCore
import NIOHTTP1

/// Reads each request in full, answers it from a task of its own, and cancels that task when
/// the connection closes first.
final class SandboxHTTPHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let api: SandboxAPI
  private let maximumBodySize: Int
  private var head: HTTPRequestHead?
  private var body: [UInt8] = []
  private var tooLarge = false
  private var inFlight: Task<Void, Never>?

  init(api: SandboxAPI, maximumBodySize: Int) {
    self.api = api
    self.maximumBodySize = maximumBodySize
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      self.head = head
      body = []
      tooLarge = false
    case .body(var buffer):
      if body.count + buffer.readableBytes > maximumBodySize {
        tooLarge = true
        body = []
      } else if !tooLarge {
        body += buffer.readBytes(length: buffer.readableBytes) ?? []
      }
    case .end:
      guard let head else { return }
      self.head = nil
      if tooLarge {
        write(
          .error(.payloadTooLarge, "too_large", "the body exceeds \(maximumBodySize) bytes"), version: head.version, keepAlive: false,
          context: context)
        return
      }
      answer(SandboxHTTPRequest(method: head.method, target: head.uri, headers: head.headers, body: body), head: head, context: context)
      body = []
    }
  }

  private func answer(_ request: SandboxHTTPRequest, head: HTTPRequestHead, context: ChannelHandlerContext) {
    let loop = context.eventLoop
    let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
    let api = self.api
    let (version, keepAlive) = (head.version, head.isKeepAlive)
    inFlight = Task {
      let response: SandboxHTTPResponse
      do {
        response = try await api.respond(to: request)
      } catch {
        // Cancelled: the connection is gone, nobody waits for an answer.
        return
      }
      loop.execute {
        let (handler, context) = bound.value
        handler.inFlight = nil
        handler.write(response, version: version, keepAlive: keepAlive, context: context)
      }
    }
  }

  private func write(_ response: SandboxHTTPResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
    guard context.channel.isActive else { return }
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json")
    headers.add(name: "Content-Length", value: String(response.body.count))
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
    let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      let channel = context.channel
      written.whenComplete { _ in channel.close(promise: nil) }
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    inFlight?.cancel()
    inFlight = nil
    context.fireChannelInactive()
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent {
      if inFlight == nil { context.close(promise: nil) }
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}
