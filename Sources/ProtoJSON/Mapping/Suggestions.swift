/// "Did you mean" hints for names a user mistyped.
package enum Suggestions {
  /// The candidate closest to `name` when it is plausibly a typo: equal ignoring case and
  /// underscores, or within an edit distance of 2 (1 for short names).
  package static func closest(to name: String, in candidates: [String]) -> String? {
    let normalized = normalize(name)
    if let match = candidates.first(where: { normalize($0) == normalized }) { return match }
    let limit = name.count <= 4 ? 1 : 2
    let scored = candidates.map { ($0, distance(normalized, normalize($0))) }.filter { $0.1 <= limit }
    return scored.min { $0.1 < $1.1 }?.0
  }

  /// `; did you mean 'x'?` or nothing.
  package static func hint(for name: String, in candidates: [String]) -> String {
    closest(to: name, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
  }

  private static func normalize(_ name: String) -> [Character] {
    Array(name.lowercased().filter { $0 != "_" && $0 != "-" })
  }

  /// Levenshtein distance.
  private static func distance(_ a: [Character], _ b: [Character]) -> Int {
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
      var current = [i] + Array(repeating: 0, count: b.count)
      for j in 1...b.count {
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      }
      previous = current
    }
    return previous[b.count]
  }
}
