public import Messages
import NIOCore

extension SampleMessages {
  /// The size of ``echoRequest()`` on the wire, in bytes.
  public static let echoRequestSize = 40

  /// A small echo request, the unit of loadgen's echo scenario: a short text, a 16-byte
  /// payload, one repetition and a response delay. Exactly ``echoRequestSize`` (40) bytes encoded.
  public static func echoRequest() -> RpcV1.EchoRequest {
    let request = RpcV1.EchoRequest.with {
      $0.message = "hello, echo"
      $0.payload = bytes(count: 16, seed: 7)
      $0.repeatCount = 1
      $0.responseDelay = .with { $0.nanos = 250_000_000 }
    }
    var buffer = ByteBuffer()
    do {
      try request.encode(into: &buffer)
    } catch {
      fatalError("echo request does not encode: \(error)")
    }
    precondition(
      buffer.readableBytes == echoRequestSize,
      "the echo request encodes to \(buffer.readableBytes) bytes, not \(echoRequestSize)")
    return request
  }
}
