/// A login email address: trimmed of surrounding spaces, in lower case, 3 to 254 characters,
/// one "@" with a non-empty local part (at most 64 characters) and a domain of dot-separated
/// labels, without spaces or control characters.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
  /// The normalised address.
  public let value: String

  /// The normalised address, or nil when `text` is not a valid address.
  public init?(_ text: String) {
    let trimmed = text.trimmingCharacters(where: { $0 == " " })
    let lowered = trimmed.lowercased()
    guard (3...254).contains(lowered.count) else { return nil }
    guard lowered.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) })
    else { return nil }
    let parts = lowered.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return nil }
    let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
    guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 && $0.first != "-" && $0.last != "-" })
    else { return nil }
    self.value = lowered
  }

  public var description: String { value }
}

extension String {
  func trimmingCharacters(where predicate: (Character) -> Bool) -> String {
    var text = Substring(self)
    while let first = text.first, predicate(first) { text = text.dropFirst() }
    while let last = text.last, predicate(last) { text = text.dropLast() }
    return String(text)
  }
}
