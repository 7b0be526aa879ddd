import CommerceAPI
import CommerceKit
import RPC
import Foundation
import Postgres

/// All SQL of schema `auth`. Each method is one transaction (or one statement) named for what it
/// does; values always travel as parameters.
struct AuthStore: Sendable {
  let pool: PostgresPool

  // MARK: Rows

  private static let accountColumns = """
    id, email, display_name, roles, status, suspension_reason, seller_status, business_name, \
    seller_region_code, created_at, updated_at, last_login_at, version
    """

  private static func account(_ row: PostgresRow) throws -> Account {
    let roleNames = try row.decode(3, as: [String].self)
    guard let status = Account.Status(rawValue: try row.decode(4, as: String.self)),
      let sellerStatus = Account.SellerStatus(rawValue: try row.decode(6, as: String.self))
    else { throw StoreError.corruptRow }
    return Account(
      id: try row.decode(0, as: UUID.self),
      email: try row.decode(1, as: String.self),
      displayName: try row.decode(2, as: String.self),
      roles: Set(roleNames.compactMap(CommerceV1.Role.init(ruleName:))),
      status: status,
      suspensionReason: try row.decode(5, as: String.self),
      sellerStatus: sellerStatus,
      businessName: try row.decode(7, as: String.self),
      sellerRegionCode: try row.decode(8, as: String.self),
      createdAt: try row.decode(9, as: Date.self),
      updatedAt: try row.decode(10, as: Date.self),
      lastLoginAt: try row.decode(11, as: Date?.self),
      version: try row.decode(12, as: Int64.self))
  }

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "an auth row holds a value the code does not know")
    var description: String
  }

  // MARK: Values the handlers pass in

  struct NewAccount: Sendable {
    var id: UUID
    var email: String
    var passwordHash: String
    var displayName: String
    var roles: Set<CommerceV1.Role>
    var sellerStatus: Account.SellerStatus
    var businessName: String
    var sellerRegionCode: String
    var createdAt: Date
  }

  struct NewSession: Sendable {
    var id: UUID
    var label: String
    var createdAt: Date
    var expiresAt: Date
  }

  struct NewRefreshToken: Sendable {
    var hash: [UInt8]
    var issuedAt: Date
    var expiresAt: Date
    /// The pair this token was issued in, sealed for retries of the rotation that made it; set
    /// on the consumed token, not on this one.
    var sealedRetry: [UInt8]?
  }

  // MARK: Accounts and sessions

  /// Creates an account with its first session and refresh token; nil when the email is taken.
  func createAccount(_ new: NewAccount, session: NewSession, token: NewRefreshToken) async throws -> Account? {
    try await pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        INSERT INTO auth.accounts (id, email, password_hash, display_name, roles, status, seller_status,
          business_name, seller_region_code, created_at, updated_at, last_login_at, version)
        VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $9, $9, $9, 1)
        ON CONFLICT (email) DO NOTHING
        RETURNING \(Self.accountColumns)
        """,
        [
          new.id, new.email, new.passwordHash, new.displayName, Self.roleNames(new.roles), new.sellerStatus.rawValue,
          new.businessName, new.sellerRegionCode, new.createdAt,
        ])
      guard let row = rows.first else { return nil }
      let account = try Self.account(row)
      try await Self.insertSession(tx, accountID: account.id, session: session, token: token)
      return account
    }
  }

  /// The account of a login email and its password hash.
  func credentials(email: String) async throws -> (account: Account, passwordHash: String)? {
    let rows = try await pool.query(
      "SELECT \(Self.accountColumns), password_hash FROM auth.accounts WHERE email = $1", [email])
    guard let row = rows.first else { return nil }
    return (try Self.account(row), try row.decode(13, as: String.self))
  }

  /// Starts a session for an active account (a login); nil when the account is no longer
  /// active. With `rehash`, the password hash checked at login is replaced by one made with the
  /// current parameters (unless it changed meanwhile).
  func startSession(
    accountID: UUID, session: NewSession, token: NewRefreshToken, rehash: (checked: String, replacement: String)? = nil
  ) async throws -> Account? {
    try await pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        UPDATE auth.accounts SET last_login_at = $2 WHERE id = $1 AND status = 'ACTIVE'
        RETURNING \(Self.accountColumns)
        """, [accountID, session.createdAt])
      guard let row = rows.first else { return nil }
      if let rehash {
        try await tx.query(
          "UPDATE auth.accounts SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
          [accountID, rehash.checked, rehash.replacement])
      }
      try await Self.insertSession(tx, accountID: accountID, session: session, token: token)
      return try Self.account(row)
    }
  }

  private static func insertSession(_ tx: PostgresTransaction, accountID: UUID, session: NewSession, token: NewRefreshToken)
    async throws
  {
    try await tx.query(
      "INSERT INTO auth.sessions (id, account_id, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
      [session.id, accountID, session.label, session.createdAt, session.expiresAt])
    try await tx.query(
      "INSERT INTO auth.refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
      [token.hash, session.id, token.issuedAt, token.expiresAt])
  }

  /// One account.
  func account(id: UUID) async throws -> Account? {
    let rows = try await pool.query("SELECT \(Self.accountColumns) FROM auth.accounts WHERE id = $1", [id])
    return try rows.first.map(Self.account)
  }

  struct AccountFilter: Sendable {
    var role: CommerceV1.Role?
    var status: Account.Status?
    var sellerStatus: Account.SellerStatus?
    var emailPrefix: String
  }

  /// A page of accounts, newest first, after the account with insertion number `afterSeq`.
  func listAccounts(_ filter: AccountFilter, afterSeq: Int64?, limit: Int) async throws -> [(account: Account, seq: Int64)] {
    let rows = try await pool.query(
      """
      SELECT \(Self.accountColumns), seq FROM auth.accounts
      WHERE ($1::text IS NULL OR $1 = ANY (roles))
        AND ($2::text IS NULL OR status = $2)
        AND ($3::text IS NULL OR seller_status = $3)
        AND starts_with(email, $4)
        AND ($5::int8 IS NULL OR seq < $5)
      ORDER BY seq DESC
      LIMIT $6
      """,
      [filter.role?.ruleName, filter.status?.rawValue, filter.sellerStatus?.rawValue, filter.emailPrefix, afterSeq, limit])
    return try rows.map { (account: try Self.account($0), seq: try $0.decode(13, as: Int64.self)) }
  }

  // MARK: Refresh tokens

  /// What a rotation grants the issuer: the session and the account's current roles.
  struct RotationGrant: Sendable {
    var sessionID: UUID
    var accountID: UUID
    var roles: Set<CommerceV1.Role>
    var sessionExpiresAt: Date
  }

  enum RotationOutcome: Sendable {
    case rotated(IssuedTokens)
    /// A retry of a recent rotation: the sealed pair, for the caller's key to open.
    case replay(sealed: [UInt8], sessionID: UUID)
    /// An already rotated token: its family is now revoked.
    case reused
    case revoked
    case expired
    case suspended
    case unknown
  }

  /// Consumes the refresh token with hash `hash` and records its successor, which `issue` makes
  /// (the access token, the new refresh token and, with an idempotency key, the sealed pair);
  /// or revokes its family when it was already consumed. The token and its session stay locked
  /// until the end, so concurrent presentations of one token are decided one after the other.
  func rotateRefreshToken(
    hash: [UInt8], idempotencyKey: String, now: Date,
    issue: @Sendable (RotationGrant) async throws -> (NewRefreshToken, IssuedTokens)
  ) async throws -> RotationOutcome {
    try await pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        SELECT t.session_id, t.expires_at, t.rotated_at, t.retry_sealed, s.expires_at, s.revoked_at IS NOT NULL,
          a.id, a.status, a.roles
        FROM auth.refresh_tokens t
        JOIN auth.sessions s ON s.id = t.session_id
        JOIN auth.accounts a ON a.id = s.account_id
        WHERE t.token_hash = $1
        FOR UPDATE OF t, s
        """, [hash])
      guard let row = rows.first else { return .unknown }
      let sessionID = try row.decode(0, as: UUID.self)
      let sealed = try row.decode(3, as: [UInt8]?.self)
      let state = RefreshTokenState(
        accountSuspended: try row.decode(7, as: String.self) != Account.Status.active.rawValue,
        sessionRevoked: try row.decode(5, as: Bool.self),
        sessionExpiresAt: try row.decode(4, as: Date.self),
        expiresAt: try row.decode(1, as: Date.self),
        rotatedAt: try row.decode(2, as: Date?.self),
        hasSealedRetry: sealed != nil)
      switch state.decide(idempotencyKey: idempotencyKey, now: now) {
      case .suspended: return .suspended
      case .revoked: return .revoked
      case .expired: return .expired
      case .replay: return .replay(sealed: sealed ?? [], sessionID: sessionID)
      case .reuse:
        try await Self.revokeSession(tx, sessionID, reason: "REUSE", now: now)
        return .reused
      case .rotate:
        let grant = RotationGrant(
          sessionID: sessionID, accountID: try row.decode(6, as: UUID.self),
          roles: Set(try row.decode(8, as: [String].self).compactMap(CommerceV1.Role.init(ruleName:))),
          sessionExpiresAt: state.sessionExpiresAt)
        let (next, tokens) = try await issue(grant)
        try await tx.query(
          "UPDATE auth.refresh_tokens SET rotated_at = $2, replaced_by = $3, retry_sealed = $4 WHERE token_hash = $1",
          [hash, now, next.hash, next.sealedRetry])
        try await tx.query(
          "INSERT INTO auth.refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
          [next.hash, sessionID, next.issuedAt, next.expiresAt])
        // Sealed pairs are kept only for their retry window.
        try await tx.query(
          """
          UPDATE auth.refresh_tokens SET retry_sealed = NULL
          WHERE session_id = $1 AND retry_sealed IS NOT NULL AND rotated_at <= $2
          """, [sessionID, now.addingTimeInterval(-RefreshTokenState.retryWindow)])
        return .rotated(tokens)
      }
    }
  }

  /// Revokes one session because one of its tokens was reused (a retry whose key did not open
  /// the sealed pair).
  func revokeReusedSession(_ sessionID: UUID, now: Date) async throws {
    _ = try await pool.withTransaction { tx in
      try await Self.revokeSession(tx, sessionID, reason: "REUSE", now: now)
    }
  }

  enum LogoutOutcome: Sendable {
    /// The token is not one of the account's.
    case notTheAccounts
    case ended(count: Int)
  }

  /// Ends the session a refresh token (used or not) belongs to, if it is `accountID`'s.
  func endSession(ofTokenHash hash: [UInt8], accountID: UUID, now: Date) async throws -> LogoutOutcome {
    try await pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        SELECT s.id, s.account_id FROM auth.refresh_tokens t JOIN auth.sessions s ON s.id = t.session_id
        WHERE t.token_hash = $1 FOR UPDATE OF s
        """, [hash])
      guard let row = rows.first, try row.decode(1, as: UUID.self) == accountID else { return .notTheAccounts }
      return .ended(count: try await Self.revokeSession(tx, try row.decode(0, as: UUID.self), reason: "LOGOUT", now: now))
    }
  }

  /// Ends every live session of an account.
  func endAllSessions(accountID: UUID, now: Date) async throws -> Int {
    try await pool.withTransaction { tx in
      try await Self.revokeAllSessions(tx, accountID: accountID, reason: "LOGOUT", now: now)
    }
  }

  @discardableResult
  private static func revokeSession(_ tx: PostgresTransaction, _ sessionID: UUID, reason: String, now: Date) async throws -> Int {
    let ended = try await tx.query(
      """
      UPDATE auth.sessions SET revoked_at = $2, revoked_reason = $3
      WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2
      """, [sessionID, now, reason]
    ).affectedRows
    try await tx.query(
      "UPDATE auth.refresh_tokens SET retry_sealed = NULL WHERE session_id = $1 AND retry_sealed IS NOT NULL", [sessionID])
    return ended
  }

  private static func revokeAllSessions(_ tx: PostgresTransaction, accountID: UUID, reason: String, now: Date) async throws -> Int {
    let ended = try await tx.query(
      """
      UPDATE auth.sessions SET revoked_at = $2, revoked_reason = $3
      WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2
      """, [accountID, now, reason]
    ).affectedRows
    try await tx.query(
      """
      UPDATE auth.refresh_tokens SET retry_sealed = NULL
      WHERE retry_sealed IS NOT NULL AND session_id IN (SELECT id FROM auth.sessions WHERE account_id = $1)
      """, [accountID])
    return ended
  }

  // MARK: Roles and status

  /// Grants a role (`AccountChange.granting`).
  func assignRole(_ role: CommerceV1.Role, to id: UUID, expectedVersion: Int64, now: Date) async throws -> Account? {
    try await changeAccount(id, expectedVersion: expectedVersion, guardsAdmins: false, now: now) { account, _ in
      AccountChange.granting(role, to: account)
    }
  }

  /// Rejects a pending seller application (`AccountChange.rejectingSellerApplication`).
  func rejectSellerApplication(of id: UUID, expectedVersion: Int64, now: Date) async throws -> Account? {
    try await changeAccount(id, expectedVersion: expectedVersion, guardsAdmins: false, now: now) { account, _ in
      try AccountChange.rejectingSellerApplication(of: account)
    }
  }

  /// Removes a role (`AccountChange.revoking`), never the last active admin's ADMIN.
  func revokeRole(_ role: CommerceV1.Role, from id: UUID, expectedVersion: Int64, now: Date) async throws -> Account? {
    try await changeAccount(id, expectedVersion: expectedVersion, guardsAdmins: role == .admin, now: now) { account, admins in
      try AccountChange.revoking(role, from: account, activeAdmins: admins)
    }
  }

  /// Suspends or reinstates an account; suspension also ends every session of it.
  func setStatus(_ status: Account.Status, reason: String, of id: UUID, now: Date) async throws -> Account? {
    try await changeAccount(id, expectedVersion: 0, guardsAdmins: status == .suspended, now: now) { account, admins in
      try AccountChange.setting(status, reason: reason, on: account, activeAdmins: admins)
    } afterChange: { tx, account in
      if account.status == .suspended {
        _ = try await Self.revokeAllSessions(tx, accountID: account.id, reason: "SUSPENSION", now: now)
      }
    }
  }

  /// Locks the account (and, when the change may remove an active admin, every active admin,
  /// in id order, so concurrent changes cannot both remove "another" last admin), checks the
  /// version, applies `change` (nil: nothing to do) and writes it with version + 1. Nil when
  /// there is no such account.
  private func changeAccount(
    _ id: UUID, expectedVersion: Int64, guardsAdmins: Bool, now: Date,
    _ change: @Sendable (Account, _ activeAdmins: Int) throws -> Account?,
    afterChange: @Sendable (PostgresTransaction, Account) async throws -> Void = { _, _ in }
  ) async throws -> Account? {
    try await pool.withTransaction { tx in
      var activeAdmins = 0
      if guardsAdmins {
        activeAdmins = try await tx.query(
          "SELECT id FROM auth.accounts WHERE 'ADMIN' = ANY (roles) AND status = 'ACTIVE' ORDER BY id FOR UPDATE"
        ).count
      }
      guard let row = try await tx.query("SELECT \(Self.accountColumns) FROM auth.accounts WHERE id = $1 FOR UPDATE", [id]).first
      else { return nil }
      let current = try Self.account(row)
      if expectedVersion != 0, expectedVersion != current.version {
        throw CommerceError.versionMismatch(current: current.version)
      }
      guard let changed = try change(current, activeAdmins) else { return current }
      let updated = try Self.account(
        try await tx.query(
          """
          UPDATE auth.accounts SET roles = $2, status = $3, suspension_reason = $4, seller_status = $5,
            updated_at = $6, version = version + 1
          WHERE id = $1
          RETURNING \(Self.accountColumns)
          """,
          [
            id, Self.roleNames(changed.roles), changed.status.rawValue, changed.suspensionReason,
            changed.sellerStatus.rawValue, max(now, current.updatedAt),
          ]
        ).first!)
      try await afterChange(tx, updated)
      return updated
    }
  }

  static func roleNames(_ roles: Set<CommerceV1.Role>) -> [String] {
    roles.sorted { $0.rawValue < $1.rawValue }.map(\.ruleName)
  }

  // MARK: Service identities

  /// A service identity's secret hash and whether it is enabled.
  func serviceIdentity(name: String) async throws -> (secretHash: String, enabled: Bool)? {
    let rows = try await pool.query("SELECT secret_hash, enabled FROM auth.service_identities WHERE name = $1", [name])
    guard let row = rows.first else { return nil }
    return (try row.decode(0, as: String.self), try row.decode(1, as: Bool.self))
  }

  /// Creates a service identity, or replaces its secret and enabled flag.
  func provisionServiceIdentity(name: String, secretHash: String, enabled: Bool, now: Date) async throws {
    _ = try await pool.withTransaction { tx in
      try await tx.query(
        """
        INSERT INTO auth.service_identities (name, secret_hash, enabled, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        ON CONFLICT (name) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, enabled = EXCLUDED.enabled,
          updated_at = EXCLUDED.updated_at
        """, [name, secretHash, enabled, now])
    }
  }

  /// Creates a service identity unless one of that name exists; whether it created it.
  func createServiceIdentityIfMissing(name: String, secretHash: String, now: Date) async throws -> Bool {
    try await pool.withTransaction { tx in
      try await tx.query(
        """
        INSERT INTO auth.service_identities (name, secret_hash, enabled, created_at, updated_at)
        VALUES ($1, $2, true, $3, $3)
        ON CONFLICT (name) DO NOTHING
        """, [name, secretHash, now]
      ).affectedRows == 1
    }
  }

  // MARK: Bootstrap

  /// Creates `admin` when no account is an active ADMIN; nil when one is. Serialised by an
  /// advisory lock, so instances starting together create one admin.
  func createBootstrapAdmin(_ admin: NewAccount) async throws -> Account? {
    try await pool.withTransaction { tx in
      try await tx.query("SELECT pg_advisory_xact_lock($1, hashtext('auth.bootstrap_admin'))", [Int32(7_130_002)])
      let admins = try await tx.query(
        "SELECT count(*) FROM auth.accounts WHERE 'ADMIN' = ANY (roles) AND status = 'ACTIVE'"
      ).scalar(as: Int64.self) ?? 0
      guard admins == 0 else { return nil }
      let rows = try await tx.query(
        """
        INSERT INTO auth.accounts (id, email, password_hash, display_name, roles, status, created_at, updated_at, version)
        VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $6, 1)
        RETURNING \(Self.accountColumns)
        """, [admin.id, admin.email, admin.passwordHash, admin.displayName, Self.roleNames(admin.roles), admin.createdAt])
      return try rows.first.map(Self.account)
    }
  }
}

// MARK: Statistics (GetUserStats)

extension AuthStore {
  /// Account figures: distinct accounts that logged in or refreshed in [start, end) (each issued
  /// a refresh token then), accounts created in it, and pending seller applications now.
  func userStats(from start: Date, to end: Date) async throws -> (active: Int64, new: Int64, pendingSellers: Int64) {
    let rows = try await pool.query(
      """
      SELECT
        (SELECT count(DISTINCT s.account_id) FROM auth.refresh_tokens t JOIN auth.sessions s ON s.id = t.session_id
         WHERE t.issued_at >= $1 AND t.issued_at < $2),
        (SELECT count(*) FROM auth.accounts WHERE created_at >= $1 AND created_at < $2),
        (SELECT count(*) FROM auth.accounts WHERE seller_status = 'PENDING')
      """, [start, end])
    guard let row = rows.first else { return (0, 0, 0) }
    return (try row.decode(0, as: Int64.self), try row.decode(1, as: Int64.self), try row.decode(2, as: Int64.self))
  }
}
