import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client over a real socket, for the gateway's HTTP face: one request per
/// connection; the response head, then the body as its parts arrive (so a test reads a stream
/// line by line while it is still open).
struct HTTPTestClient {
  let port: Int

  struct Response {
    var status: Int
    var headers: HTTPHeaders
    var body: String
  }

  /// Sends one request and reads the whole response.
  func send(_ path: String, method: HTTPMethod = .POST, body: String? = nil, headers: [(String, String)] = []) async throws
    -> Response
  {
    try await exchange(path, method: method, body: body, headers: headers) { status, headers, parts in
      var text = ""
      for try await part in parts { text += part }
      return Response(status: status, headers: headers, body: text)
    }
  }

  /// Sends one request; `read` gets the status, the headers and the body's parts as they come.
  func exchange<Result: Sendable>(
    _ path: String, method: HTTPMethod = .POST, body: String? = nil, headers: [(String, String)] = [],
    read: (Int, HTTPHeaders, AsyncThrowingStream<String, any Error>) async throws -> Result
  ) async throws -> Result {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
      channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
      }
    }
    return try await channel.executeThenClose { inbound, outbound in
      var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
      head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
      head.headers.add(name: "Connection", value: "close")
      for (name, value) in headers { head.headers.add(name: name, value: value) }
      if let body {
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "\(body.utf8.count)")
      }
      try await outbound.write(.head(head))
      if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
      try await outbound.write(.end(nil))
      var iterator = inbound.makeAsyncIterator()
      guard case .head(let responseHead) = try await iterator.next() else { throw HTTPTestError.noHead }
      let (parts, continuation) = AsyncThrowingStream.makeStream(of: String.self)
      let pump = Task {
        do {
          while let part = try await iterator.next() {
            switch part {
            case .body(let buffer): continuation.yield(String(buffer: buffer))
            case .end: continuation.finish()
              return
            case .head: break
            }
          }
          continuation.finish()
        } catch {
          continuation.finish(throwing: error)
        }
      }
      defer { pump.cancel() }
      return try await read(Int(responseHead.status.code), responseHead.headers, parts)
    }
  }
}

enum HTTPTestError: Error {
  case noHead
}

/// Lines of a body read as it arrives: each complete line once its newline has come.
struct LineReader {
  var parts: AsyncThrowingStream<String, any Error>.AsyncIterator
  var buffered = ""

  init(_ parts: AsyncThrowingStream<String, any Error>) {
    self.parts = parts.makeAsyncIterator()
  }

  /// The next non-empty line, or nil at the end of the body.
  mutating func next() async throws -> String? {
    while true {
      if let newline = buffered.firstIndex(of: "\n") {
        let line = String(buffered[..<newline])
        buffered = String(buffered[buffered.index(after: newline)...])
        if line.isEmpty { continue }
        return line
      }
      guard let part = try await parts.next(isolation: #isolation) else { return buffered.isEmpty ? nil : buffered }
      buffered += part
    }
  }
}
