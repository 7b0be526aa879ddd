import ProtoJSON

/// Where a call's requests come from.
enum RequestSource: Sendable {
  /// Values already read (`-d JSON`, `-d @FILE`, the default `{}`).
  case values([JSONValue])
  /// Lines of standard input, read as the call goes.
  case lines(InputLines)
}

/// Yields a call's request JSON values one at a time from a ``RequestSource``: lines of input
/// are parsed as they arrive (see ``JSONChunker``), so each request is sent as soon as it is
/// complete.
struct RequestReader {
  private var ready: [JSONValue]
  private var lines: InputLines.AsyncIterator?
  private var chunker = JSONChunker()
  private let origin: String

  init(_ source: RequestSource) {
    switch source {
    case .values(let values):
      ready = values.reversed()
      origin = "-d"
    case .lines(let input):
      ready = []
      lines = input.makeAsyncIterator()
      origin = "standard input"
    }
  }

  /// The next request, nil after the last.
  ///
  /// - Throws: ``CommandFailure`` INVALID_ARGUMENT for JSON that does not parse, naming the
  ///   input line.
  mutating func next() async throws -> JSONValue? {
    while ready.isEmpty {
      guard var iterator = lines else { return nil }
      let line = try await iterator.next()
      lines = iterator
      let chunk: (text: String, firstLine: Int)?
      if let line {
        chunk = chunker.append(line)
      } else {
        chunk = chunker.finish()
        lines = nil
      }
      guard let chunk else { continue }
      var parser = JSONParser(chunk.text)
      do {
        ready = try parser.parseAll().reversed()
      } catch {
        throw CommandFailure.invalidInput(
          "\(origin) line \(chunk.firstLine + error.line - 1), column \(error.column): invalid JSON: \(error.message)")
      }
    }
    return ready.popLast()
  }

  /// Reads JSON values from the text of `-d` or a file.
  static func values(in text: String, origin: String) throws(CommandFailure) -> [JSONValue] {
    var parser = JSONParser(text)
    do {
      return try parser.parseAll()
    } catch {
      throw CommandFailure.invalidInput("\(origin): \(error)")
    }
  }
}
