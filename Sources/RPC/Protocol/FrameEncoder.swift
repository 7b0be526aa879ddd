import NIOCore

extension Duration {
  /// A remaining time as a call opening's timeout carries it: whole microseconds, at least 1
  /// (docs/PROTOCOL.md §5.1: 0 would mean no deadline). For positive durations.
  var wireTimeoutMicroseconds: UInt64 {
    UInt64(max(1, components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000))
  }
}

/// Appends frames to an outbound buffer.
enum FrameEncoder {
  static func writePreface(into buffer: inout ByteBuffer) {
    buffer.writeBytes(Wire.magic)
    buffer.writeInteger(Wire.version)
  }

  static func writeHeader(_ type: FrameType, flags: UInt8 = 0, callID: UInt32, length: Int, into buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt32(length))
    buffer.writeInteger(type.rawValue)
    buffer.writeInteger(flags)
    buffer.writeInteger(callID)
  }

  /// Writes a frame whose payload `body` writes; the length is filled in afterwards.
  static func writeFrame(
    _ type: FrameType, flags: UInt8 = 0, callID: UInt32, into buffer: inout ByteBuffer,
    _ body: (inout ByteBuffer) -> Void
  ) {
    let start = buffer.writerIndex
    writeHeader(type, flags: flags, callID: callID, length: 0, into: &buffer)
    body(&buffer)
    buffer.setInteger(UInt32(buffer.writerIndex - start - Wire.frameHeaderLength), at: start)
  }

  static func writeSettings(_ settings: ConnectionSettings, into buffer: inout ByteBuffer) {
    writeFrame(.settings, callID: 0, into: &buffer) { buffer in
      for (id, value) in settings.encode() {
        buffer.writeInteger(id)
        buffer.writeInteger(value)
      }
    }
  }

  static func writeSettingsAck(into buffer: inout ByteBuffer) {
    writeHeader(.settings, flags: FrameFlag.ack, callID: 0, length: 0, into: &buffer)
  }

  static func writeCallOpen(callID: UInt32, _ open: CallOpen, into buffer: inout ByteBuffer) {
    writeCallOpen(callID: callID, timeoutMicroseconds: open.timeoutMicroseconds, metadata: open.metadata, into: &buffer) {
      var path = open.pathBytes
      return $0.writeBuffer(&path)
    }
  }

  /// The HEADERS frame that opens a call, with the path written straight from the method's
  /// string (no ``CallOpen`` to build on the client's per-call path).
  ///
  /// With a `table` (the server's, mirrored), credentials are stored in it or named by slot
  /// (docs/PROTOCOL.md §7.1), unless the frame as it would be without the table exceeds
  /// `headerLimit`: the server skips such a frame unread, so it must not change the table.
  static func writeCallOpen(
    callID: UInt32, path: String, timeoutMicroseconds: UInt64?, metadata: Metadata, table: inout MetadataTableEncoder,
    headerLimit: Int, into buffer: inout ByteBuffer
  ) {
    guard table.size > 0, !metadata.isEmpty, 10 + path.utf8.count + metadata.literalSize <= headerLimit else {
      writeCallOpen(callID: callID, timeoutMicroseconds: timeoutMicroseconds, metadata: metadata, into: &buffer) {
        $0.writeString(path)
      }
      return
    }
    writeFrame(.headers, callID: callID, into: &buffer) { buffer in
      writeCallOpenHead(timeoutMicroseconds: timeoutMicroseconds, into: &buffer) { $0.writeString(path) }
      writeMetadata(metadata, table: &table, into: &buffer)
    }
  }

  private static func writeCallOpen(
    callID: UInt32, timeoutMicroseconds: UInt64?, metadata: Metadata, into buffer: inout ByteBuffer,
    writePath: (inout ByteBuffer) -> Int
  ) {
    writeFrame(.headers, callID: callID, into: &buffer) { buffer in
      writeCallOpenHead(timeoutMicroseconds: timeoutMicroseconds, into: &buffer, writePath: writePath)
      writeMetadata(metadata, into: &buffer)
    }
  }

  /// A call opening's path and timeout.
  private static func writeCallOpenHead(
    timeoutMicroseconds: UInt64?, into buffer: inout ByteBuffer, writePath: (inout ByteBuffer) -> Int
  ) {
    let lengthIndex = buffer.writerIndex
    buffer.writeInteger(UInt16(0))
    let length = writePath(&buffer)
    buffer.setInteger(UInt16(truncatingIfNeeded: length), at: lengthIndex)
    buffer.writeInteger(timeoutMicroseconds ?? 0)
  }

  static func writeResponseHeaders(callID: UInt32, _ metadata: Metadata, into buffer: inout ByteBuffer) {
    writeFrame(.headers, callID: callID, into: &buffer) { writeMetadata(metadata, into: &$0) }
  }

  static func writeMessage(
    callID: UInt32, _ payload: ByteBuffer, endStream: Bool, more: Bool, into buffer: inout ByteBuffer
  ) {
    var flags: UInt8 = 0
    if endStream { flags |= FrameFlag.endStream }
    if more { flags |= FrameFlag.more }
    writeHeader(.message, flags: flags, callID: callID, length: payload.readableBytes, into: &buffer)
    var payload = payload
    buffer.writeBuffer(&payload)
  }

  /// Writes what `credit` allows of a message as MESSAGE frames of at most `maxFrameSize`.
  /// Returns false when nothing could be written (waiting for credit). An empty message is one
  /// empty frame.
  static func writeMessageFrames(
    callID: UInt32, _ bytes: inout ByteBuffer, credit: inout OutboundCredit, maxFrameSize: Int,
    into buffer: inout ByteBuffer
  ) -> Bool {
    if bytes.readableBytes == 0 {
      writeMessage(callID: callID, bytes, endStream: false, more: false, into: &buffer)
      return true
    }
    let granted = credit.take(forMessageWith: bytes.readableBytes)
    guard granted > 0 else { return false }
    var chunk = bytes.readSlice(length: granted)!
    while chunk.readableBytes > 0 {
      let frame = chunk.readSlice(length: min(maxFrameSize, chunk.readableBytes))!
      let more = chunk.readableBytes > 0 || bytes.readableBytes > 0
      writeMessage(callID: callID, frame, endStream: false, more: more, into: &buffer)
    }
    return true
  }

  static func writeHalfClose(callID: UInt32, into buffer: inout ByteBuffer) {
    writeHeader(.halfClose, callID: callID, length: 0, into: &buffer)
  }

  static func writeTrailers(callID: UInt32, _ trailers: Trailers, into buffer: inout ByteBuffer) {
    if trailers.code == .ok, trailers.message.isEmpty, trailers.details.isEmpty, trailers.metadata.isEmpty,
      !trailers.refused
    {
      // The common case: status 0, empty message, no details, no metadata.
      writeHeader(.trailers, callID: callID, length: 11, into: &buffer)
      buffer.writeInteger(UInt8(0))
      buffer.writeInteger(UInt64(0))
      buffer.writeInteger(UInt16(0))
      return
    }
    writeFrame(.trailers, flags: trailers.refused ? FrameFlag.refused : 0, callID: callID, into: &buffer) { buffer in
      buffer.writeInteger(trailers.code.rawValue)
      let message = Array(trailers.message.utf8)
      buffer.writeInteger(UInt32(message.count))
      buffer.writeBytes(message)
      buffer.writeInteger(UInt32(trailers.details.count))
      buffer.writeBytes(trailers.details)
      writeMetadata(trailers.metadata, into: &buffer)
    }
  }

  static func writeCancel(callID: UInt32, code: RPCStatusCode, into buffer: inout ByteBuffer) {
    writeHeader(.cancel, callID: callID, length: 4, into: &buffer)
    buffer.writeInteger(UInt32(code.rawValue))
  }

  static func writeCredit(callID: UInt32, increment: UInt32, into buffer: inout ByteBuffer) {
    writeHeader(.credit, callID: callID, length: 4, into: &buffer)
    buffer.writeInteger(increment)
  }

  static func writePing(ack: Bool, payload: UInt64, into buffer: inout ByteBuffer) {
    writeHeader(.ping, flags: ack ? FrameFlag.ack : 0, callID: 0, length: 8, into: &buffer)
    buffer.writeInteger(payload)
  }

  static func writeGoAway(lastCallID: UInt32, code: ConnectionErrorCode, debug: String, into buffer: inout ByteBuffer) {
    writeFrame(.goAway, callID: 0, into: &buffer) { buffer in
      buffer.writeInteger(lastCallID)
      buffer.writeInteger(code.rawValue)
      let bytes = Array(debug.utf8.prefix(1024))
      buffer.writeInteger(UInt32(bytes.count))
      buffer.writeBytes(bytes)
    }
  }

  /// Metadata entries; keys that are not valid and text values that are not printable are
  /// dropped here rather than sent (the sender's API validates earlier and says why).
  static func writeMetadata(_ metadata: Metadata, into buffer: inout ByteBuffer) {
    var noTable = MetadataTableEncoder()
    writeMetadata(metadata, table: &noTable, into: &buffer)
  }

  /// A metadata block whose entries are each written as `table` decides: as they are, stored,
  /// or by slot (a call opening to a server with a table, docs/PROTOCOL.md §7.1; with a table
  /// of size 0, every entry as it is).
  static func writeMetadata(_ metadata: Metadata, table: inout MetadataTableEncoder, into buffer: inout ByteBuffer) {
    let countIndex = buffer.writerIndex
    buffer.writeInteger(UInt16(0))
    var count: UInt16 = 0
    for (key, value) in metadata where count < UInt16.max {
      guard Metadata.isValidKey(key.utf8) else { continue }
      switch value {
      case .text(let text):
        guard Metadata.isValidText(text.utf8) else { continue }
        switch table.use(key: key, value: text) {
        case .reference(let slot):
          buffer.writeInteger(UInt8(0))
          buffer.writeInteger(slot)
        case let use:
          buffer.writeInteger(UInt8(key.utf8.count))
          buffer.writeString(key)
          buffer.writeInteger(UInt32(text.utf8.count) | (use == .store ? MetadataTable.storeFlag : 0))
          buffer.writeString(text)
        }
      case .binary(let bytes):
        buffer.writeInteger(UInt8(key.utf8.count))
        buffer.writeString(key)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
      }
      count += 1
    }
    buffer.setInteger(count, at: countIndex)
  }
}
