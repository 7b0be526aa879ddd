/// Where the body of ``PostgresConnection/copyFrom(_:deadline:_:)`` writes the COPY data.
///
/// Valid only inside that body. Data is sent as it is written; the COPY ends when the body
/// returns.
public struct PostgresCopyWriter: Sendable {
  let connection: PostgresConnection
  let requestID: UInt64

  /// Hands `bytes` (any slice of the COPY data stream: rows need not end at a chunk's end) to
  /// the connection, and returns once libpq has taken them, which happens as soon as the
  /// previous chunk has left for the server. So the caller can build the next chunk while this
  /// one is sent, and memory stays bounded by about two chunks.
  ///
  /// - Throws: The COPY's error when it has already failed (the statement was rejected, or the
  ///   connection broke), or `CancellationError` when the COPY was cancelled.
  public func write(_ bytes: [UInt8]) async throws {
    guard !bytes.isEmpty else { return }
    _ = try await withUnsafeThrowingContinuation { continuation in
      self.connection.sendCopyMessage(self.requestID, .data(bytes, continuation))
    }
  }

  /// Writes `rows`' bytes and empties it (keeping its storage for the next rows).
  public func write(_ rows: inout PostgresCopyRows) async throws {
    let bytes = rows.bytes
    rows.removeAll()
    try await self.write(bytes)
  }
}

/// The writer was used after its COPY ended (a write that raced with the statement's failure).
struct CopyEndedError: Error, CustomStringConvertible {
  var description: String { "The COPY is no longer in progress." }
}
