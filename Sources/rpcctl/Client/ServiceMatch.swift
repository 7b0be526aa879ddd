import ProtoJSON

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
