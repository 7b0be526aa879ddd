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

/// How a service name the user typed matches the services a server hosts.
enum ServiceMatch: Hashable, Sendable {
  /// Exactly one service: its full name.
  case found(String)
  /// A short name shared by several services.
  case ambiguous([String])
  /// No service; perhaps a close one.
  case none(suggestion: String?)

  /// Matches `name` (full, or the last components of a full name) against `services`.
  init(_ name: String, among services: [String]) {
    let name = name.hasPrefix(".") ? String(name.dropFirst()) : name
    if services.contains(name) {
      self = .found(name)
      return
    }
    let matches = services.filter { $0.hasSuffix("." + name) }
    switch matches.count {
    case 1: self = .found(matches[0])
    case 0:
      let short = services.map { String($0.split(separator: ".").last ?? Substring($0)) }
      let lastComponent = String(name.split(separator: ".").last ?? Substring(name))
      let suggestion = Suggestions.closest(to: lastComponent, in: short).flatMap { match in
        services.first { $0 == match || $0.hasSuffix("." + match) }
      }
      self = .none(suggestion: suggestion)
    default: self = .ambiguous(matches.sorted())
    }
  }
}
