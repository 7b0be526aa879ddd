import CommerceKit
import Foundation
import Synchronization

/// The identities the gateway asserts for the users it authenticated: for each verified user
/// token, a token of the same principal issued by the gateway (``AccessTokens/Claims/assertedBy``),
/// valid no longer than the user's own and at most ``lifetime``, made once and reused until a
/// quarter of its life is left. Services accept it only as the user the gateway acts for, so the
/// user's own bearer token never travels past the gateway and is verified only there.
///
/// Bounded: when ``capacity`` identities are held, expired ones go first, then the oldest half.
final class AssertedIdentities: Sendable {
  private let tokens: AccessTokens
  private let issuer: String
  private let lifetime: Duration
  private let capacity: Int
  private struct Entry {
    var token: String
    var renewAt: Date
    var expiresAt: Date
  }
  private let entries = Mutex<[String: Entry]>([:])

  init(tokens: AccessTokens, issuer: String, lifetime: Duration, capacity: Int = 10_000) {
    self.tokens = tokens
    self.issuer = issuer
    self.lifetime = lifetime
    self.capacity = max(1, capacity)
  }

  /// The asserted identity for the user token whose verified claims are `claims`.
  func token(for claims: AccessTokens.Claims, now: Date = Date()) async throws -> String {
    let key = claims.tokenID
    if let entry = entries.withLock({ $0[key] }), entry.renewAt > now { return entry.token }
    let userExpiry = Date(timeIntervalSince1970: TimeInterval(claims.principal.expiresAt))
    let remaining = min(userExpiry.timeIntervalSince(now), TimeInterval(lifetime.components.seconds))
    // A user token in its last second gets a one-second identity: the call still goes through.
    let seconds = max(1, Int64(remaining.rounded(.down)))
    let issued = try await tokens.issue(for: claims.principal, lifetime: .seconds(seconds), assertedBy: issuer)
    let entry = Entry(token: issued.token, renewAt: now.addingTimeInterval(Double(seconds) * 0.75), expiresAt: issued.expiresAt)
    entries.withLock { entries in
      if entries.count >= capacity {
        entries = entries.filter { $0.value.expiresAt > now }
        if entries.count >= capacity {
          let oldest = entries.sorted { $0.value.expiresAt < $1.value.expiresAt }.prefix(capacity / 2 + 1)
          for (key, _) in oldest { entries[key] = nil }
        }
      }
      entries[key] = entry
    }
    return entry.token
  }

  var count: Int { entries.withLock { $0.count } }
}
