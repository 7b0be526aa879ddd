import Crypto
import Foundation

/// A guest cart's id as the guest holds it: 32 bytes from a CSPRNG, sent as unpadded base64url
/// (43 characters). It is a bearer secret (cart.proto), so the server stores only ``hash``
/// (SHA-256 of the bytes): a copy of the database does not open anybody's cart.
struct GuestCartToken: Sendable, Hashable {
  static let byteCount = 32
  let bytes: [UInt8]

  /// A new random id.
  static func generate() -> GuestCartToken {
    GuestCartToken(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  /// The id `text` encodes, or nil when it does not have a guest cart id's shape (such an id
  /// names no cart: NOT_FOUND).
  init?(text: String) {
    guard text.utf8.count == 43, text.utf8.allSatisfy(Self.isBase64URL) else { return nil }
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += "="
    guard let data = Data(base64Encoded: base64), data.count == Self.byteCount else { return nil }
    self.bytes = Array(data)
  }

  /// The text the guest holds (Cart.cart_id, guest_cart_id).
  var text: String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  /// What the database keeps.
  var hash: [UInt8] { Array(SHA256.hash(data: bytes)) }

  private static func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
      UInt8(ascii: "-"), UInt8(ascii: "_"):
      true
    default: false
    }
  }
}

extension GuestCartToken: CustomStringConvertible, CustomDebugStringConvertible {
  /// Redacted: the id is a secret and never logged.
  var description: String { "GuestCartToken(redacted)" }
  var debugDescription: String { description }
}
