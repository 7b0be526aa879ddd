import CommerceAPI
public import CommerceKit
public import Foundation
public import Postgres

extension AuthService {
  /// The migrations of schema `auth`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "auth")

  /// What the composition root needs: identity "auth", schema "auth", no peers.
  ///
  /// On start it makes sure an active ADMIN exists (``ensureBootstrapAdmin(email:)``): on a new
  /// deployment it creates one and announces its email and generated password once on the
  /// operator's terminal (never in the log). Settings: `bootstrap-admin-email` (default
  /// admin@emporium.local), `bootstrap-admin` = `off` to skip; `service-identity.NAME` = a
  /// client secret provisions service identity NAME with that secret on every start
  /// (``provisionServiceIdentity(name:clientSecret:enabled:pool:hasher:now:)``), for a process
  /// that calls in with IssueServiceToken (`emporium payment-sandbox` as "payment-gateway").
  public static let declaration = ServiceDeclaration(name: "auth", schema: "auth", migrations: migrations, peers: []) {
    environment in
    let service = try await AuthService(pool: environment.pool, tokens: environment.tokens, logger: environment.logger)
    let prefix = "service-identity."
    for (name, secret) in environment.settings.sorted(by: { $0.key < $1.key }) where name.hasPrefix(prefix) {
      try await provisionServiceIdentity(name: String(name.dropFirst(prefix.count)), clientSecret: secret, pool: environment.pool)
    }
    if environment.settings["bootstrap-admin"] != "off",
      let admin = try await service.ensureBootstrapAdmin(email: environment.settings["bootstrap-admin-email"] ?? "admin@emporium.local")
    {
      environment.announce(
        """
        Created the bootstrap admin account (shown once; log in and change it):
          email:    \(admin.email)
          password: \(admin.password)
        """)
    }
    return HostedService(rpc: service)
  }

  // MARK: Operators

  /// The credentials of an admin account ``ensureBootstrapAdmin(email:)`` created. The password
  /// is shown once (by `emporium serve`) and never stored in clear.
  public struct BootstrapAdmin: Sendable, CustomStringConvertible {
    public var userID: String
    public var email: String
    public var password: String

    public var description: String { "BootstrapAdmin(\(email), password redacted)" }
  }

  /// Creates an admin account with a generated password when no account is an active ADMIN,
  /// and returns its credentials, so that a new deployment has someone who can grant roles;
  /// returns nil when an active admin exists (every later start). Safe to call from several
  /// instances at once: one creates the admin. The caller prints the password once; the admin
  /// should change it (or create a personal admin and suspend this one).
  public static func ensureBootstrapAdmin(
    pool: PostgresPool, email: String = "admin@emporium.local", hasher: PasswordHasher = .owasp,
    now: Date = Date()
  ) async throws -> BootstrapAdmin? {
    guard let address = EmailAddress(email) else {
      throw CommerceError.invalidArgument(field: "email", "must be an email address")
    }
    let password = randomSecret()
    let created = try await AuthStore(pool: pool).createBootstrapAdmin(
      AuthStore.NewAccount(
        id: UUID(), email: address.value, passwordHash: try await hasher.hash(password), displayName: "Administrator",
        roles: [.customer, .admin], sellerStatus: .none, businessName: "", sellerRegionCode: "", createdAt: now))
    return created.map { BootstrapAdmin(userID: $0.id.lowercasedString, email: $0.email, password: password) }
  }

  /// ``ensureBootstrapAdmin(pool:email:hasher:now:)`` with this service's pool, hasher and clock.
  public func ensureBootstrapAdmin(email: String = "admin@emporium.local") async throws -> BootstrapAdmin? {
    try await Self.ensureBootstrapAdmin(pool: store.pool, email: email, hasher: configuration.passwordHasher, now: now())
  }

  /// Creates a service identity (for IssueServiceToken), or replaces its client secret and
  /// whether it is enabled. For operators and the composition root (`emporium seed`); the secret
  /// is stored as an Argon2id hash only. Names are lower-case letters, digits and "-" (at most
  /// 63, starting with a letter); secrets at least 16 characters.
  public static func provisionServiceIdentity(
    name: String, clientSecret: String, enabled: Bool = true, pool: PostgresPool, hasher: PasswordHasher = .owasp,
    now: Date = Date()
  ) async throws {
    var violations = FieldViolations()
    violations.check(isServiceName(name), "service_name", "must be lower-case letters, digits and '-', starting with a letter")
    violations.check((16...1024).contains(clientSecret.utf8.count), "client_secret", "must be 16 to 1024 bytes")
    try violations.throwIfAny()
    try await AuthStore(pool: pool).provisionServiceIdentity(
      name: name, secretHash: try await hasher.hash(clientSecret), enabled: enabled, now: now)
  }

  /// Makes sure a service identity exists: creates it, enabled, with a generated client secret
  /// and returns that secret (to hand to the service once) when there was none; returns nil
  /// and changes nothing when it exists, whatever its secret or state.
  public static func ensureServiceIdentity(
    name: String, pool: PostgresPool, hasher: PasswordHasher = .owasp, now: Date = Date()
  ) async throws -> String? {
    guard isServiceName(name) else {
      throw CommerceError.invalidArgument(field: "service_name", "must be lower-case letters, digits and '-', starting with a letter")
    }
    let secret = randomSecret()
    let created = try await AuthStore(pool: pool).createServiceIdentityIfMissing(
      name: name, secretHash: try await hasher.hash(secret), now: now)
    return created ? secret : nil
  }

  /// A new random client secret (32 characters of base64url, 192 bits), for provisioning.
  public static func generateClientSecret() -> String { randomSecret() }
}
