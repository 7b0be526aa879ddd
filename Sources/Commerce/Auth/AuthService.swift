public import CommerceAPI
public import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
import Synchronization

/// AuthService (auth.proto): accounts, sessions, refresh tokens, roles and service identities.
///
/// Handlers translate between the contract's messages and the domain; the rules live in small
/// pure types (``PasswordPolicy``, ``EmailAddress``, `RefreshTokenState`, `AccountChange`,
/// ``SlidingWindowLimiter``) and all SQL in `AuthStore`. Access rules are enforced by
/// CommerceKit's `AuthInterceptor` before a handler runs; handlers check what the rules cannot
/// (the refresh token of Logout belongs to the caller, and so on).
///
/// Secrets — passwords, client secrets, access and refresh tokens — never appear in logs, errors
/// or metrics: they are only hashed (Argon2id, SHA-256), signed or sealed.
///
/// Decisions the contract leaves to the server:
/// - Refresh tokens are 32 CSPRNG bytes (base64url); the database keeps SHA-256 hashes only.
///   For the 60-second retry of a rotation with an idempotency key, the rotation stores the pair
///   it returned sealed with AES-GCM under a key derived (HKDF) from the consumed refresh token
///   and the idempotency key. The server keeps neither, so only the caller that holds both can
///   open it; a copy of the database alone reveals nothing. The sealed pair is erased when the
///   family rotates again after the window, or ends. A retry whose key does not open it is
///   reuse.
/// - Throttling state (failed logins per email and per client address, registrations per client
///   address) is kept in memory, per process: no database write per failed attempt, and the
///   limits still bound guessing per instance. With N instances behind a balancer the effective
///   limits are up to N times higher; a restart forgets them.
public struct AuthService: CommerceV1.AuthService.ServiceProtocol {
  /// Limits and lifetimes; the defaults are the contract's.
  public struct Configuration: Sendable {
    /// Access tokens of users (auth.proto: 15 minutes).
    public var userAccessTokenLifetime: Duration = .seconds(15 * 60)
    /// Access tokens of services (auth.proto: 1 hour).
    public var serviceAccessTokenLifetime: Duration = .seconds(3600)
    /// Failed logins per email within ``loginFailureWindow`` before Login refuses that email.
    public var loginFailuresPerEmail = 5
    /// Failed logins (and failed IssueServiceToken calls) per client address within
    /// ``loginFailureWindow`` before Login refuses that address, whatever the email.
    public var loginFailuresPerClient = 50
    /// The window of both login limits, in seconds.
    public var loginFailureWindow: TimeInterval = 15 * 60
    /// Accounts created per client address within ``registrationWindow``.
    public var registrationsPerClient = 10
    /// The window of the registration limit, in seconds.
    public var registrationWindow: TimeInterval = 3600
    /// How passwords and client secrets are hashed.
    public var passwordHasher: PasswordHasher = .owasp
    /// Which passwords are accepted.
    public var passwordPolicy: PasswordPolicy = .standard

    public init() {}
  }

  let store: AuthStore
  let tokens: AccessTokens
  let configuration: Configuration
  let now: @Sendable () -> Date
  let logger: Logger
  let throttles: Throttles
  /// A hash checked when there is no account or identity, so that a miss costs as much as a
  /// wrong password and the time does not tell which.
  let decoyHash: String

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `auth` only (migrated beforehand).
  ///   - tokens: signs the access tokens it issues (the same keys every interceptor verifies
  ///     with).
  ///   - now: the clock (tests move it; give ``AccessTokens`` the same one).
  public init(
    pool: PostgresPool, tokens: AccessTokens, configuration: Configuration = .init(), logger: Logger = Logger(label: "emporium.auth"),
    now: @escaping @Sendable () -> Date = Date.init
  ) async throws {
    self.store = AuthStore(pool: pool)
    self.tokens = tokens
    self.configuration = configuration
    self.now = now
    self.logger = logger
    self.throttles = Throttles(configuration)
    self.decoyHash = try await configuration.passwordHasher.hash(Self.randomSecret())
  }

  // MARK: Registration and login

  public func registerUser(request: CommerceV1.RegisterUserRequest, context: ServerContext) async throws
    -> CommerceV1.RegisterUserResponse
  {
    let now = now()
    let client = context.clientAddress
    if let wait = throttles.registrationWait(client: client, now: now) {
      throw Self.throttled(
        "too many accounts were created from this client; retry later", subject: "client", quotaID: "registrations_per_client",
        limit: configuration.registrationsPerClient, window: configuration.registrationWindow, retryAfter: wait)
    }
    var violations = FieldViolations()
    let email = EmailAddress(request.email)
    violations.check(email != nil, "email", "must be an email address of 3 to 254 characters")
    let passwordViolation = configuration.passwordPolicy.violation(of: request.password)
    if let passwordViolation { violations.add("password", passwordViolation.description) }
    Self.checkDisplayText(request.displayName, "display_name", 1...100, &violations)
    violations.checkLength(request.sessionLabel, "session_label", 0...100)
    if let application = request.sellerApplication {
      Self.checkDisplayText(application.businessName, "seller_application.business_name", 1...200, &violations)
      violations.check(
        Self.isRegionCode(application.regionCode), "seller_application.region_code",
        "must be an ISO 3166-1 alpha-2 code in upper case, like \"US\"")
    }
    if !violations.isEmpty {
      throw CommerceError.invalidArgument(violations, reason: passwordViolation == nil ? nil : .weakPassword)
    }

    let passwordHash = try await configuration.passwordHasher.hash(request.password)
    let accountID = UUID()
    let session = newSession(label: request.sessionLabel, now: now)
    let refresh = RefreshTokenSecret.generate()
    let refreshExpiresAt = RefreshTokenState.nextExpiry(now: now, sessionExpiresAt: session.expiresAt)
    let created = try await store.createAccount(
      AuthStore.NewAccount(
        id: accountID, email: email!.value, passwordHash: passwordHash, displayName: request.displayName,
        roles: [.customer], sellerStatus: request.sellerApplication == nil ? .none : .pending,
        businessName: request.sellerApplication?.businessName ?? "", sellerRegionCode: request.sellerApplication?.regionCode ?? "",
        createdAt: now),
      session: session, token: AuthStore.NewRefreshToken(hash: refresh.hash, issuedAt: now, expiresAt: refreshExpiresAt))
    guard let account = created else {
      throw CommerceError(.alreadyExists, .emailTaken, "the email address is already registered; log in instead")
    }
    throttles.recordRegistration(client: client, now: now)
    logger.info("account registered", metadata: ["user_id": "\(account.id)", "seller_application": "\(request.sellerApplication != nil)"])
    let issued = try await issueUserTokens(account: account, roles: account.roles, sessionID: session.id, refresh: refresh,
                                           refreshExpiresAt: refreshExpiresAt)
    return .with {
      $0.user = account.proto
      $0.tokens = issued.proto
    }
  }

  public func login(request: CommerceV1.LoginRequest, context: ServerContext) async throws -> CommerceV1.LoginResponse {
    let now = now()
    let client = context.clientAddress
    try Self.checkLabel(request.sessionLabel)
    let email = EmailAddress(request.email)?.value ?? request.email.lowercased()
    if let wait = throttles.loginWait(email: email, client: client, now: now) {
      throw Self.throttled(
        "too many failed logins; retry later", subject: wait.subject, quotaID: wait.quotaID, limit: wait.limit,
        window: configuration.loginFailureWindow, retryAfter: wait.seconds)
    }
    var credentials: (account: Account, passwordHash: String)?
    if request.password.utf8.count <= 4 * PasswordPolicy.maximumLength {
      credentials = try await store.credentials(email: email)
    }
    let matches = try await configuration.passwordHasher.verify(request.password, against: credentials?.passwordHash ?? decoyHash)
    guard let credentials, matches else {
      throttles.recordLoginFailure(email: email, client: client, now: now)
      logger.debug("login refused", metadata: ["reason": "invalid credentials"])
      throw CommerceError.unauthenticated("the email or the password is wrong", reason: .invalidCredentials)
    }
    let suspended = CommerceError.permissionDenied("the account is suspended", reason: .accountSuspended)
    guard credentials.account.status == .active else { throw suspended }
    throttles.recordLoginSuccess(email: email)
    let session = newSession(label: request.sessionLabel, now: now)
    let refresh = RefreshTokenSecret.generate()
    let refreshExpiresAt = RefreshTokenState.nextExpiry(now: now, sessionExpiresAt: session.expiresAt)
    // Hashes made with older (weaker) parameters are replaced while the password is at hand.
    var rehash: (checked: String, replacement: String)?
    if configuration.passwordHasher.needsRehash(credentials.passwordHash) {
      rehash = (credentials.passwordHash, try await configuration.passwordHasher.hash(request.password))
    }
    guard
      let account = try await store.startSession(
        accountID: credentials.account.id, session: session,
        token: AuthStore.NewRefreshToken(hash: refresh.hash, issuedAt: now, expiresAt: refreshExpiresAt), rehash: rehash)
    else { throw suspended }
    logger.debug("logged in", metadata: ["user_id": "\(account.id)", "session_id": "\(session.id)"])
    let issued = try await issueUserTokens(account: account, roles: account.roles, sessionID: session.id, refresh: refresh,
                                           refreshExpiresAt: refreshExpiresAt)
    return .with {
      $0.user = account.proto
      $0.tokens = issued.proto
    }
  }

  // MARK: Refresh and logout

  public func refreshToken(request: CommerceV1.RefreshTokenRequest, context: ServerContext) async throws
    -> CommerceV1.RefreshTokenResponse
  {
    let now = now()
    let key = request.idempotencyKey
    if !key.isEmpty, !Self.isIdempotencyKey(key) {
      throw CommerceError.invalidArgument(field: "idempotency_key", "must be 1 to 128 printable ASCII characters")
    }
    guard let presented = RefreshTokenSecret(text: request.refreshToken) else {
      throw CommerceError.unauthenticated("the refresh token is not valid")
    }
    let userLifetime = configuration.userAccessTokenLifetime
    let tokens = self.tokens
    let outcome = try await store.rotateRefreshToken(hash: presented.hash, idempotencyKey: key, now: now) { grant in
      let next = RefreshTokenSecret.generate()
      let expiresAt = RefreshTokenState.nextExpiry(now: now, sessionExpiresAt: grant.sessionExpiresAt)
      let access = try await tokens.issue(
        for: Principal(
          kind: .user, subject: grant.accountID.lowercasedString, roles: grant.roles, sessionID: grant.sessionID.lowercasedString,
          expiresAt: 0),
        lifetime: userLifetime)
      let issued = IssuedTokens(
        accessToken: access.token, accessExpiresAt: access.expiresAt, refreshToken: next.text, refreshExpiresAt: expiresAt,
        sessionID: grant.sessionID)
      let sealed = key.isEmpty ? nil : try presented.seal(issued, idempotencyKey: key)
      return (AuthStore.NewRefreshToken(hash: next.hash, issuedAt: now, expiresAt: expiresAt, sealedRetry: sealed), issued)
    }
    switch outcome {
    case .rotated(let issued):
      return .with { $0.tokens = issued.proto }
    case .replay(let sealed, let sessionID):
      if let issued = presented.open(sealed, idempotencyKey: key) {
        logger.debug("refresh retried", metadata: ["session_id": "\(sessionID)"])
        return .with { $0.tokens = issued.proto }
      }
      try await store.revokeReusedSession(sessionID, now: now)
      logger.notice("refresh token reused; session revoked", metadata: ["session_id": "\(sessionID)"])
      throw Self.reused
    case .reused:
      logger.notice("refresh token reused; session revoked")
      throw Self.reused
    case .revoked:
      throw CommerceError.unauthenticated("the session was ended; log in again", reason: .tokenRevoked)
    case .expired:
      throw CommerceError.unauthenticated("the refresh token has expired; log in again", reason: .tokenExpired)
    case .suspended:
      throw CommerceError.permissionDenied("the account is suspended", reason: .accountSuspended)
    case .unknown:
      throw CommerceError.unauthenticated("the refresh token is not valid")
    }
  }

  private static let reused = CommerceError.unauthenticated(
    "the refresh token was already used; every token of its session is revoked; log in again", reason: .refreshTokenReused)

  public func logout(request: CommerceV1.LogoutRequest, context: ServerContext) async throws -> CommerceV1.LogoutResponse {
    let principal = try context.principal()
    guard principal.kind == .user, let accountID = UUID(id: principal.subject) else {
      throw CommerceError.permissionDenied("only users have sessions")
    }
    let now = now()
    let count: Int
    if request.allSessions {
      count = try await store.endAllSessions(accountID: accountID, now: now)
    } else {
      let notYours = CommerceError.invalidArgument(field: "refresh_token", "is not a refresh token of the calling user")
      guard !request.refreshToken.isEmpty else {
        throw CommerceError.invalidArgument(field: "refresh_token", "is required unless all_sessions is true")
      }
      guard let presented = RefreshTokenSecret(text: request.refreshToken) else { throw notYours }
      switch try await store.endSession(ofTokenHash: presented.hash, accountID: accountID, now: now) {
      case .notTheAccounts: throw notYours
      case .ended(let ended): count = ended
      }
    }
    logger.debug("logged out", metadata: ["user_id": "\(accountID)", "sessions": "\(count)"])
    return .with { $0.revokedSessionCount = Int32(clamping: count) }
  }

  // MARK: Principals

  public func whoAmI(request: CommerceV1.WhoAmIRequest, context: ServerContext) async throws -> CommerceV1.WhoAmIResponse {
    let principal = try context.principal()
    var described = principal.proto
    if principal.kind == .user, let id = UUID(id: principal.subject), let account = try await store.account(id: id) {
      described.user = account.proto
    }
    return .with { $0.principal = described }
  }

  public func issueServiceToken(request: CommerceV1.IssueServiceTokenRequest, context: ServerContext) async throws
    -> CommerceV1.IssueServiceTokenResponse
  {
    let now = now()
    let client = context.clientAddress
    if let wait = throttles.clientWait(client: client, now: now) {
      throw Self.throttled(
        "too many failed attempts from this client; retry later", subject: "client", quotaID: "login_failures_per_client",
        limit: configuration.loginFailuresPerClient, window: configuration.loginFailureWindow, retryAfter: wait)
    }
    var identity: (secretHash: String, enabled: Bool)?
    if Self.isServiceName(request.serviceName), request.clientSecret.utf8.count <= 1024 {
      identity = try await store.serviceIdentity(name: request.serviceName)
    }
    let matches = try await configuration.passwordHasher.verify(request.clientSecret, against: identity?.secretHash ?? decoyHash)
    guard let identity, matches else {
      throttles.recordClientFailure(client: client, now: now)
      throw CommerceError.unauthenticated("unknown service identity or wrong client secret")
    }
    guard identity.enabled else { throw CommerceError.permissionDenied("the service identity is disabled") }
    let issued = try await tokens.issue(
      for: Principal(kind: .service, subject: request.serviceName, expiresAt: 0), lifetime: configuration.serviceAccessTokenLifetime)
    logger.debug("service token issued", metadata: ["service": "\(request.serviceName)"])
    return .with {
      $0.accessToken = issued.token
      $0.expireTime = .init(issued.expiresAt)
    }
  }

  // MARK: Accounts

  public func getUser(request: CommerceV1.GetUserRequest, context: ServerContext) async throws -> CommerceV1.GetUserResponse {
    guard let id = UUID(id: request.userId), let account = try await store.account(id: id) else {
      throw CommerceError.notFound("user", request.userId)
    }
    return .with { $0.user = account.proto }
  }

  public func listAccounts(request: CommerceV1.ListAccountsRequest, context: ServerContext) async throws
    -> CommerceV1.ListAccountsResponse
  {
    var violations = FieldViolations()
    let role: CommerceV1.Role? = request.role == .unspecified ? nil : request.role
    violations.check(role?.isGrantable ?? true, "role", "is not a known role")
    let status: Account.Status? = request.status == .unspecified ? nil : Account.Status(request.status)
    violations.check(request.status == .unspecified || status != nil, "status", "is not a known status")
    let sellerStatus: Account.SellerStatus? = request.sellerStatus == .unspecified ? nil : Account.SellerStatus(request.sellerStatus)
    violations.check(request.sellerStatus == .unspecified || sellerStatus != nil, "seller_status", "is not a known status")
    violations.checkLength(request.emailPrefix, "email_prefix", 0...254)
    try violations.throwIfAny()
    let pageSize = try PageToken.pageSize(request.pageSize, default: 50, maximum: 200)
    let prefix = request.emailPrefix.lowercased()
    let binding = PageToken.binding(
      "ListAccounts", [String(request.role.rawValue), String(request.status.rawValue), String(request.sellerStatus.rawValue), prefix])
    let position = try PageToken.position(request.pageToken, binding: binding, count: 1)
    var afterSeq: Int64?
    if let position {
      guard let seq = Int64(position[0]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      afterSeq = seq
    }
    let rows = try await store.listAccounts(
      AuthStore.AccountFilter(role: role, status: status, sellerStatus: sellerStatus, emailPrefix: prefix), afterSeq: afterSeq,
      limit: pageSize + 1)
    let page = rows.prefix(pageSize)
    return .with {
      $0.users = page.map(\.account.proto)
      if rows.count > pageSize, let last = page.last { $0.nextPageToken = PageToken.make([String(last.seq)], binding: binding) }
    }
  }

  public func assignRole(request: CommerceV1.AssignRoleRequest, context: ServerContext) async throws -> CommerceV1.AssignRoleResponse {
    try Self.checkRoleChange(request.role, expectedVersion: request.expectedVersion)
    guard let id = UUID(id: request.userId),
      let account = try await store.assignRole(request.role, to: id, expectedVersion: request.expectedVersion, now: now())
    else { throw CommerceError.notFound("user", request.userId) }
    logger.info("role granted", metadata: ["user_id": "\(id)", "role": "\(request.role.ruleName)", "by": "\(Self.actor())"])
    return .with { $0.user = account.proto }
  }

  public func revokeRole(request: CommerceV1.RevokeRoleRequest, context: ServerContext) async throws -> CommerceV1.RevokeRoleResponse {
    try Self.checkRoleChange(request.role, expectedVersion: request.expectedVersion)
    guard let id = UUID(id: request.userId),
      let account = try await store.revokeRole(request.role, from: id, expectedVersion: request.expectedVersion, now: now())
    else { throw CommerceError.notFound("user", request.userId) }
    logger.info("role removed", metadata: ["user_id": "\(id)", "role": "\(request.role.ruleName)", "by": "\(Self.actor())"])
    return .with { $0.user = account.proto }
  }

  public func rejectSellerApplication(request: CommerceV1.RejectSellerApplicationRequest, context: ServerContext) async throws
    -> CommerceV1.RejectSellerApplicationResponse
  {
    guard request.expectedVersion >= 0 else {
      throw CommerceError.invalidArgument(field: "expected_version", "must not be negative (0 skips the check)")
    }
    guard let id = UUID(id: request.userId),
      let account = try await store.rejectSellerApplication(of: id, expectedVersion: request.expectedVersion, now: now())
    else { throw CommerceError.notFound("user", request.userId) }
    logger.info("seller application rejected", metadata: ["user_id": "\(id)", "by": "\(Self.actor())"])
    return .with { $0.user = account.proto }
  }

  public func setUserStatus(request: CommerceV1.SetUserStatusRequest, context: ServerContext) async throws
    -> CommerceV1.SetUserStatusResponse
  {
    var violations = FieldViolations()
    let status = Account.Status(request.status)
    violations.check(status != nil, "status", "must be USER_STATUS_ACTIVE or USER_STATUS_SUSPENDED")
    violations.checkLength(request.reason, "reason", 0...1000)
    if status == .suspended {
      violations.check(!request.reason.allSatisfy(\.isWhitespace), "reason", "is required when suspending")
    }
    try violations.throwIfAny()
    guard let id = UUID(id: request.userId),
      let account = try await store.setStatus(status!, reason: status == .suspended ? request.reason : "", of: id, now: now())
    else { throw CommerceError.notFound("user", request.userId) }
    logger.info("account status set", metadata: ["user_id": "\(id)", "status": "\(account.status.rawValue)", "by": "\(Self.actor())"])
    return .with { $0.user = account.proto }
  }

  // MARK: Statistics

  public func getUserStats(request: CommerceV1.GetUserStatsRequest, context: ServerContext) async throws
    -> CommerceV1.GetUserStatsResponse
  {
    let window = try StatsWindow(request.window)
    let stats = try await store.userStats(from: window.start, to: window.end)
    return .with {
      $0.activeUsers = stats.active
      $0.newUsers = stats.new
      $0.pendingSellerApplications = stats.pendingSellers
    }
  }

  // MARK: Helpers

  private func newSession(label: String, now: Date) -> AuthStore.NewSession {
    AuthStore.NewSession(id: UUID(), label: label, createdAt: now, expiresAt: now.addingTimeInterval(RefreshTokenState.sessionLifetime))
  }

  private func issueUserTokens(
    account: Account, roles: Set<CommerceV1.Role>, sessionID: UUID, refresh: RefreshTokenSecret, refreshExpiresAt: Date
  ) async throws -> IssuedTokens {
    let access = try await tokens.issue(
      for: Principal(
        kind: .user, subject: account.id.lowercasedString, roles: roles, sessionID: sessionID.lowercasedString, expiresAt: 0),
      lifetime: configuration.userAccessTokenLifetime)
    return IssuedTokens(
      accessToken: access.token, accessExpiresAt: access.expiresAt, refreshToken: refresh.text, refreshExpiresAt: refreshExpiresAt,
      sessionID: sessionID)
  }

  private static func actor() -> String { CallAuth.current?.principal?.description ?? "unknown" }

  private static func checkRoleChange(_ role: CommerceV1.Role, expectedVersion: Int64) throws(CommerceError) {
    var violations = FieldViolations()
    violations.check(role.isGrantable, "role", "must be a role, not ROLE_UNSPECIFIED")
    violations.check(expectedVersion >= 0, "expected_version", "must not be negative")
    try violations.throwIfAny()
  }

  private static func checkLabel(_ label: String) throws(CommerceError) {
    var violations = FieldViolations()
    violations.checkLength(label, "session_label", 0...100)
    try violations.throwIfAny()
  }

  private static func checkDisplayText(_ text: String, _ field: String, _ range: ClosedRange<Int>, _ violations: inout FieldViolations) {
    violations.checkLength(text, field, range)
    if !text.isEmpty {
      violations.check(!text.allSatisfy(\.isWhitespace), field, "must not be blank")
      violations.check(!text.unicodeScalars.contains { $0.properties.generalCategory == .control }, field, "must not contain control characters")
    }
  }

  static func isRegionCode(_ code: String) -> Bool {
    code.utf8.count == 2 && code.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
  }

  static func isIdempotencyKey(_ key: String) -> Bool {
    (1...128).contains(key.utf8.count) && key.utf8.allSatisfy { (0x20...0x7E).contains($0) }
  }

  static func isServiceName(_ name: String) -> Bool {
    guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), name.utf8.count <= 63 else { return false }
    return name.utf8.allSatisfy {
      (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
    }
  }

  static func throttled(
    _ message: String, subject: String, quotaID: String, limit: Int, window: TimeInterval, retryAfter: TimeInterval
  ) -> CommerceError {
    CommerceError(.resourceExhausted, nil, message, retryAfter: .seconds(Int64(retryAfter.rounded(.up))))
      .quota(subject: subject, id: quotaID, limit: Int64(limit), window: .seconds(Int64(window)), message)
  }

  /// 24 random bytes as unpadded base64url: 32 characters.
  static func randomSecret() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }
}

extension IssuedTokens {
  var proto: CommerceV1.TokenPair {
    .with {
      $0.accessToken = accessToken
      $0.accessTokenExpireTime = .init(accessExpiresAt)
      $0.refreshToken = refreshToken
      $0.refreshTokenExpireTime = .init(refreshExpiresAt)
      $0.sessionId = sessionID.lowercasedString
    }
  }
}

/// The service's throttles, shared by its handlers.
final class Throttles: Sendable {
  private struct State {
    var failuresByEmail: SlidingWindowLimiter<String>
    var failuresByClient: SlidingWindowLimiter<String>
    var registrationsByClient: SlidingWindowLimiter<String>
  }

  struct Wait {
    var subject: String
    var quotaID: String
    var limit: Int
    var seconds: TimeInterval
  }

  private let state: Mutex<State>

  init(_ configuration: AuthService.Configuration) {
    state = Mutex(
      State(
        failuresByEmail: SlidingWindowLimiter(limit: configuration.loginFailuresPerEmail, window: configuration.loginFailureWindow),
        failuresByClient: SlidingWindowLimiter(limit: configuration.loginFailuresPerClient, window: configuration.loginFailureWindow),
        registrationsByClient: SlidingWindowLimiter(
          limit: configuration.registrationsPerClient, window: configuration.registrationWindow)))
  }

  func loginWait(email: String, client: String, now: Date) -> Wait? {
    state.withLock { state in
      if let seconds = state.failuresByEmail.retryAfter(email, now: now) {
        return Wait(subject: "email", quotaID: "login_failures_per_email", limit: state.failuresByEmail.limit, seconds: seconds)
      }
      if let seconds = state.failuresByClient.retryAfter(client, now: now) {
        return Wait(subject: "client", quotaID: "login_failures_per_client", limit: state.failuresByClient.limit, seconds: seconds)
      }
      return nil
    }
  }

  func clientWait(client: String, now: Date) -> TimeInterval? {
    state.withLock { $0.failuresByClient.retryAfter(client, now: now) }
  }

  func recordLoginFailure(email: String, client: String, now: Date) {
    state.withLock { state in
      state.failuresByEmail.record(email, now: now)
      state.failuresByClient.record(client, now: now)
    }
  }

  func recordClientFailure(client: String, now: Date) {
    state.withLock { $0.failuresByClient.record(client, now: now) }
  }

  func recordLoginSuccess(email: String) {
    state.withLock { $0.failuresByEmail.reset(email) }
  }

  func registrationWait(client: String, now: Date) -> TimeInterval? {
    state.withLock { $0.registrationsByClient.retryAfter(client, now: now) }
  }

  func recordRegistration(client: String, now: Date) {
    state.withLock { $0.registrationsByClient.record(client, now: now) }
  }
}
