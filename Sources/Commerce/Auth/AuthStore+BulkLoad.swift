import CommerceAPI
import CommerceKit
import Foundation
import Postgres

/// The SQL of ``AuthService/bulkLoadAccounts(_:pool:hasher:progress:)``: accounts with `COPY`.
extension AuthStore {
  /// An account row as stored, its password already hashed.
  struct BulkAccountRow: Sendable {
    var account: AuthService.BulkAccount
    var passwordHash: String
  }

  /// Whether some account has one of `emails`.
  func anyAccountExists(emails: [String]) async throws -> Bool {
    try await pool.query("SELECT EXISTS (SELECT 1 FROM auth.accounts WHERE email = ANY($1))", [emails]).scalar(as: Bool.self)
      ?? false
  }

  /// Copies the accounts in one transaction (all or none), in order (so `seq` follows it), and
  /// analyzes the table; calls `progress` with the accounts copied so far after each chunk.
  func copyAccounts(_ rows: [BulkAccountRow], progress: (Int) -> Void) async throws -> Int {
    let copied = try await pool.withTransaction(maxAttempts: 1) { tx in
      try await tx.copyFrom(
        """
        COPY auth.accounts (id, email, password_hash, display_name, roles, status, seller_status, business_name, \
        seller_region_code, created_at, updated_at, version) FROM STDIN
        """
      ) { writer in
        var chunk = PostgresCopyRows(capacity: 1 << 20)
        var copied = 0
        for row in rows {
          let account = row.account
          chunk.append(account.id)
          chunk.append(account.email)
          chunk.append(row.passwordHash)
          chunk.append(account.displayName)
          chunk.append(Self.roleNames(account.roles.union([.customer])))
          chunk.append("ACTIVE")
          chunk.append(account.sellerApproved ? "APPROVED" : "NONE")
          chunk.append(account.sellerApproved ? account.businessName : "")
          chunk.append(account.sellerApproved ? account.sellerRegionCode : "")
          chunk.append(account.createdAt)
          chunk.append(account.createdAt)
          chunk.append(Int64(1))
          chunk.endRow()
          if chunk.bytes.count >= 1 << 20 {
            copied += chunk.rowCount
            try await writer.write(&chunk)
            progress(copied)
          }
        }
        copied += chunk.rowCount
        try await writer.write(&chunk)
        progress(copied)
      }
    }
    try await pool.query("ANALYZE auth.accounts")
    return copied
  }
}
