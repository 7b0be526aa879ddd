import Foundation

/// Builds SVG (and HTML) text; every attribute value and text it is given is escaped, and every
/// number is written finite.
struct SVGWriter {
  var text = ""

  mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
    text += "<" + name + Self.attributes(attributes) + ">"
  }

  mutating func close(_ name: String) {
    text += "</" + name + ">"
  }

  /// An element without content, self-closed (`<line .../>`).
  mutating func empty(_ name: String, _ attributes: [(String, String)]) {
    text += "<" + name + Self.attributes(attributes) + "/>"
  }

  /// An element holding `content` as text.
  mutating func element(_ name: String, _ attributes: [(String, String)] = [], text content: String) {
    text += "<" + name + Self.attributes(attributes) + ">" + escapeHTML(content) + "</" + name + ">"
  }

  mutating func line(
    _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, _ more: [(String, String)] = []
  ) {
    let ends = [("x1", coord(x1)), ("y1", coord(y1)), ("x2", coord(x2)), ("y2", coord(y2))]
    empty("line", ends + [("stroke", stroke)] + more)
  }

  /// A rectangle; with `tip`, a tooltip (`<title>`) inside it.
  mutating func rect(
    _ x: Double, _ y: Double, width: Double, height: Double, fill: String, _ more: [(String, String)] = [],
    tip: String? = nil
  ) {
    let attributes =
      [("x", coord(x)), ("y", coord(y)), ("width", coord(width)), ("height", coord(height)), ("fill", fill)] + more
    guard let tip else { return empty("rect", attributes) }
    open("rect", attributes)
    element("title", text: tip)
    close("rect")
  }

  mutating func text(
    _ content: String, x: Double, y: Double, size: Double, fill: String = "#333", anchor: String? = nil,
    _ more: [(String, String)] = []
  ) {
    var attributes = [("x", coord(x)), ("y", coord(y)), ("font-size", coord(size)), ("fill", fill)]
    if let anchor { attributes.append(("text-anchor", anchor)) }
    element("text", attributes + more, text: content)
  }

  private static func attributes(_ attributes: [(String, String)]) -> String {
    attributes.map { " \($0.0)=\"\(escapeHTML($0.1))\"" }.joined()
  }
}

/// A coordinate or length for an attribute: one decimal at most, never NaN or infinite.
func coord(_ value: Double) -> String {
  guard value.isFinite else { return "0" }
  let rounded = (value * 10).rounded() / 10
  return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : String(format: "%.1f", rounded)
}

/// A width estimate of `text` in a sans-serif font of `size` pixels (for layout only).
func textWidth(_ text: String, size: Double) -> Double {
  Double(text.count) * size * 0.58
}

/// Escapes text for HTML and SVG, in text and in quoted attribute values.
func escapeHTML(_ text: String) -> String {
  var out = ""
  out.reserveCapacity(text.utf8.count)
  for character in text {
    switch character {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default: out.append(character)
    }
  }
  return out
}
