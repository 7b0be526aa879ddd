import NIOCore
import NIOHTTP1

/// A request and where its answer goes.
struct ProviderHTTPExchange: Sendable {
  var request: ProviderHTTPClient.Request
  var answer: EventLoopPromise<ProviderHTTPClient.Response>
}

/// Writes one request at a time and completes its promise with the answer; fails it when the
/// connection closes first.
final class ProviderHTTPExchangeHandler: ChannelDuplexHandler {
  typealias InboundIn = HTTPClientResponsePart
  typealias OutboundIn = ProviderHTTPExchange
  typealias OutboundOut = HTTPClientRequestPart

  private let host: String
  private let maximumResponseSize: Int
  private var pending: EventLoopPromise<ProviderHTTPClient.Response>?
  private var head: HTTPResponseHead?
  private var body: [UInt8] = []

  init(host: String, maximumResponseSize: Int) {
    self.host = host
    self.maximumResponseSize = maximumResponseSize
  }

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    let exchange = unwrapOutboundIn(data)
    guard pending == nil else {
      // The client sends one request at a time per connection; never reached.
      exchange.answer.fail(ProviderHTTPClient.Failure.connectionClosed(beforeResponse: true))
      promise?.fail(ProviderHTTPClient.Failure.connectionClosed(beforeResponse: true))
      return
    }
    pending = exchange.answer
    head = nil
    body = []
    var headers = exchange.request.headers
    headers.replaceOrAdd(name: "Host", value: host)
    headers.replaceOrAdd(name: "Content-Length", value: String(exchange.request.body.count))
    let requestHead = HTTPRequestHead(version: .http1_1, method: exchange.request.method, uri: exchange.request.target, headers: headers)
    context.write(wrapOutboundOut(.head(requestHead)), promise: nil)
    if !exchange.request.body.isEmpty {
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: exchange.request.body)))), promise: nil)
    }
    context.write(wrapOutboundOut(.end(nil)), promise: promise)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      self.head = head
    case .body(var buffer):
      guard body.count + buffer.readableBytes <= maximumResponseSize else {
        fail(.responseTooLarge)
        context.close(promise: nil)
        return
      }
      body += buffer.readBytes(length: buffer.readableBytes) ?? []
    case .end:
      guard let pending, let head else {
        // An answer nobody asked for: the connection is out of step.
        context.close(promise: nil)
        return
      }
      self.pending = nil
      self.head = nil
      let response = ProviderHTTPClient.Response(status: head.status, body: body, keepAlive: head.isKeepAlive)
      body = []
      pending.succeed(response)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    fail(.connectionClosed(beforeResponse: head == nil))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    fail(.connectionClosed(beforeResponse: head == nil))
    context.close(promise: nil)
  }

  private func fail(_ failure: ProviderHTTPClient.Failure) {
    pending?.fail(failure)
    pending = nil
  }
}
