/// A method as a user names it: `Service/Method`, `package.Service/Method`,
/// `/package.Service/Method` or `package.Service.Method`. The service part may be a full name
/// or, when unambiguous on the server, a short one (see ``ServiceMatch``).
struct MethodReference: Hashable, Sendable, CustomStringConvertible {
  var service: String
  var method: String

  init(service: String, method: String) {
    self.service = service
    self.method = method
  }

  /// Parses one of the accepted forms; nil when `text` names no method.
  init?(parsing text: String) {
    var text = Substring(text)
    if text.hasPrefix("/") { text.removeFirst() }
    let separator = text.lastIndex(of: "/") ?? text.lastIndex(of: ".")
    guard let separator else { return nil }
    let service = text[..<separator]
    let method = text[text.index(after: separator)...]
    guard !service.isEmpty, !method.isEmpty, !method.contains("."), !service.contains("/") else { return nil }
    self.init(service: String(service.hasPrefix(".") ? service.dropFirst() : service), method: String(method))
  }

  var description: String { "\(service)/\(method)" }
}
