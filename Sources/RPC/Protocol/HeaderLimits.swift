/// Fitting response HEADERS and TRAILERS into the peer's limits (docs/PROTOCOL.md §5.5, §7).
///
/// HEADERS and TRAILERS are never fragmented, so a payload must fit both the peer's
/// MAX_HEADER_SIZE and its MAX_FRAME_SIZE. A sender that would exceed them cuts what it sends
/// instead of making the peer drop the connection: the status code always goes out, the status
/// message is truncated (ending in ``Trailers/truncationMarker``), and the error details and
/// metadata entries that do not fit are dropped.
enum HeaderLimits {
  /// The largest HEADERS or TRAILERS payload a peer with these settings accepts.
  static func payloadLimit(_ peer: ConnectionSettings) -> Int {
    Int(min(peer.maxHeaderSize, peer.maxFrameSize))
  }

  /// The bytes one metadata entry takes on the wire, or nil when ``FrameEncoder`` would drop
  /// it (invalid key, or a text value that is not printable).
  static func encodedSize(key: String, value: Metadata.Entry) -> Int? {
    guard Metadata.isValidKey(key.utf8) else { return nil }
    switch value {
    case .text(let text):
      guard Metadata.isValidText(text.utf8) else { return nil }
      return 1 + key.utf8.count + 4 + text.utf8.count
    case .binary(let bytes):
      return 1 + key.utf8.count + 4 + bytes.count
    }
  }

  /// The entries of `metadata` that are sent, in order, with their sizes.
  static func sendable(_ metadata: Metadata) -> [(key: String, value: Metadata.Entry, size: Int)] {
    var result: [(key: String, value: Metadata.Entry, size: Int)] = []
    for (key, value) in metadata where result.count < Int(UInt16.max) {
      if let size = encodedSize(key: key, value: value) { result.append((key, value, size)) }
    }
    return result
  }

  /// The encoded size of a metadata block (count and entries).
  static func encodedSize(_ metadata: Metadata) -> Int {
    2 + sendable(metadata).reduce(0) { $0 + $1.size }
  }

  /// Keeps the entries of `metadata`, in order, that fit in `budget` bytes (the 2-byte count
  /// included); an entry that does not fit is dropped and later, smaller ones may still fit.
  static func fitted(_ metadata: Metadata, budget: Int) -> Metadata {
    var remaining = budget - 2
    var kept = Metadata()
    for entry in sendable(metadata) where entry.size <= remaining {
      remaining -= entry.size
      switch entry.value {
      case .text(let text): kept.add(lowercasedKey: entry.key, text)
      case .binary(let bytes): kept.add(entry.key, binary: bytes)
      }
    }
    return kept
  }
}

extension Metadata {
  /// These response headers as sent to a peer that accepts HEADERS payloads of at most `limit`
  /// bytes: entries that do not fit are dropped.
  func fitted(toHeaderLimit limit: Int) -> Metadata {
    let isSmall =
      entries.count < 8
      && entries.allSatisfy { entry in
        switch entry.value {
        case .text(let text): entry.key.utf8.count + text.utf8.count < 64
        case .binary(let bytes): entry.key.utf8.count + bytes.count < 64
        }
      }
    if isSmall && limit >= 1024 { return self }  // cannot exceed the smallest allowed frame
    if HeaderLimits.encodedSize(self) <= limit { return self }
    return HeaderLimits.fitted(self, budget: limit)
  }
}

extension Trailers {
  /// What ends a status message that was cut to fit the peer's limits.
  static let truncationMarker = "...[truncated]"

  /// The status message bytes kept in full before details and metadata get room.
  static let guaranteedMessageBytes = 1024

  /// The size of these trailers' TRAILERS payload.
  var encodedSize: Int {
    1 + 4 + message.utf8.count + 4 + details.count + HeaderLimits.encodedSize(metadata)
  }

  /// These trailers as sent to a peer that accepts TRAILERS payloads of at most `limit` bytes.
  ///
  /// Unchanged when they fit. Otherwise, in order of precedence: the status code and flags;
  /// the first 1 KiB of the status message; the details (whole, or dropped); trailing metadata
  /// entries that fit, in order; then as much more of the message as fits. A message that was
  /// cut ends in ``truncationMarker``. Below the 11-byte minimum payload nothing but the code
  /// and flags is sent.
  func fitted(toHeaderLimit limit: Int) -> Trailers {
    if message.utf8.count + details.count < 512, metadata.isEmpty, limit >= 1024 { return self }  // the usual case
    guard encodedSize > limit else { return self }
    var budget = limit - 11
    let messageBytes = Array(message.utf8)
    let reserved = max(0, min(messageBytes.count, Self.guaranteedMessageBytes, budget))
    budget -= reserved
    var fitted = self
    if details.count > budget {
      fitted.details = []
    } else {
      budget -= details.count
    }
    fitted.metadata = HeaderLimits.fitted(metadata, budget: budget + 2)
    budget -= HeaderLimits.encodedSize(fitted.metadata) - 2
    let room = reserved + max(0, budget)
    if messageBytes.count > room {
      let marker = Array(Self.truncationMarker.utf8)
      let keep = room >= marker.count ? room - marker.count : room
      var end = keep
      // Cut at a scalar boundary: never before a UTF-8 continuation byte.
      while end > 0, end < messageBytes.count, messageBytes[end] & 0xC0 == 0x80 { end -= 1 }
      var cut = Array(messageBytes[..<end])
      if room >= marker.count { cut += marker }
      fitted.message = String(decoding: cut, as: UTF8.self)
    }
    return fitted
  }
}
