import ProtoJSON
import RPC

/// `-v` diagnostics on standard error, prefixed like curl's: `*` for information, `>` for what
/// was sent, `<` for what was received. Writes nothing unless enabled.
struct VerboseLog: Sendable {
  let enabled: Bool
  let output: any TextOutput

  func info(_ line: @autoclosure () -> String) {
    guard enabled else { return }
    output.write("* \(line())\n")
  }

  func sent(_ line: @autoclosure () -> String) {
    guard enabled else { return }
    output.write("> \(line())\n")
  }

  func received(_ line: @autoclosure () -> String) {
    guard enabled else { return }
    output.write("< \(line())\n")
  }

  /// Every entry of `metadata` on its own line (binary values in base64), or `(none)`.
  func metadata(_ title: String, _ metadata: Metadata, prefix: String) {
    guard enabled else { return }
    var text = "\(prefix) \(title):\(metadata.isEmpty ? " (none)" : "")\n"
    for (key, value) in metadata {
      switch value {
      case .text(let string): text += "\(prefix)   \(key): \(string)\n"
      case .binary(let bytes): text += "\(prefix)   \(key): \(Base64.encode(bytes))\n"
      }
    }
    output.write(text)
  }
}
