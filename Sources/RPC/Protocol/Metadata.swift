/// Call metadata: ordered key-value pairs sent with a call's opening, its response headers and
/// its trailers.
///
/// Keys are lower-case ASCII letters, digits, `-`, `_` and `.`, 1 to 255 bytes. Values under keys
/// ending in `-bin` are arbitrary bytes; all other values are printable ASCII (0x20-0x7E).
/// A key may repeat.
public struct Metadata: Hashable, Sendable, ExpressibleByDictionaryLiteral, Sequence {
  public typealias Key = String
  public typealias Value = String

  /// One value: text, or bytes under a `-bin` key.
  public enum Entry: Hashable, Sendable {
    case text(String)
    case binary([UInt8])

    /// The value's bytes as sent on the wire.
    public var bytes: [UInt8] {
      switch self {
      case .text(let text): Array(text.utf8)
      case .binary(let bytes): bytes
      }
    }

    /// How many bytes ``bytes`` has, without making the array.
    var byteCount: Int {
      switch self {
      case .text(let text): text.utf8.count
      case .binary(let bytes): bytes.count
      }
    }
  }

  /// The entries in order.
  public private(set) var entries: [(key: String, value: Entry)] = []

  public init() {}

  public init(dictionaryLiteral elements: (String, String)...) {
    for (key, value) in elements { add(key, value) }
  }

  /// Appends a text value. Keys are lower-cased.
  public mutating func add(_ key: String, _ value: String) {
    entries.append((Self.lowercased(key), .text(value)))
  }

  /// Makes room for `count` entries.
  mutating func reserveCapacity(_ count: Int) {
    entries.reserveCapacity(count)
  }

  /// Appends a text value under a key that is already lower-case.
  mutating func add(lowercasedKey key: String, _ value: String) {
    entries.append((key, .text(value)))
  }

  /// Adds an entry whose key is known to be valid and lower-case.
  mutating func add(lowercasedKey key: String, _ value: Entry) {
    entries.append((key, value))
  }

  /// Appends a binary value; `key` must end in `-bin`.
  public mutating func add(_ key: String, binary value: [UInt8]) {
    entries.append((Self.lowercased(key), .binary(value)))
  }

  /// Replaces every value of `key` with one text value.
  public mutating func replace(_ key: String, _ value: String) {
    remove(key)
    add(key, value)
  }

  /// Removes every value of `key`.
  public mutating func remove(_ key: String) {
    let key = Self.lowercased(key)
    entries.removeAll { $0.key == key }
  }

  /// The first text value of `key`.
  public subscript(_ key: String) -> String? {
    let key = Self.lowercased(key)
    for entry in entries where entry.key == key {
      if case .text(let text) = entry.value { return text }
    }
    return nil
  }

  /// Every value of `key`, in order.
  public func values(_ key: String) -> [Entry] {
    let key = Self.lowercased(key)
    return entries.filter { $0.key == key }.map(\.value)
  }

  public var isEmpty: Bool { entries.isEmpty }

  /// The bytes of the metadata block with every entry sent as it is (an upper bound: entries
  /// the encoder drops count too). ``HeaderLimits/encodedSize(key:value:)`` without its
  /// validation, which a call opening's hot path need not pay twice.
  var literalSize: Int {
    var size = 2
    for (key, value) in entries { size += 1 + key.utf8.count + 4 + value.byteCount }
    return size
  }

  public var count: Int { entries.count }

  public func makeIterator() -> IndexingIterator<[(key: String, value: Entry)]> {
    entries.makeIterator()
  }

  public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
    lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
  }

  public func hash(into hasher: inout Hasher) {
    for entry in entries {
      hasher.combine(entry.key)
      hasher.combine(entry.value)
    }
  }

  /// Whether `key` is a valid metadata key.
  static func isValidKey(_ key: some Collection<UInt8>) -> Bool {
    guard !key.isEmpty, key.count <= 255 else { return false }
    return key.allSatisfy { byte in
      (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
        || byte == 0x2E
    }
  }

  /// `key` lower-cased; `key` itself when it has no upper-case ASCII letter, as the keys code
  /// looks up usually are (no new string per lookup).
  static func lowercased(_ key: String) -> String {
    let isLowercase =
      key.utf8.withContiguousStorageIfAvailable { bytes in
        bytes.allSatisfy { $0 < 0x80 && !($0 >= 0x41 && $0 <= 0x5A) }
      } ?? false
    return isLowercase ? key : key.lowercased()
  }

  /// Whether `value` may be sent under a text (non `-bin`) key.
  static func isValidText(_ value: some Collection<UInt8>) -> Bool {
    // Contiguous bytes (a String's, a ByteBuffer's) are checked without per-byte index
    // arithmetic: a 300-byte bearer token passes this on every call, on both sides.
    if let valid = value.withContiguousStorageIfAvailable(isValidText(bytes:)) { return valid }
    return value.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
  }

  private static func isValidText(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    // No early exit, so the loop vectorizes: a byte outside 0x20...0x7E sets a bit of `invalid`.
    var invalid: UInt8 = 0
    for byte in bytes { invalid |= (byte &- 0x20) > 0x5E ? 1 : 0 }
    return invalid == 0
  }
}
