import Foundation

/// Removes secrets from text that libpq wrote.
struct SecretScrubber: Sendable {
  var secrets: [String]

  func scrub(_ text: String) -> String {
    var text = text.trimmingCharacters(in: .whitespacesAndNewlines)
    for secret in self.secrets where text.contains(secret) {
      text = text.replacingOccurrences(of: secret, with: "********")
    }
    return text
  }
}
