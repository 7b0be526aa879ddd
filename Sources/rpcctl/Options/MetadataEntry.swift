import ArgumentParser
import ProtoJSON
import RPC

/// One `-H key:value` request metadata entry. Keys are lower-cased; values of keys ending in
/// `-bin` are base64 (standard or URL-safe) and sent as bytes; other values must be printable
/// ASCII.
struct MetadataEntry: ExpressibleByArgument, Hashable, Sendable {
  var key: String
  var value: Metadata.Entry

  init?(argument: String) {
    guard let colon = argument.firstIndex(of: ":") else { return nil }
    let key = argument[..<colon].trimmingSpaces().lowercased()
    let text = String(argument[argument.index(after: colon)...].trimmingSpaces())
    guard !key.isEmpty, key.count <= 255,
      key.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) })
    else { return nil }
    if key.hasSuffix("-bin") {
      guard let bytes = Base64.decode(text) else { return nil }
      self.value = .binary(bytes)
    } else {
      guard text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value <= 0x7E }) else { return nil }
      self.value = .text(text)
    }
    self.key = key
  }

  static var defaultCompletionKind: CompletionKind { .default }
}
