import CSodium
import NIOPosix

/// Hashes and checks passwords with Argon2id (libsodium's `crypto_pwhash_str`), at OWASP's
/// recommended parameters by default: 19 MiB of memory, 2 iterations, 1 lane. The result is
/// libsodium's self-describing string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so parameters
/// can be raised later and old hashes still verify.
///
/// Hashing takes tens of milliseconds of CPU by design, so it runs on NIO's blocking thread pool,
/// never on the cooperative pool or an event loop. Cancelling the caller does not stop a hash
/// already running.
public struct PasswordHasher: Sendable {
  /// Iterations (libsodium's opslimit).
  public var iterations: Int
  /// Memory in bytes (libsodium's memlimit).
  public var memoryBytes: Int

  /// OWASP's Argon2id recommendation: m=19 MiB, t=2, p=1.
  public static let owasp = PasswordHasher(iterations: 2, memoryBytes: 19 * 1024 * 1024)

  public init(iterations: Int, memoryBytes: Int) {
    self.iterations = iterations
    self.memoryBytes = memoryBytes
  }

  private static let initialized: Bool = sodium_init() >= 0

  /// The hash string of `password`.
  public func hash(_ password: String) async throws -> String {
    precondition(Self.initialized, "libsodium failed to initialise")
    let iterations = UInt64(self.iterations)
    let memory = self.memoryBytes
    return try await NIOThreadPool.singleton.runIfActive {
      var output = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
      let status = password.withCString { text in
        crypto_pwhash_str(&output, text, UInt64(password.utf8.count), iterations, memory)
      }
      guard status == 0 else { throw HashingFailed() }
      let length = output.firstIndex(of: 0) ?? output.count
      return String(decoding: output[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  /// The hash string of `password` with a salt the caller gives instead of a random one (16
  /// bytes), in the same self-describing format as ``hash(_:)``, so it verifies the same way.
  ///
  /// Only for data sets that must come out the same every time (`emporium seed`): a salt that
  /// is not random lets anyone who knows it precompute guesses. Real accounts use ``hash(_:)``.
  public func hash(_ password: String, salt: [UInt8]) async throws -> String {
    precondition(Self.initialized, "libsodium failed to initialise")
    precondition(salt.count == Int(crypto_pwhash_SALTBYTES), "the salt must be \(crypto_pwhash_SALTBYTES) bytes")
    let iterations = UInt64(self.iterations)
    let memory = self.memoryBytes
    return try await NIOThreadPool.singleton.runIfActive {
      var output = [UInt8](repeating: 0, count: 32)  // libsodium's crypto_pwhash_str hash length
      let status = password.withCString { text in
        crypto_pwhash(
          &output, UInt64(output.count), text, UInt64(password.utf8.count), salt, iterations, memory,
          crypto_pwhash_ALG_ARGON2ID13)
      }
      guard status == 0 else { throw HashingFailed() }
      func base64(_ bytes: [UInt8]) -> String {
        let variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING
        var text = [CChar](repeating: 0, count: sodium_base64_encoded_len(bytes.count, variant))
        _ = sodium_bin2base64(&text, text.count, bytes, bytes.count, variant)
        let length = text.firstIndex(of: 0) ?? text.count
        return String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      }
      return "$argon2id$v=19$m=\(memory / 1024),t=\(iterations),p=1$\(base64(salt))$\(base64(output))"
    }
  }

  /// Whether `password` matches `hash` (constant-time in the comparison; a malformed hash
  /// matches nothing).
  public func verify(_ password: String, against hash: String) async throws -> Bool {
    precondition(Self.initialized, "libsodium failed to initialise")
    return try await NIOThreadPool.singleton.runIfActive {
      password.withCString { text in
        hash.withCString { stored in crypto_pwhash_str_verify(stored, text, UInt64(password.utf8.count)) == 0 }
      }
    }
  }

  /// Whether `hash` was made with other parameters than these, so it should be replaced at the
  /// next successful login.
  public func needsRehash(_ hash: String) -> Bool {
    hash.withCString { crypto_pwhash_str_needs_rehash($0, UInt64(iterations), memoryBytes) != 0 }
  }

  /// Hashing ran out of memory.
  public struct HashingFailed: Error, CustomStringConvertible {
    public var description: String { "password hashing failed (out of memory)" }
  }
}
