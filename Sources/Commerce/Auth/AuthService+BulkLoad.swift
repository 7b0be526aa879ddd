public import CommerceAPI
public import CommerceKit
public import Foundation
public import Postgres
import Crypto

extension AuthService {
  /// An account to load: active, with a known password (every account is a customer; other
  /// roles are added).
  public struct BulkAccount: Sendable, Hashable {
    public var id: UUID
    /// A valid email address (stored in lower case).
    public var email: String
    /// The password in clear; stored only as its Argon2id hash.
    public var password: String
    public var displayName: String
    public var roles: Set<CommerceV1.Role>
    /// True for a seller whose application was approved (`businessName` and
    /// `sellerRegionCode` are then required).
    public var sellerApproved: Bool
    public var businessName: String
    /// Two upper-case letters (ISO 3166-1 alpha-2).
    public var sellerRegionCode: String
    public var createdAt: Date

    public init(
      id: UUID, email: String, password: String, displayName: String, roles: Set<CommerceV1.Role>,
      sellerApproved: Bool = false, businessName: String = "", sellerRegionCode: String = "", createdAt: Date
    ) {
      self.id = id
      self.email = email
      self.password = password
      self.displayName = displayName
      self.roles = roles
      self.sellerApproved = sellerApproved
      self.businessName = businessName
      self.sellerRegionCode = sellerRegionCode
      self.createdAt = createdAt
    }
  }

  /// Loads many accounts at once with `COPY`, all or none: for load-test data sets
  /// (`emporium seed`), not for real users.
  ///
  /// Hashing a password at OWASP's cost takes tens of milliseconds, so hashing each of 10,000
  /// accounts' passwords would take minutes. Each *distinct* password is therefore hashed once,
  /// with a salt derived from the password itself (SHA-256 of it, truncated), and every account
  /// with that password shares the encoded hash. The hashes are real Argon2id (logins verify
  /// them as any other) and come out the same on every run, so the same accounts give the same
  /// rows; but accounts that share a password share a hash, and a fixed salt allows
  /// precomputed guesses: never use this for accounts people use.
  ///
  /// - Returns: The number of accounts loaded.
  /// - Throws: `CommerceError.invalidArgument` for an invalid email, display name, region or an
  ///   email listed twice or already taken (nothing is loaded); ``PostgresError`` when a row
  ///   breaks a rule of the schema.
  @discardableResult
  public static func bulkLoadAccounts(
    _ accounts: [BulkAccount], pool: PostgresPool, hasher: PasswordHasher = .owasp, progress: (Int) -> Void = { _ in }
  ) async throws -> Int {
    var violations = FieldViolations()
    var emails: Set<String> = []
    var normalized = accounts
    for index in normalized.indices {
      let account = normalized[index]
      guard let email = EmailAddress(account.email) else {
        violations.add("accounts[\(index)].email", "must be an email address")
        continue
      }
      normalized[index].email = email.value
      violations.check(emails.insert(email.value).inserted, "accounts[\(index)].email", "is listed twice")
      violations.check((1...100).contains(account.displayName.count), "accounts[\(index)].display_name", "must be 1 to 100 characters")
      if account.sellerApproved {
        violations.check(isRegionCode(account.sellerRegionCode), "accounts[\(index)].seller_region_code", "must be two upper-case letters")
        violations.check(
          (1...200).contains(account.businessName.count), "accounts[\(index)].business_name", "must be 1 to 200 characters")
      }
    }
    try violations.throwIfAny()
    let store = AuthStore(pool: pool)
    if try await store.anyAccountExists(emails: Array(emails)) {
      throw CommerceError.invalidArgument(field: "accounts", "an account with one of these emails exists already")
    }
    var hashes: [String: String] = [:]
    for password in Set(normalized.map(\.password)).sorted() {
      let salt = Array(SHA256.hash(data: Data(("emporium-seed-salt:" + password).utf8)).prefix(16))
      hashes[password] = try await hasher.hash(password, salt: salt)
    }
    let rows = normalized.map { AuthStore.BulkAccountRow(account: $0, passwordHash: hashes[$0.password]!) }
    return try await store.copyAccounts(rows, progress: progress)
  }
}
