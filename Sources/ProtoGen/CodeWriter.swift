/// Accumulates indented lines of generated source.
struct CodeWriter {
  private(set) var text = ""
  private var indentation = ""

  mutating func line(_ content: String = "") {
    text += content.isEmpty ? "\n" : indentation + content + "\n"
  }

  mutating func block(_ opening: String, _ body: (inout CodeWriter) -> Void) {
    line(opening + " {")
    indent(body)
    line("}")
  }

  /// A `switch` whose `case` lines sit at the switch's own indentation (Swift style).
  mutating func switchBlock(_ opening: String, _ body: (inout CodeWriter) -> Void) {
    line(opening + " {")
    body(&self)
    line("}")
  }

  mutating func indent(_ body: (inout CodeWriter) -> Void) {
    let saved = indentation
    indentation += "  "
    body(&self)
    indentation = saved
  }

  /// A proto comment as `///` doc-comment lines (nothing when the comment is absent).
  mutating func docComment(_ comment: String?) {
    guard let comment else { return }
    var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.hasPrefix(" ") ? String($0.dropFirst()) : String($0)
    }
    while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
    for docLine in lines { line(docLine.isEmpty ? "///" : "/// " + docLine) }
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: CharacterSetLike) -> String {
    var slice = Substring(self)
    while let first = slice.first, set.contains(first) { slice.removeFirst() }
    while let last = slice.last, set.contains(last) { slice.removeLast() }
    return String(slice)
  }
}

/// The one character set the writer needs, without Foundation.
struct CharacterSetLike {
  static let whitespaces = CharacterSetLike()
  func contains(_ ch: Character) -> Bool { ch == " " || ch == "\t" }
}
