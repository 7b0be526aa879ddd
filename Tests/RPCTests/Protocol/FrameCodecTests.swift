import NIOCore
import Testing

@testable import RPC

@Suite("Frame encoding and decoding")
struct FrameCodecTests {
  private func decodeAll(_ buffer: ByteBuffer, role: FrameDecoder.Role = .server) throws -> [Frame] {
    var decoder = FrameDecoder(role: role, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14)
    decoder.append(buffer)
    var frames: [Frame] = []
    while let frame = try decoder.next() { frames.append(frame) }
    return frames
  }

  @Test("every frame type survives encode then decode")
  func roundTrip() throws {
    var buffer = ByteBuffer()
    var metadata = Metadata()
    metadata.add("authorization", "Bearer abc")
    metadata.add("trace-bin", binary: [0, 1, 255])
    FrameEncoder.writeSettings(ConnectionSettings(), into: &buffer)
    FrameEncoder.writeSettingsAck(into: &buffer)
    FrameEncoder.writeCallOpen(callID: 1, CallOpen(path: "/a.B/C", timeoutMicroseconds: 1500, metadata: metadata), into: &buffer)
    FrameEncoder.writeMessage(callID: 1, ByteBuffer(bytes: [1, 2, 3]), endStream: true, more: false, into: &buffer)
    FrameEncoder.writeHalfClose(callID: 1, into: &buffer)
    FrameEncoder.writeCancel(callID: 1, code: .deadlineExceeded, into: &buffer)
    FrameEncoder.writeCredit(callID: 1, increment: 4096, into: &buffer)
    FrameEncoder.writePing(ack: true, payload: 42, into: &buffer)
    FrameEncoder.writeGoAway(lastCallID: 7, code: .enhanceYourCalm, debug: "calm", into: &buffer)
    let frames = try decodeAll(buffer)
    #expect(frames.count == 9)
    #expect(frames[2] == .callOpen(callID: 1, CallOpen(path: "/a.B/C", timeoutMicroseconds: 1500, metadata: metadata)))
    #expect(frames[3] == .message(callID: 1, ByteBuffer(bytes: [1, 2, 3]), endStream: true, more: false))
    #expect(frames[4] == .halfClose(callID: 1))
    #expect(frames[5] == .cancel(callID: 1, code: 4))
    #expect(frames[6] == .credit(callID: 1, increment: 4096))
    #expect(frames[7] == .ping(ack: true, payload: 42))
    #expect(frames[8] == .goAway(lastCallID: 7, code: 7, debug: "calm"))
    guard case .settings(false, let values) = frames[0] else { Issue.record("not settings"); return }
    #expect(try ConnectionSettings.decode(values.map { ($0.id, $0.value) }) == ConnectionSettings())

    var trailers = ByteBuffer()
    let sent = Trailers(code: .notFound, message: "no such order", details: [9, 9], metadata: metadata, refused: true)
    FrameEncoder.writeTrailers(callID: 3, sent, into: &trailers)
    FrameEncoder.writeResponseHeaders(callID: 3, metadata, into: &trailers)
    #expect(try decodeAll(trailers, role: .client) == [.trailers(callID: 3, sent), .responseHeaders(callID: 3, metadata)])
  }

  @Test("the wire layout matches docs/PROTOCOL.md byte for byte")
  func layout() {
    var buffer = ByteBuffer()
    FrameEncoder.writePreface(into: &buffer)
    FrameEncoder.writePing(ack: false, payload: 0x0102_0304_0506_0708, into: &buffer)
    #expect(buffer.readBytes(length: buffer.readableBytes) == [
      0x45, 0x4D, 0x50, 0x52, 0x50, 0x43, 0x00, 0x01,  // "EMPRPC", version 1
      0x00, 0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,  // length 8, PING, flags 0, call 0
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    ])
  }

  @Test("a frame split at every byte boundary decodes once all bytes arrive")
  func partialFrames() throws {
    var whole = ByteBuffer()
    FrameEncoder.writeMessage(callID: 5, ByteBuffer(bytes: Array(0..<100)), endStream: false, more: true, into: &whole)
    let bytes = whole.readBytes(length: whole.readableBytes)!
    for cut in 1..<bytes.count {
      var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14)
      decoder.append(ByteBuffer(bytes: bytes[..<cut]))
      #expect(try decoder.next() == nil)
      decoder.append(ByteBuffer(bytes: bytes[cut...]))
      #expect(try decoder.next() == .message(callID: 5, ByteBuffer(bytes: Array(0..<100)), endStream: false, more: true))
    }
  }

  @Test("an oversized length is refused from the 10-byte header alone, before any payload")
  func oversizedLength() {
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1024, maxHeaderSize: 512)
    var header = ByteBuffer()
    FrameEncoder.writeHeader(.message, callID: 1, length: 0x7FFF_FFFF, into: &header)
    decoder.append(header)
    #expect(throws: ProtocolViolation.self) { try decoder.next() }
    do {
      _ = try decoder.next()
    } catch {
      #expect(error.code == .frameSizeError)
    }
  }

  @Test("unknown frame types, wrong call ids and malformed payloads are protocol errors")
  func malformed() {
    func violation(_ bytes: [UInt8]) -> ConnectionErrorCode? {
      var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14)
      decoder.append(ByteBuffer(bytes: bytes))
      do {
        _ = try decoder.next()
        return nil
      } catch {
        return error.code
      }
    }
    #expect(violation([0, 0, 0, 0, 0x3F, 0, 0, 0, 0, 1]) == .protocolError)  // type 0x3F
    #expect(violation([0, 0, 0, 8, 0x07, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8]) == .protocolError)  // PING on a call
    #expect(violation([0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0]) == .protocolError)  // MESSAGE on call 0
    #expect(violation([0, 0, 0, 5, 0x00, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]) == .frameSizeError)  // SETTINGS not 6n
    #expect(violation([0, 0, 0, 2, 0x01, 0, 0, 0, 0, 1, 0, 9]) == .protocolError)  // truncated HEADERS
    #expect(violation([0, 0, 0, 4, 0x06, 0, 0, 0, 0, 1, 0, 0, 0, 0]) == .flowControlError)  // CREDIT of 0
  }

  @Test("HEADERS larger than MAX_HEADER_SIZE are skipped and reported, not parsed")
  func oversizedHeaders() throws {
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 100)
    var buffer = ByteBuffer()
    var metadata = Metadata()
    metadata.add("big", String(repeating: "x", count: 500))
    FrameEncoder.writeCallOpen(callID: 1, CallOpen(path: "/a.B/C", timeoutMicroseconds: nil, metadata: metadata), into: &buffer)
    FrameEncoder.writeHalfClose(callID: 1, into: &buffer)
    decoder.append(buffer)
    guard case .oversizedHeaders(1, let size) = try decoder.next() else { Issue.record("expected oversized"); return }
    #expect(size > 500)
    #expect(try decoder.next() == .halfClose(callID: 1))
  }
}
