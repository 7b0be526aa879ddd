import NIOCore

/// Turns a connection's (decompressed) byte stream into frames, one at a time.
///
/// Sizes are checked before anything is buffered for them: a frame whose length exceeds
/// `maxFrameSize` is a connection error as soon as its 10-byte header is read, and a HEADERS
/// frame over `maxHeaderSize` is skipped and reported as `.oversizedHeaders` so the call can be
/// refused. The decoder never buffers more than one frame beyond what it has returned.
struct FrameDecoder {
  /// Which side is reading: the server parses HEADERS as call openings, the client as
  /// response headers.
  enum Role { case server, client }

  let role: Role
  var maxFrameSize: UInt32
  var maxHeaderSize: UInt32
  /// The entries the client's calls stored, when this (server) side announced a table.
  private var metadataTable: MetadataTable?
  private var buffer = ByteBuffer()

  /// - Parameter metadataTableSize: this side's METADATA_TABLE_SIZE; a server with a table
  ///   accepts stored and indexed entries in call openings.
  init(role: Role, maxFrameSize: UInt32, maxHeaderSize: UInt32, metadataTableSize: UInt32 = 0) {
    self.role = role
    self.maxFrameSize = maxFrameSize
    self.maxHeaderSize = maxHeaderSize
    if role == .server, metadataTableSize > 0 { metadataTable = MetadataTable(size: Int(metadataTableSize)) }
  }

  /// Removes and returns the bytes not yet decoded (used when the rest of the stream switches
  /// to compression).
  mutating func takeBuffered() -> ByteBuffer {
    let rest = buffer
    buffer = ByteBuffer()
    return rest
  }

  mutating func append(_ bytes: ByteBuffer) {
    if buffer.readableBytes == 0 {
      buffer = bytes
    } else {
      var bytes = bytes
      buffer.writeBuffer(&bytes)
    }
  }

  /// The next complete frame, or nil until more bytes arrive.
  mutating func next() throws(ProtocolViolation) -> Frame? {
    guard buffer.readableBytes >= Wire.frameHeaderLength else {
      compact()
      return nil
    }
    let start = buffer.readerIndex
    let length = buffer.getInteger(at: start, as: UInt32.self)!
    let rawType = buffer.getInteger(at: start + 4, as: UInt8.self)!
    let flags = buffer.getInteger(at: start + 5, as: UInt8.self)!
    let callID = buffer.getInteger(at: start + 6, as: UInt32.self)!
    guard length <= maxFrameSize else {
      throw ProtocolViolation(.frameSizeError, "frame of \(length) bytes exceeds MAX_FRAME_SIZE \(maxFrameSize)")
    }
    guard let type = FrameType(rawValue: rawType) else {
      throw ProtocolViolation(.protocolError, "unknown frame type 0x\(String(rawType, radix: 16))")
    }
    guard buffer.readableBytes >= Wire.frameHeaderLength + Int(length) else {
      compact()
      return nil
    }
    buffer.moveReaderIndex(forwardBy: Wire.frameHeaderLength)
    var payload = buffer.readSlice(length: Int(length))!
    return try Self.parse(
      type: type, flags: flags, callID: callID, payload: &payload, role: role, maxHeaderSize: maxHeaderSize,
      metadataTable: &metadataTable)
  }

  private mutating func compact() {
    if buffer.readerIndex > 64 << 10 { buffer.discardReadBytes() }
  }

  // MARK: Payloads

  static func parse(
    type: FrameType, flags: UInt8, callID: UInt32, payload: inout ByteBuffer, role: Role, maxHeaderSize: UInt32,
    metadataTable: inout MetadataTable?
  ) throws(ProtocolViolation) -> Frame {
    func requireConnection() throws(ProtocolViolation) {
      guard callID == 0 else { throw ProtocolViolation(.protocolError, "\(type) frame on call \(callID); it belongs to call 0") }
    }
    func requireCall() throws(ProtocolViolation) {
      guard callID != 0 else { throw ProtocolViolation(.protocolError, "\(type) frame on call 0") }
    }
    func requireEmpty() throws(ProtocolViolation) {
      guard payload.readableBytes == 0 else { throw ProtocolViolation(.protocolError, "\(type) frame has trailing bytes") }
    }
    switch type {
    case .settings:
      try requireConnection()
      guard payload.readableBytes % Wire.settingLength == 0 else {
        throw ProtocolViolation(.frameSizeError, "SETTINGS length is not a multiple of 6")
      }
      if flags & FrameFlag.ack != 0 {
        try requireEmpty()
        return .settings(ack: true, values: [])
      }
      var values: [Frame.Setting] = []
      while let id = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
        values.append(.init(id: id, value: value))
      }
      return .settings(ack: false, values: values)

    case .headers:
      try requireCall()
      if payload.readableBytes > maxHeaderSize {
        return .oversizedHeaders(callID: callID, size: payload.readableBytes)
      }
      switch role {
      case .server:
        guard let pathLength = payload.readInteger(as: UInt16.self), payload.readableBytes >= Int(pathLength) + 8 else {
          throw ProtocolViolation(.protocolError, "truncated HEADERS on call \(callID)")
        }
        // Validated in place: the path stays a slice of the frame, not a new String per call.
        let path = payload.readSlice(length: Int(pathLength))!
        guard Self.isValidUTF8(path.readableBytesView) else {
          throw ProtocolViolation(.protocolError, "method path is not UTF-8")
        }
        let timeout = payload.readInteger(as: UInt64.self)!
        let metadata = try readMetadata(&payload, table: &metadataTable)
        try requireEmpty()
        return .callOpen(
          callID: callID, CallOpen(pathBytes: path, timeoutMicroseconds: timeout == 0 ? nil : timeout, metadata: metadata))
      case .client:
        let metadata = try readMetadata(&payload)
        try requireEmpty()
        return .responseHeaders(callID: callID, metadata)
      }

    case .message:
      try requireCall()
      return .message(
        callID: callID, payload, endStream: flags & FrameFlag.endStream != 0, more: flags & FrameFlag.more != 0)

    case .halfClose:
      try requireCall()
      try requireEmpty()
      return .halfClose(callID: callID)

    case .trailers:
      try requireCall()
      guard payload.readableBytes <= maxHeaderSize else {
        throw ProtocolViolation(.frameSizeError, "TRAILERS of \(payload.readableBytes) bytes exceed MAX_HEADER_SIZE")
      }
      guard let rawCode = payload.readInteger(as: UInt8.self),
        let messageLength = payload.readInteger(as: UInt32.self),
        let messageBytes = payload.readBytes(length: Int(messageLength)),
        let detailsLength = payload.readInteger(as: UInt32.self),
        let details = payload.readBytes(length: Int(detailsLength))
      else { throw ProtocolViolation(.protocolError, "truncated TRAILERS on call \(callID)") }
      let metadata = try readMetadata(&payload)
      try requireEmpty()
      return .trailers(
        callID: callID,
        Trailers(
          code: RPCStatusCode(rawValue: rawCode) ?? .unknown,
          message: String(decoding: messageBytes, as: UTF8.self), details: details, metadata: metadata,
          refused: flags & FrameFlag.refused != 0))

    case .cancel:
      try requireCall()
      guard payload.readableBytes == 4, let code = payload.readInteger(as: UInt32.self) else {
        throw ProtocolViolation(.frameSizeError, "CANCEL payload must be 4 bytes")
      }
      return .cancel(callID: callID, code: code)

    case .credit:
      try requireCall()
      guard payload.readableBytes == 4, let increment = payload.readInteger(as: UInt32.self) else {
        throw ProtocolViolation(.frameSizeError, "CREDIT payload must be 4 bytes")
      }
      guard increment > 0, increment <= UInt32(Int32.max) else {
        throw ProtocolViolation(.flowControlError, "CREDIT increment \(increment) out of range")
      }
      return .credit(callID: callID, increment: increment)

    case .ping:
      try requireConnection()
      guard payload.readableBytes == 8, let value = payload.readInteger(as: UInt64.self) else {
        throw ProtocolViolation(.frameSizeError, "PING payload must be 8 bytes")
      }
      return .ping(ack: flags & FrameFlag.ack != 0, payload: value)

    case .goAway:
      try requireConnection()
      guard let last = payload.readInteger(as: UInt32.self), let code = payload.readInteger(as: UInt32.self),
        let debugLength = payload.readInteger(as: UInt32.self), let debug = payload.readBytes(length: Int(debugLength))
      else { throw ProtocolViolation(.protocolError, "truncated GOAWAY") }
      try requireEmpty()
      return .goAway(lastCallID: last, code: code, debug: String(decoding: debug, as: UTF8.self))
    }
  }

  /// Whether `bytes` are valid UTF-8, checked without building a string.
  static func isValidUTF8(_ bytes: ByteBufferView) -> Bool {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid: continue
      case .emptyInput: return true
      case .error: return false
      }
    }
  }

  /// A metadata block whose entries are all sent as they are (response headers, trailers).
  private static func readMetadata(_ payload: inout ByteBuffer) throws(ProtocolViolation) -> Metadata {
    var noTable: MetadataTable?
    return try readMetadata(&payload, table: &noTable)
  }

  /// A metadata block. With a `table` (a call opening, on a server that announced one), an
  /// entry may be stored in it (bit 31 of its value length) or name one of its slots (key length
  /// 0, then the slot as u16); without one, both are protocol errors.
  private static func readMetadata(_ payload: inout ByteBuffer, table: inout MetadataTable?) throws(ProtocolViolation)
    -> Metadata
  {
    guard let count = payload.readInteger(as: UInt16.self) else {
      throw ProtocolViolation(.protocolError, "truncated metadata")
    }
    var metadata = Metadata()
    if count > 0 { metadata.reserveCapacity(Int(count)) }
    for _ in 0..<count {
      guard let keyLength = payload.readInteger(as: UInt8.self) else {
        throw ProtocolViolation(.protocolError, "truncated metadata entry")
      }
      if keyLength == 0, table != nil {
        guard let index = payload.readInteger(as: UInt16.self) else {
          throw ProtocolViolation(.protocolError, "truncated metadata entry")
        }
        guard let entry = table!.entry(at: Int(index)) else {
          throw ProtocolViolation(.protocolError, "metadata table slot \(index) is empty")
        }
        metadata.add(lowercasedKey: entry.key, entry.value)
        continue
      }
      // Slices of the payload: validated in place, copied once into the String or array kept.
      guard let key = payload.readSlice(length: Int(keyLength)),
        var valueLength = payload.readInteger(as: UInt32.self)
      else { throw ProtocolViolation(.protocolError, "truncated metadata entry") }
      let store = table != nil && valueLength & MetadataTable.storeFlag != 0
      valueLength &= store ? ~MetadataTable.storeFlag : .max
      guard let value = payload.readSlice(length: Int(valueLength)) else {
        throw ProtocolViolation(.protocolError, "truncated metadata entry")
      }
      guard Metadata.isValidKey(key.readableBytesView) else {
        throw ProtocolViolation(.protocolError, "invalid metadata key")
      }
      let keyString = String(buffer: key)  // valid keys are lower-case ASCII
      let entry: Metadata.Entry
      if key.readableBytesView.suffix(4).elementsEqual("-bin".utf8) {  // bytes: no Unicode-aware hasSuffix
        entry = .binary(Array(value.readableBytesView))
      } else {
        guard Metadata.isValidText(value.readableBytesView) else {
          throw ProtocolViolation(.protocolError, "metadata value of '\(keyString)' is not printable ASCII")
        }
        entry = .text(String(buffer: value))
      }
      metadata.add(lowercasedKey: keyString, entry)
      if store { table!.store(key: keyString, value: entry) }
    }
    return metadata
  }
}
