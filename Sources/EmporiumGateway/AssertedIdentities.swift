import CommerceKit
import Foundation
import Synchronization

/// The identities the gateway asserts for the users it authenticated: for each verified user
/// token, a token of the same principal issued by the gateway (``AccessTokens/Claims/assertedBy``)
/// that expires when the user's own token does, made once and reused until then. Services accept
/// it only as the user the gateway acts for, so the user's own bearer token never travels past
/// the gateway and is verified only there.
///
/// Bounded: when ``capacity`` identities are held, expired ones go first, then the half closest
/// to expiry.
final class AssertedIdentities: Sendable {
  private let tokens: AccessTokens
  private let issuer: String
  private let capacity: Int
  private struct Entry {
    var token: String
    var expiresAt: Date
  }
  private let entries = Mutex<[String: Entry]>([:])

  init(tokens: AccessTokens, issuer: String, capacity: Int = 10_000) {
    self.tokens = tokens
    self.issuer = issuer
    self.capacity = max(1, capacity)
  }

  /// The asserted identity for the user token whose verified claims are `claims`.
  func token(for claims: AccessTokens.Claims, now: Date = Date()) async throws -> String {
    let key = claims.tokenID
    if let entry = entries.withLock({ $0[key] }), entry.expiresAt > now { return entry.token }
    let expiry = Date(timeIntervalSince1970: TimeInterval(claims.principal.expiresAt))
    let issued = try await tokens.issue(for: claims.principal, until: expiry, assertedBy: issuer)
    entries.withLock { entries in
      if entries.count >= capacity {
        entries = entries.filter { $0.value.expiresAt > now }
        if entries.count >= capacity {
          let soonest = entries.sorted { $0.value.expiresAt < $1.value.expiresAt }.prefix(capacity / 2 + 1)
          for (key, _) in soonest { entries[key] = nil }
        }
      }
      entries[key] = Entry(token: issued.token, expiresAt: issued.expiresAt)
    }
    return issued.token
  }

  var count: Int { entries.withLock { $0.count } }
}
