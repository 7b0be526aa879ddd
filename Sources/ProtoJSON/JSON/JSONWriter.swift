/// Writes ``JSONValue``s as text: compact (one line, for JSON lines) or indented by two spaces.
///
/// Members are written in the order they are stored; the protobuf mapping stores them in field
/// number order, so output is deterministic. Strings escape `"`, `\` and control characters;
/// everything else is written as UTF-8.
enum JSONWriter {
  static func write(_ value: JSONValue, pretty: Bool = false) -> String {
    var output = ""
    write(value, pretty: pretty, indent: 0, into: &output)
    return output
  }

  private static func write(_ value: JSONValue, pretty: Bool, indent: Int, into output: inout String) {
    switch value {
    case .null: output += "null"
    case .bool(let bool): output += bool ? "true" : "false"
    case .number(let text): output += text
    case .string(let string): writeString(string, into: &output)
    case .array(let elements):
      guard !elements.isEmpty else {
        output += "[]"
        return
      }
      output += "["
      for (position, element) in elements.enumerated() {
        if position > 0 { output += "," }
        newline(pretty: pretty, indent: indent + 1, into: &output)
        write(element, pretty: pretty, indent: indent + 1, into: &output)
      }
      newline(pretty: pretty, indent: indent, into: &output)
      output += "]"
    case .object(let members):
      guard !members.isEmpty else {
        output += "{}"
        return
      }
      output += "{"
      for (position, member) in members.enumerated() {
        if position > 0 { output += "," }
        newline(pretty: pretty, indent: indent + 1, into: &output)
        writeString(member.key, into: &output)
        output += pretty ? ": " : ":"
        write(member.value, pretty: pretty, indent: indent + 1, into: &output)
      }
      newline(pretty: pretty, indent: indent, into: &output)
      output += "}"
    }
  }

  private static func newline(pretty: Bool, indent: Int, into output: inout String) {
    guard pretty else { return }
    output += "\n"
    output += String(repeating: "  ", count: indent)
  }

  static func writeString(_ string: String, into output: inout String) {
    output += "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": output += "\\\""
      case "\\": output += "\\\\"
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      case "\u{08}": output += "\\b"
      case "\u{0C}": output += "\\f"
      case "\u{00}"..."\u{1F}", "\u{7F}", "\u{2028}", "\u{2029}":
        let hex = String(scalar.value, radix: 16)
        output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: output.unicodeScalars.append(scalar)
      }
    }
    output += "\""
  }
}
