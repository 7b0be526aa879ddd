import Crypto
import Foundation

/// A refresh token: 32 bytes from a CSPRNG, sent as unpadded base64url (43 characters). The
/// server stores only ``hash`` (SHA-256 of the bytes), so a copy of the database cannot be used
/// to refresh.
struct RefreshTokenSecret: Sendable {
  static let byteCount = 32
  let bytes: [UInt8]

  /// A new random token.
  static func generate() -> RefreshTokenSecret {
    RefreshTokenSecret(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  /// The token `text` encodes, or nil when it is not a refresh token's shape.
  init?(text: String) {
    guard text.utf8.count == 43, text.utf8.allSatisfy({ Self.isBase64URL($0) }) else { return nil }
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += "="
    guard let data = Data(base64Encoded: base64), data.count == Self.byteCount else { return nil }
    self.bytes = Array(data)
  }

  /// The text clients hold.
  var text: String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  /// What the database keeps.
  var hash: [UInt8] { Array(SHA256.hash(data: bytes)) }

  /// Seals the pair a rotation returned so that only a caller presenting this (consumed) token
  /// and the same idempotency key can open it: the key is derived from both with HKDF, and the
  /// server keeps neither.
  func seal(_ tokens: IssuedTokens, idempotencyKey: String) throws -> [UInt8] {
    let plaintext = try JSONEncoder().encode(tokens)
    let sealed = try AES.GCM.seal(plaintext, using: retryKey(idempotencyKey))
    guard let combined = sealed.combined else { throw CryptoKitError.incorrectParameterSize }
    return Array(combined)
  }

  /// The pair ``seal(_:idempotencyKey:)`` sealed, or nil when the key differs.
  func open(_ sealed: [UInt8], idempotencyKey: String) -> IssuedTokens? {
    guard let box = try? AES.GCM.SealedBox(combined: Data(sealed)),
      let plaintext = try? AES.GCM.open(box, using: retryKey(idempotencyKey))
    else { return nil }
    return try? JSONDecoder().decode(IssuedTokens.self, from: plaintext)
  }

  private func retryKey(_ idempotencyKey: String) -> SymmetricKey {
    HKDF<SHA256>.deriveKey(
      inputKeyMaterial: SymmetricKey(data: bytes), salt: Data(idempotencyKey.utf8),
      info: Data("emporium.auth.refresh-retry.v1".utf8), outputByteCount: 32)
  }

  private static func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
      UInt8(ascii: "-"), UInt8(ascii: "_"):
      true
    default: false
    }
  }
}

/// The tokens a login or a rotation hands out. Secrets: never logged.
struct IssuedTokens: Sendable, Codable, Hashable {
  var accessToken: String
  var accessExpiresAt: Date
  var refreshToken: String
  var refreshExpiresAt: Date
  var sessionID: UUID
}

extension IssuedTokens: CustomStringConvertible, CustomDebugStringConvertible {
  var description: String { "IssuedTokens(session: \(sessionID), redacted)" }
  var debugDescription: String { description }
}
