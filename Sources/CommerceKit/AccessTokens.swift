import CommerceAPI
public import Foundation
import JWTKit
import Synchronization

/// Signs and verifies Emporium's access tokens: JWTs signed with Ed25519 (EdDSA), each naming
/// its key in the header (`kid`), so keys rotate without logging anyone out: a new key signs,
/// old keys keep verifying until their tokens expire.
///
/// Claims: `sub` (user id or service name), `knd` ("user" or "service"), `roles` (role names,
/// users only), `sid` (session id), `iat`, `exp`, `iss` ("emporium"), `jti`.
///
/// Verification is cached: a token verified once is remembered, by its exact text, until it
/// expires, in a cache of bounded size, so a client that sends the same token on every call pays
/// the signature check once. Access tokens are not revocable before they expire (auth.proto),
/// so the cache never serves a token the server would now refuse.
public final class AccessTokens: Sendable {
  /// The issuer every token names.
  public static let issuer = "emporium"

  private let keys: JWTKeyCollection
  private let signingKeyID: String?
  private let cache: Mutex<Cache>
  private let now: @Sendable () -> Date

  /// - Parameters:
  ///   - keys: the signing key set; the newest key signs (see ``AccessTokenKeySet``).
  ///   - cacheCapacity: how many verified tokens to remember.
  ///   - now: the clock (tests move it).
  public init(keys keySet: AccessTokenKeySet, cacheCapacity: Int = 10_000, now: @escaping @Sendable () -> Date = Date.init) async {
    let collection = JWTKeyCollection()
    for key in keySet.keys {
      await collection.add(eddsa: key.privateKey, kid: JWKIdentifier(string: key.id))
    }
    self.keys = collection
    self.signingKeyID = keySet.keys.last?.id
    self.cache = Mutex(Cache(capacity: max(1, cacheCapacity)))
    self.now = now
  }

  /// What a token says, once verified.
  public struct Claims: Sendable, Hashable {
    public var principal: Principal
    /// The token's unique id.
    public var tokenID: String
    /// The front door (the API gateway's service identity) that issued this token for a user it
    /// authenticated, when it is such an asserted identity: valid only as the user a service
    /// acts for (`x-on-behalf-of`), never as a caller's own bearer token.
    public var assertedBy: String?
  }

  /// Issues a token for `principal` (its kind, subject, roles and session), valid for `lifetime`
  /// from now; `assertedBy` names the front door that asserts a user's identity (see
  /// ``Claims/assertedBy``).
  public func issue(
    for principal: Principal, lifetime: Duration, assertedBy: String? = nil
  ) async throws -> (token: String, expiresAt: Date) {
    try await issue(
      for: principal, until: now().addingTimeInterval(TimeInterval(lifetime.components.seconds)), assertedBy: assertedBy)
  }

  /// Issues a token for `principal` that expires at `expiresAt` (the gateway's asserted
  /// identities expire with the user's own token).
  public func issue(
    for principal: Principal, until expiresAt: Date, assertedBy: String? = nil
  ) async throws -> (token: String, expiresAt: Date) {
    let issuedAt = now()
    let payload = Payload(
      sub: SubjectClaim(value: principal.subject),
      knd: principal.kind.rawValue,
      roles: principal.kind == .user ? principal.roles.map(\.ruleName).sorted() : nil,
      sid: principal.sessionID.isEmpty ? nil : principal.sessionID,
      iat: IssuedAtClaim(value: issuedAt),
      exp: ExpirationClaim(value: expiresAt),
      iss: IssuerClaim(value: Self.issuer),
      jti: IDClaim(value: UUID().uuidString),
      via: assertedBy)
    let token = try await keys.sign(payload, kid: signingKeyID.map { JWKIdentifier(string: $0) })
    return (token, expiresAt)
  }

  /// Why a token was refused.
  public enum Failure: Error, Sendable, Hashable {
    /// Not a token this server could ever accept: malformed, an unknown key, a bad signature,
    /// another issuer, unknown roles.
    case invalid
    /// Well signed, but expired.
    case expired
  }

  /// The claims of `token` if it was verified before and has not expired, without checking it
  /// again; nil otherwise (``verify(_:)`` then says whether it is valid, and counts the miss).
  /// Synchronous and allocation-free, for the interceptor's path on every call: the token is
  /// looked up by its exact text, in place (a slice of the `authorization` entry).
  public func cachedClaims(of token: Substring) -> Claims? {
    let at = now()
    return cache.withLock { $0.lookUp(token, at: at, countingMiss: false) }
  }

  /// Verifies a token: its signature, issuer and expiry.
  public func verify(_ token: String) async throws(Failure) -> Claims {
    let at = now()
    if let cached = cache.withLock({ $0.lookUp(Substring(token), at: at) }) { return cached }
    let payload: Payload
    do {
      payload = try await keys.verify(token, as: Payload.self)
    } catch {
      // A bad signature, an unknown key id, malformed text or claims.
      throw .invalid
    }
    guard payload.iss.value == Self.issuer, let kind = Principal.Kind(rawValue: payload.knd) else { throw .invalid }
    guard payload.exp.value > at else { throw .expired }
    var roles: Set<CommerceV1.Role> = []
    for name in payload.roles ?? [] {
      guard let role = CommerceV1.Role(ruleName: name) else { throw .invalid }
      roles.insert(role)
    }
    let principal = Principal(
      kind: kind, subject: payload.sub.value, roles: roles, sessionID: payload.sid ?? "",
      expiresAt: Int64(payload.exp.value.timeIntervalSince1970))
    let claims = Claims(principal: principal, tokenID: payload.jti.value, assertedBy: payload.via)
    let expiry = payload.exp.value
    cache.withLock { $0.insert(claims, for: Substring(token), expiresAt: expiry, now: at) }
    return claims
  }

  /// How many verified tokens are remembered (for tests and metrics).
  public var cachedCount: Int { cache.withLock { $0.entries.count } }

  /// What the verification cache has done since this instance was made.
  public struct CacheStatistics: Sendable, Hashable {
    /// Verifications answered from the cache.
    public var hits: Int
    /// Verifications that checked the token itself (then cached it when valid).
    public var misses: Int
    /// Tokens remembered now.
    public var entries: Int
  }

  /// Cache hits and misses so far (for benchmarks and metrics).
  public var cacheStatistics: CacheStatistics {
    cache.withLock { CacheStatistics(hits: $0.hits, misses: $0.misses, entries: $0.entries.count) }
  }

  struct Payload: JWTPayload {
    var sub: SubjectClaim
    var knd: String
    var roles: [String]?
    var sid: String?
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var iss: IssuerClaim
    var jti: IDClaim
    /// See ``Claims/assertedBy``.
    var via: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
      // Expiry is checked by AccessTokens.verify against its own clock.
    }
  }

  /// Verified tokens by text, bounded: when full, expired entries go first, then the entries
  /// closest to expiry.
  struct Cache {
    let capacity: Int
    var entries: [Key: (claims: Claims, expiresAt: Date)] = [:]
    var hits = 0
    var misses = 0

    init(capacity: Int) { self.capacity = capacity }

    /// A token's text as a cache key: equal when the whole text is equal, hashed by its length
    /// and last 32 bytes only (part of the signature). A slice of a header, looked up without
    /// being copied. Hashing part of the text is safe from collision floods: only tokens whose
    /// signature verified are inserted, and their signatures cannot be chosen.
    struct Key: Hashable {
      let text: Substring

      init(_ text: Substring) { self.text = text }

      static func == (lhs: Key, rhs: Key) -> Bool { lhs.text == rhs.text }

      func hash(into hasher: inout Hasher) {
        let utf8 = text.utf8
        hasher.combine(utf8.count)
        let hashed = utf8.withContiguousStorageIfAvailable { bytes in
          hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(32))))
        }
        if hashed == nil {
          for byte in utf8.suffix(32) { hasher.combine(byte) }
        }
      }
    }

    /// The claims of `token` if it is remembered and unexpired at `now`; counts a hit, or a
    /// miss if `countingMiss`.
    mutating func lookUp(_ token: Substring, at now: Date, countingMiss: Bool = true) -> Claims? {
      guard let entry = entries[Key(token)], entry.expiresAt > now else {
        if countingMiss { misses += 1 }
        return nil
      }
      hits += 1
      return entry.claims
    }

    mutating func insert(_ claims: Claims, for token: Substring, expiresAt: Date, now: Date) {
      if entries.count >= capacity {
        entries = entries.filter { $0.value.expiresAt > now }
        if entries.count >= capacity {
          let keep = capacity / 2
          let survivors = entries.sorted { $0.value.expiresAt > $1.value.expiresAt }.prefix(keep)
          entries = Dictionary(uniqueKeysWithValues: survivors.map { ($0.key, $0.value) })
        }
      }
      entries[Key(token)] = (claims, expiresAt)
    }
  }
}

/// The Ed25519 keys that sign access tokens, oldest first; the last one signs new tokens.
///
/// ``load(directory:)`` reads every `*.pem` file of a directory (the file name without `.pem` is
/// the key id), creating the directory and a first key when there is none. To rotate, add a key
/// whose name sorts last (the default names are timestamps); delete an old key once the tokens
/// it signed have expired (15 minutes for users, one hour for services).
public struct AccessTokenKeySet: Sendable {
  public struct Key: Sendable {
    public var id: String
    var privateKey: EdDSA.PrivateKey
  }

  public private(set) var keys: [Key]

  /// A set of one new key that lives only in memory (tests, throwaway servers).
  public static func ephemeral() throws -> AccessTokenKeySet {
    AccessTokenKeySet(keys: [Key(id: "ephemeral-" + UUID().uuidString.prefix(8).lowercased(), privateKey: try EdDSA.PrivateKey())])
  }

  /// The keys in `directory`, made (with one new key, mode 0600) when it has none.
  public static func load(directory: String) throws -> (keys: AccessTokenKeySet, created: Bool) {
    let files = FileManager.default
    try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    var names = try files.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".pem") }.sorted()
    var created = false
    if names.isEmpty {
      let key = try EdDSA.PrivateKey()
      let name = "key-\(Int(Date().timeIntervalSince1970)).pem"
      let path = directory + "/" + name
      guard files.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw KeyError(message: "cannot write the signing key \(path)")
      }
      names = [name]
      created = true
    }
    let keys = try names.map { name in
      let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
      do {
        return Key(id: String(name.dropLast(".pem".count)), privateKey: try EdDSA.PrivateKey(pem: text))
      } catch {
        throw KeyError(message: "\(directory)/\(name) is not an Ed25519 private key in PEM form")
      }
    }
    return (AccessTokenKeySet(keys: keys), created)
  }

  /// The PEM text of key `id`'s private key (to write it to a key directory).
  func privateKeyPEM(of id: String) -> String? {
    keys.first { $0.id == id }?.privateKey.pemRepresentation
  }

  /// A key file that cannot be read or written.
  public struct KeyError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
  }
}
