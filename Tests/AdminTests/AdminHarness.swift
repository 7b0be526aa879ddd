import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import Testing

/// Every service hosted as `emporium serve` hosts it (``TestApp`` with ``ServiceCatalog/all``),
/// with an ADMIN user's call options and the clients the tests use.
struct AdminHarness {
  let host: TestApp
  /// An ADMIN user (the account need not exist: AdminService only reads its id).
  let admin: CallOptions
  let adminID: String
  var service: CommerceV1.AdminService.Client { .init(host.connection) }
  var auth: CommerceV1.AuthService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var reviews: CommerceV1.ReviewService.Client { .init(host.connection) }

  static let password = "correct horse battery"

  static func run(_ body: (AdminHarness) async throws -> Void) async throws {
    try await TestApp.run("admin", services: ServiceCatalog.all) { host in
      let adminID = UUID().uuidString.lowercased()
      try await body(AdminHarness(host: host, admin: try await host.user(adminID, roles: [.admin]), adminID: adminID))
    }
  }

  /// Registers an account (optionally with a seller application); its registration carries the
  /// first session's tokens.
  func register(_ name: String = "Ada", prefix: String = "user", seller: Bool = false) async throws -> CommerceV1.RegisterUserResponse {
    try await auth.registerUser(
      .with {
        $0.email = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        $0.password = Self.password
        $0.displayName = name
        if seller {
          $0.sellerApplication = .with {
            $0.businessName = "\(name) Audio"
            $0.regionCode = "US"
          }
        }
      })
  }

  /// The audit log's events about `target`, newest first.
  func audit(target: String) async throws -> [CommerceV1.AuditEvent] {
    try await service.listAuditEvents(.with { $0.targetId = target; $0.pageSize = 200 }, options: admin).auditEvents
  }
}
