public import Messages
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `emporium.rpc.v1.EchoService`, for tests and benchmarks: echoes requests in all four call
/// kinds and, on request, delays, fails with a chosen status, generates payloads or reports
/// the call's metadata and remaining deadline. Not hosted unless passed to the server.
public struct EchoService: RpcV1.EchoService.ServiceProtocol, RPCServiceImmediatePaths {
  /// Identifies this process in responses (host name and process id).
  let instance: String
  /// The largest generated payload (the negotiated message size less 1 KiB).
  let maxPayload: Int
  /// Reported as `remaining_deadline` instead of the measured time, when set.
  let remainingDeadline: Duration?

  /// - Parameters:
  ///   - instance: what responses name as `server_instance`; default host name and process id.
  ///   - remainingDeadline: what responses to calls with a deadline report as
  ///     `remaining_deadline`; nil (the default) reports the time actually left. Setting it pins
  ///     the response bytes, for tests and documented examples.
  public init(maxMessageSize: Int = 4 << 20, instance: String? = nil, remainingDeadline: Duration? = nil) {
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, host.count - 1)
    let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    self.instance = instance ?? "\(hostName):\(getpid())"
    self.maxPayload = maxMessageSize - 1024
    self.remainingDeadline = remainingDeadline
  }

  public func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    try validate(request)
    try await delay(request)
    if let failure = request.failWith { throw error(failure) }
    return response(to: request, sequence: 0, requestCount: 1, context: context)
  }

  /// ``echo(request:context:)`` without a task: answers at once unless the request asks for a
  /// delay (nil leaves those to `echo`).
  func echoImmediately(request: RpcV1.EchoRequest, context: ServerContext) throws -> RpcV1.EchoResponse? {
    try validate(request)
    guard request.responseDelay == nil else { return nil }
    if let failure = request.failWith { throw error(failure) }
    return response(to: request, sequence: 0, requestCount: 1, context: context)
  }

  /// Echo's immediate path: an echo needs no task unless it waits.
  public func registerImmediatePaths(with router: inout RPCRouter) {
    router.addImmediatePath(RpcV1.EchoService.Echo.self) { try self.echoImmediately(request: $0, context: $1) }
  }

  public func expand(
    request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext
  ) async throws {
    try validate(request)
    let count = max(1, Int(request.repeatCount))
    for index in 0..<count {
      if let failure = request.failWith, index == Int(failure.afterResponses) { throw error(failure) }
      try await delay(request)
      try await response.write(self.response(to: request, sequence: Int32(index), requestCount: 1, context: context))
    }
    if let failure = request.failWith, Int(failure.afterResponses) >= count { throw error(failure) }
  }

  public func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws
    -> RpcV1.EchoResponse
  {
    var combined = RpcV1.EchoResponse()
    var count: Int32 = 0
    var last = RpcV1.EchoRequest()
    // What is kept is bounded by what one response can carry, so a caller that streams without
    // half-closing cannot make the call hold more than that.
    var kept = 0
    for try await request in requests {
      try validate(request)
      kept += request.message.utf8.count + request.payload.count
      if kept > maxPayload {
        throw RPCError(
          code: .resourceExhausted,
          message: "Collect keeps at most \(maxPayload) bytes of messages and payloads per call")
      }
      combined.message += request.message
      combined.payload += request.payload
      count += 1
      last = request
    }
    try await delay(last)
    if let failure = last.failWith { throw error(failure) }
    var result = response(to: last, sequence: 0, requestCount: count, context: context)
    result.message = combined.message
    if last.responsePayloadSize == 0 { result.payload = combined.payload }
    return result
  }

  public func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws {
    var received: Int32 = 0
    var sent: Int32 = 0
    for try await request in requests {
      try validate(request)
      received += 1
      for _ in 0..<max(1, Int(request.repeatCount)) {
        if let failure = request.failWith, sent >= failure.afterResponses { throw error(failure) }
        try await delay(request)
        try await response.write(self.response(to: request, sequence: sent, requestCount: received, context: context))
        sent += 1
      }
    }
  }

  // MARK: Helpers

  private func validate(_ request: RpcV1.EchoRequest) throws {
    if request.repeatCount > 1_000_000 {
      throw RPCError(code: .invalidArgument, message: "repeat_count \(request.repeatCount) exceeds 1,000,000")
    }
    if let delay = request.responseDelay, delay.seconds > 300 || delay.seconds < 0 || delay.nanos < 0 {
      throw RPCError(code: .invalidArgument, message: "response_delay must be between 0 and 5 minutes")
    }
    if request.responsePayloadSize < 0 || Int(request.responsePayloadSize) > maxPayload {
      throw RPCError(code: .invalidArgument, message: "response_payload_size must be between 0 and \(maxPayload)")
    }
    if let failure = request.failWith, !(1...16).contains(failure.code) {
      throw RPCError(code: .invalidArgument, message: "fail_with.code must be between 1 and 16")
    }
  }

  private func delay(_ request: RpcV1.EchoRequest) async throws {
    guard let delay = request.responseDelay else { return }
    try await Task.sleep(for: .seconds(delay.seconds) + .nanoseconds(delay.nanos))
  }

  private func error(_ failure: RpcV1.EchoFailure) -> RPCError {
    RPCError(
      code: RPCStatusCode(rawValue: UInt8(failure.code)) ?? .unknown, message: failure.message, details: failure.details)
  }

  private func response(
    to request: RpcV1.EchoRequest, sequence: Int32, requestCount: Int32, context: ServerContext
  ) -> RpcV1.EchoResponse {
    var response = RpcV1.EchoResponse()
    response.message = request.message
    response.payload = request.responsePayloadSize > 0 ? payload(request) : request.payload
    response.sequence = sequence
    response.requestCount = requestCount
    response.serverInstance = instance
    if let deadline = context.deadline {
      let remaining = remainingDeadline ?? ContinuousClock.now.duration(to: deadline)
      let (seconds, attoseconds) = remaining.components
      response.remainingDeadline = .with {
        $0.seconds = seconds
        $0.nanos = Int32(attoseconds / 1_000_000_000)
      }
    }
    if request.echoMetadata {
      for (key, value) in context.metadata {
        switch value {
        case .text(let text): response.receivedMetadata[key] = text
        case .binary(let bytes): response.receivedMetadata[key] = base64(bytes)
        }
      }
    }
    return response
  }

  private func payload(_ request: RpcV1.EchoRequest) -> [UInt8] {
    let size = Int(request.responsePayloadSize)
    switch request.responsePayloadFill {
    case .random:
      var generator = SystemRandomNumberGenerator()
      return (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
    case .text:
      let words = Array("the order shipped to the customer after payment was captured and stock reserved ".utf8)
      return (0..<size).map { words[$0 % words.count] }
    default:
      return [UInt8](repeating: 0, count: size)
    }
  }

  private func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var index = 0
    while index < bytes.count {
      let chunk = bytes[index..<min(index + 3, bytes.count)]
      let value = chunk.enumerated().reduce(0) { $0 | Int($1.element) << (16 - 8 * $1.offset) }
      for position in 0..<4 {
        out.append(position <= chunk.count ? alphabet[(value >> (18 - 6 * position)) & 63] : UInt8(ascii: "="))
      }
      index += 3
    }
    return String(decoding: out, as: UTF8.self)
  }
}
