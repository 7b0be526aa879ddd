import CommerceAPI
import CommerceKit
import Foundation
public import Hummingbird
public import Logging
public import Messages
public import NIOCore
import ProtoJSON
public import RPC
import Synchronization

/// The gateway's HTTP/1.1 face, for browsers and curl: `POST /v1/{Service}/{Method}` with the
/// request message as proto3 JSON, answered with the response message as JSON; server streams
/// as newline-delimited JSON (`{"result": ...}` per message, `{"error": ...}` if the stream
/// fails), or as server-sent events when the client accepts `text/event-stream`. Failures are
/// `{"code", "message", "details"}` (google.rpc.Status in JSON) with the HTTP status grpc-gateway
/// gives the code. `GET /` serves the storefront page. docs/GATEWAY.md, "The HTTP/JSON face".
///
/// Every call is admitted as the binary face admits it (limits, authentication once, the
/// asserted identity) and forwarded through the same pools.
public struct GatewayHTTP: Sendable {
  /// The listener and limits of the HTTP face.
  public struct Configuration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The deadline of a unary call made over HTTP (streams run until the client leaves).
    public var callTimeout: Duration = .seconds(30)
    /// The largest request body accepted.
    public var maximumBodySize = 1 << 20

    public init() {}
  }

  /// A method reachable over HTTP, with the transport to its service.
  struct Route: Sendable {
    let method: ProtoMethodDescriptor
    let transport: any ClientTransport
  }

  let routes: [String: Route]
  let forwarder: Forwarder
  let codec: JSONMessageCodec
  let configuration: Configuration
  let page: ByteBuffer

  init(configuration: Configuration, routes: [String: Route], forwarder: Forwarder, page: ByteBuffer) {
    self.configuration = configuration
    self.routes = routes
    self.forwarder = forwarder
    self.page = page
    // The commerce contract, with the runtime's own types (ErrorDetails for failures).
    self.codec = JSONMessageCodec(schema: SchemaCatalog(registry: .commerceAPI))
  }

  /// The HTTP server, to run in a ServiceGroup; `onListening` is told its port once it listens.
  public func application(
    logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) -> some ApplicationProtocol {
    let router = Router(context: GatewayRequestContext.self)
    router.get("/") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
        body: .init(byteBuffer: page))
    }
    router.post("/v1/:service/:method") { request, context in
      await self.respond(to: request, context: context)
    }
    return Application(
      router: router,
      configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "emporium-gateway"),
      onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// One call: its route, its body as the request message, admission, the call, its answer.
  func respond(to request: Request, context: GatewayRequestContext) async -> Response {
    let service = context.parameters.get("service") ?? ""
    let name = context.parameters.get("method") ?? ""
    guard let route = routes["\(service)/\(name)"] else {
      return Self.failure(
        RPCError(code: .unimplemented, message: "no method \(service)/\(name); POST /v1/{Service}/{Method}, for example /v1/CatalogService/SearchProducts"),
        codec: codec)
    }
    let method = route.method
    guard method.kind == .unary || method.kind == .serverStreaming else {
      return Self.failure(
        RPCError(code: .unimplemented, message: "\(method.path) streams its requests, which HTTP/JSON cannot carry; use the binary protocol"),
        codec: codec)
    }
    let message: ByteBuffer
    do {
      var body = try await request.body.collect(upTo: configuration.maximumBodySize)
      let text = body.readableBytes == 0 ? "{}" : body.readString(length: body.readableBytes) ?? ""
      message = try codec.encode(json: text, messageType: method.inputType)
    } catch let error as ProtoJSONError {
      let violation = RpcV1.BadRequest.FieldViolation.with {
        $0.field = error.path
        $0.messageText = error.message
      }
      return Self.failure(
        RPCError(
          code: .invalidArgument, message: "the request body is not a \(method.inputType) in JSON: \(error)",
          details: .with { $0.details = [.with { $0.detail = .badRequest(.with { $0.fieldViolations = [violation] }) }] }),
        codec: codec)
    } catch {
      return Self.failure(
        RPCError(code: .invalidArgument, message: "the request body is over \(configuration.maximumBodySize) bytes"), codec: codec)
    }
    let metadata = Self.metadata(of: request.headers)
    let client = context.remoteAddress.map { ServerContext.hostAddress(ofPeer: $0.description) } ?? "unknown"
    return await RPCTrace.$current.withValue(RPCTrace.incoming(metadata)) {
      do {
        var options = try await forwarder.admit(method, metadata: metadata, client: client)
        if method.kind == .unary {
          options.timeout = configuration.callTimeout
          let response = try await route.transport.unary(method: method, request: message, options: options)
          let json = try codec.json(from: response, messageType: method.outputType)
          return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        let events = request.headers[.accept]?.contains("text/event-stream") == true
        return try await stream(method, message: message, options: options, to: route.transport, events: events)
      } catch {
        return Self.failure(Self.rpcError(error), codec: codec)
      }
    }
  }

  /// A server stream: its first message (or its failure) decides the HTTP status; the rest flows
  /// in the response body as it arrives. The client leaving ends the call.
  private func stream(
    _ method: ProtoMethodDescriptor, message: ByteBuffer, options: CallOptions, to transport: any ClientTransport,
    events: Bool
  ) async throws -> Response {
    let (messages, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
    let call = Task {
      do {
        try await transport.withStreamingCall(method: method, options: options) { upstream in
          try await upstream.send(message)
          try await upstream.closeSend()
          while let response = try await upstream.receive() { continuation.yield(response) }
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    var iterator = messages.makeAsyncIterator()
    let first: ByteBuffer?
    do {
      first = try await iterator.next()
    } catch {
      call.cancel()
      throw error
    }
    let codec = codec
    let outputType = method.outputType
    let pending = Mutex<AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator?>(iterator)
    let body = ResponseBody { writer in
      guard var iterator = pending.withLock({ state in defer { state = nil }; return state }) else { return }
      defer { call.cancel() }
      var next = first
      do {
        while let message = next {
          let json = try codec.json(from: message, messageType: outputType)
          try await writer.write(ByteBuffer(string: events ? "data: \(json)\n\n" : "{\"result\":\(json)}\n"))
          next = try await iterator.next()
        }
      } catch let error where !(error is CancellationError) {
        let status = Self.statusJSON(Self.rpcError(error), codec: codec)
        try await writer.write(ByteBuffer(string: events ? "event: error\ndata: \(status)\n\n" : "{\"error\":\(status)}\n"))
      }
      try await writer.finish(nil)
    }
    return Response(
      status: .ok,
      headers: [.contentType: events ? "text/event-stream" : "application/x-ndjson", .cacheControl: "no-cache"],
      body: body)
  }

  /// The call's metadata from HTTP headers: `authorization`, `traceparent` and `tracestate`,
  /// and `Grpc-Metadata-<key>` as `<key>` (grpc-gateway's convention).
  static func metadata(of headers: HTTPFields) -> Metadata {
    var metadata = Metadata()
    for field in headers {
      let name = field.name.canonicalName
      switch name {
      case "authorization", RPCTrace.traceParentKey, RPCTrace.traceStateKey:
        metadata.add(name, field.value)
      default:
        if name.hasPrefix("grpc-metadata-"), name.count > 14 { metadata.add(String(name.dropFirst(14)), field.value) }
      }
    }
    return metadata
  }

  static func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let error as RPCError: error
    case let error as any RPCErrorConvertible: error.rpcError
    case let error as ProtoJSONError: RPCError(code: .internal, message: "the response could not be written as JSON: \(error)")
    default: RPCError(code: .internal, message: "the gateway failed: \(type(of: error))")
    }
  }

  /// The HTTP status grpc-gateway maps `code` to.
  public static func httpStatus(of code: RPCStatusCode) -> HTTPResponse.Status {
    switch code {
    case .ok: .ok
    case .cancelled: .init(code: 499, reasonPhrase: "Client Closed Request")
    case .invalidArgument, .failedPrecondition, .outOfRange: .badRequest
    case .deadlineExceeded: .gatewayTimeout
    case .notFound: .notFound
    case .alreadyExists, .aborted: .conflict
    case .permissionDenied: .forbidden
    case .unauthenticated: .unauthorized
    case .resourceExhausted: .tooManyRequests
    case .unimplemented: .notImplemented
    case .unavailable: .serviceUnavailable
    default: .internalServerError
    }
  }

  /// The numeric HTTP status grpc-gateway maps `code` to.
  public static func httpStatusCode(of code: RPCStatusCode) -> Int { httpStatus(of: code).code }

  /// The failure response: the status as JSON, with `Retry-After` when the error says when.
  static func failure(_ error: RPCError, codec: JSONMessageCodec) -> Response {
    var headers: HTTPFields = [.contentType: "application/json"]
    if let delay = error.retryDelay {
      let seconds = delay.components.seconds + (delay.components.attoseconds > 0 ? 1 : 0)
      headers[.retryAfter] = String(max(1, seconds))
    }
    return Response(
      status: httpStatus(of: error.code), headers: headers, body: .init(byteBuffer: ByteBuffer(string: statusJSON(error, codec: codec))))
  }

  /// `{"code": N, "message": "...", "details": [...]}`: google.rpc.Status's JSON form, the
  /// details as the runtime's ErrorDetails give them (`{"errorInfo": {...}}`, `{"badRequest": ...}`).
  static func statusJSON(_ error: RPCError, codec: JSONMessageCodec) -> String {
    let message = (try? String(decoding: JSONEncoder().encode(error.message), as: UTF8.self)) ?? "\"\""
    var json = "{\"code\":\(error.code.rawValue),\"message\":\(message)"
    if let details = error.details, !details.details.isEmpty {
      var buffer = ByteBuffer()
      if (try? details.encode(into: &buffer)) != nil,
        let text = try? codec.json(from: buffer, messageType: "emporium.rpc.v1.ErrorDetails"), text.hasPrefix("{"),
        text.count > 2
      {
        // ErrorDetails is {"details": [...]}: its member joins the status object.
        json += "," + text.dropFirst().dropLast()
      }
    }
    return json + "}"
  }
}

/// The request context of the HTTP face: Hummingbird's core storage and the client's address.
public struct GatewayRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  public let remoteAddress: SocketAddress?

  public init(source: ApplicationRequestContextSource) {
    self.coreContext = .init(source: source)
    self.remoteAddress = source.channel.remoteAddress
  }
}
