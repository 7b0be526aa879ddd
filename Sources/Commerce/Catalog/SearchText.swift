/// A search query in web-search syntax, parsed: words, "quoted phrases", `OR` between terms and
/// `-` before a term to exclude it. Terms are ANDed. The last plain word also matches as a
/// prefix, for search-as-you-type.
///
/// It becomes a PostgreSQL `to_tsquery` text in which every operand is a single-quoted run of
/// letters and digits, so user input can never change the query's structure; the text search
/// configuration then unaccents and stems each operand.
struct SearchText: Sendable, Hashable {
  enum Term: Sendable, Hashable {
    /// One word (lower case, letters and digits only).
    case word(String)
    /// Words that must follow each other.
    case phrase([String])
  }

  struct Operand: Sendable, Hashable {
    var term: Term
    var negated: Bool
  }

  /// The query as a conjunction of alternatives: every clause must match; a clause matches
  /// when any of its operands does.
  var clauses: [[Operand]]

  init(_ query: String) {
    var clauses: [[Operand]] = []
    var joinNext = false
    for token in Self.tokens(query) {
      if token.text == "OR", !token.quoted, !token.negated {
        if !clauses.isEmpty { joinNext = true }
        continue
      }
      let words = Self.words(token.text)
      guard !words.isEmpty else { continue }
      let term: Term = token.quoted || words.count > 1 ? .phrase(words) : .word(words[0])
      let operand = Operand(term: term, negated: token.negated)
      if joinNext, !clauses.isEmpty {
        clauses[clauses.count - 1].append(operand)
      } else {
        clauses.append([operand])
      }
      joinNext = false
    }
    self.clauses = clauses
  }

  /// Whether the query has no term (it matches every product).
  var isEmpty: Bool { clauses.isEmpty }

  /// The position of the last plain word, which matches as a prefix.
  var prefixPosition: (clause: Int, operand: Int)? {
    guard let clause = clauses.indices.last, let operand = clauses[clause].indices.last,
      case .word = clauses[clause][operand].term, !clauses[clause][operand].negated
    else { return nil }
    return (clause, operand)
  }

  /// The plain words (not in phrases, not excluded) that typo tolerance may correct: those of
  /// five or more characters, and whether each matches as a prefix (the last word).
  var correctableWords: [(word: String, prefix: Bool)] {
    var result: [(String, Bool)] = []
    let prefix = prefixPosition
    for (c, clause) in clauses.enumerated() {
      for (o, operand) in clause.enumerated() {
        guard case .word(let word) = operand.term, !operand.negated, word.count >= 5 else { continue }
        let isPrefix = prefix.map { $0.clause == c && $0.operand == o } ?? false
        result.append((word, isPrefix))
      }
    }
    return result
  }

  /// The query with `corrections` (word to replacement) applied.
  func correcting(_ corrections: [String: String]) -> SearchText {
    var copy = self
    for c in copy.clauses.indices {
      for o in copy.clauses[c].indices {
        if case .word(let word) = copy.clauses[c][o].term, !copy.clauses[c][o].negated, let replacement = corrections[word] {
          copy.clauses[c][o].term = .word(replacement)
        }
      }
    }
    return copy
  }

  /// The to_tsquery text; nil when the query has no term.
  var tsquery: String? {
    guard !clauses.isEmpty else { return nil }
    let prefix = prefixPosition
    return clauses.enumerated().map { c, clause in
      let operands = clause.enumerated().map { o, operand in
        var text: String
        switch operand.term {
        case .word(let word):
          text = Self.quoted(word)
          if let prefix, prefix.clause == c, prefix.operand == o { text += ":*" }
        case .phrase(let words):
          text = words.count == 1 ? Self.quoted(words[0]) : "(" + words.map(Self.quoted).joined(separator: " <-> ") + ")"
        }
        return operand.negated ? "!" + text : text
      }
      return operands.count == 1 ? operands[0] : "(" + operands.joined(separator: " | ") + ")"
    }.joined(separator: " & ")
  }

  /// The query as a person would type it (for "showing results for").
  var display: String {
    clauses.map { clause in
      clause.map { operand in
        let text =
          switch operand.term {
          case .word(let word): word
          case .phrase(let words): "\"" + words.joined(separator: " ") + "\""
          }
        return operand.negated ? "-" + text : text
      }.joined(separator: " OR ")
    }.joined(separator: " ")
  }

  // MARK: Parsing

  private struct Token {
    var text: String
    var quoted: Bool
    var negated: Bool
  }

  private static func tokens(_ query: String) -> [Token] {
    var tokens: [Token] = []
    var characters = Substring(query)
    while let first = characters.first {
      if first.isWhitespace {
        characters = characters.dropFirst()
        continue
      }
      var negated = false
      if first == "-", let next = characters.dropFirst().first, !next.isWhitespace {
        negated = true
        characters = characters.dropFirst()
      }
      if characters.first == "\"" {
        let body = characters.dropFirst()
        let end = body.firstIndex(of: "\"") ?? body.endIndex
        tokens.append(Token(text: String(body[..<end]), quoted: true, negated: negated))
        characters = end == body.endIndex ? body[end...] : body[body.index(after: end)...]
      } else {
        let end = characters.firstIndex { $0.isWhitespace || $0 == "\"" } ?? characters.endIndex
        tokens.append(Token(text: String(characters[..<end]), quoted: false, negated: negated))
        characters = characters[end...]
      }
    }
    return tokens
  }

  /// The runs of letters and digits of `text`, lower-cased.
  static func words(_ text: String) -> [String] {
    text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { !$0.isEmpty }
  }

  private static func quoted(_ word: String) -> String { "'" + word + "'" }

  // MARK: Typos

  /// The optimal string alignment distance between `a` and `b` (insertions, deletions,
  /// substitutions and transpositions of adjacent characters), stopping early above `limit`.
  static func editDistance(_ a: String, _ b: String, limit: Int = 1) -> Int {
    let a = Array(a)
    let b = Array(b)
    if abs(a.count - b.count) > limit { return limit + 1 }
    var previous2 = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...max(a.count, 1) where !a.isEmpty {
      current[0] = i
      var rowMinimum = current[0]
      for j in 1...max(b.count, 1) where !b.isEmpty {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
          current[j] = min(current[j], previous2[j - 2] + 1)
        }
        rowMinimum = min(rowMinimum, current[j])
      }
      if rowMinimum > limit { return limit + 1 }
      (previous2, previous, current) = (previous, current, previous2)
    }
    return a.isEmpty ? b.count : b.isEmpty ? a.count : previous[b.count]
  }
}
