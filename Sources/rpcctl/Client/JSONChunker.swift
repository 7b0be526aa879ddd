/// Groups lines of input into chunks that hold whole JSON values, so a request may span
/// several lines (pretty-printed JSON) while each line-sized value is sent as soon as its line
/// arrives (JSON lines, interactive use).
///
/// A chunk ends at the end of a line where every `{` and `[` outside strings has been closed.
/// It may hold several values (`{} {}`), which the parser separates.
struct JSONChunker {
  private var buffer = ""
  private var depth = 0
  private var inString = false
  private var escaped = false
  /// The 1-based input line where the current chunk starts.
  private(set) var chunkStartLine = 1
  private var linesRead = 0

  /// Adds a line; returns a completed chunk (and its first line number), if this line
  /// completed one.
  mutating func append(_ line: String) -> (text: String, firstLine: Int)? {
    linesRead += 1
    if buffer.isEmpty, line.allSatisfy(\.isWhitespace) {
      chunkStartLine = linesRead + 1
      return nil
    }
    if !buffer.isEmpty { buffer += "\n" }
    buffer += line
    for scalar in line.unicodeScalars {
      if inString {
        if escaped {
          escaped = false
        } else if scalar == "\\" {
          escaped = true
        } else if scalar == "\"" {
          inString = false
        }
        continue
      }
      switch scalar {
      case "\"": inString = true
      case "{", "[": depth += 1
      case "}", "]": depth -= 1
      default: break
      }
    }
    guard depth <= 0, !inString else { return nil }
    return takeChunk(nextLine: linesRead + 1)
  }

  /// What is left at the end of input (an unfinished value), if anything.
  mutating func finish() -> (text: String, firstLine: Int)? {
    buffer.allSatisfy(\.isWhitespace) ? nil : takeChunk(nextLine: linesRead + 1)
  }

  private mutating func takeChunk(nextLine: Int) -> (text: String, firstLine: Int) {
    defer {
      buffer = ""
      depth = 0
      inString = false
      escaped = false
      chunkStartLine = nextLine
    }
    return (buffer, chunkStartLine)
  }
}
