import Foundation

/// What a presented refresh token may do, decided from its stored state alone (a pure function
/// of the row, its session, its account and the time; the store applies the outcome).
///
/// The order of the checks is the contract's: a suspended account is refused first
/// (PERMISSION_DENIED ACCOUNT_SUSPENDED, although suspension also revoked its sessions), then
/// a revoked family (TOKEN_REVOKED), then a consumed token: a retry with the same non-empty
/// idempotency key within 60 seconds of the rotation gets the sealed pair back, anything else
/// is reuse and revokes the family. Only then does expiry count (TOKEN_EXPIRED).
struct RefreshTokenState: Sendable, Hashable {
  /// How long after a rotation a retry with the same idempotency key gets the same pair.
  static let retryWindow: TimeInterval = 60
  /// How long one refresh token lives.
  static let tokenLifetime: TimeInterval = 30 * 24 * 3600
  /// How long a session (a family) lives from its login, whatever the refreshes.
  static let sessionLifetime: TimeInterval = 90 * 24 * 3600

  var accountSuspended: Bool
  var sessionRevoked: Bool
  var sessionExpiresAt: Date
  var expiresAt: Date
  var rotatedAt: Date?
  var hasSealedRetry: Bool

  enum Decision: Sendable, Hashable {
    /// Consume it and issue the next token of the family.
    case rotate
    /// A retry of the rotation that consumed it: return the sealed pair, if the key opens it.
    case replay
    /// Presented again after its rotation: revoke the family.
    case reuse
    case revoked
    case expired
    case suspended
  }

  func decide(idempotencyKey: String, now: Date) -> Decision {
    if accountSuspended { return .suspended }
    if sessionRevoked { return .revoked }
    if let rotatedAt {
      if !idempotencyKey.isEmpty, hasSealedRetry, now < rotatedAt.addingTimeInterval(Self.retryWindow), now >= rotatedAt {
        return .replay
      }
      return .reuse
    }
    if now >= expiresAt || now >= sessionExpiresAt { return .expired }
    return .rotate
  }

  /// When the token that replaces one at `now` expires: 30 days, never after the session's end.
  static func nextExpiry(now: Date, sessionExpiresAt: Date) -> Date {
    min(now.addingTimeInterval(tokenLifetime), sessionExpiresAt)
  }
}
