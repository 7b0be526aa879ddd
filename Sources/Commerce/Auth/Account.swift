import CommerceAPI
import CommerceKit
import RPC
import Foundation
import Messages

/// An account as the store reads it.
struct Account: Sendable, Hashable {
  enum Status: String, Sendable { case active = "ACTIVE", suspended = "SUSPENDED" }
  enum SellerStatus: String, Sendable { case none = "NONE", pending = "PENDING", approved = "APPROVED", rejected = "REJECTED" }

  var id: UUID
  var email: String
  var displayName: String
  var roles: Set<CommerceV1.Role>
  var status: Status
  var suspensionReason: String
  var sellerStatus: SellerStatus
  var businessName: String
  var sellerRegionCode: String
  var createdAt: Date
  var updatedAt: Date
  var lastLoginAt: Date?
  var version: Int64

  var isActiveAdmin: Bool { status == .active && roles.contains(.admin) }

  var proto: CommerceV1.User {
    .with {
      $0.userId = id.uuidString.lowercased()
      $0.email = email
      $0.displayName = displayName
      $0.roles = roles.sorted { $0.rawValue < $1.rawValue }
      $0.status = status.proto
      $0.sellerStatus = sellerStatus.proto
      $0.businessName = businessName
      $0.suspensionReason = suspensionReason
      $0.createTime = .init(createdAt)
      $0.updateTime = .init(updatedAt)
      $0.lastLoginTime = lastLoginAt.map { .init($0) }
      $0.version = version
    }
  }
}

extension Account.Status {
  var proto: CommerceV1.UserStatus { self == .active ? .active : .suspended }

  init?(_ proto: CommerceV1.UserStatus) {
    switch proto {
    case .active: self = .active
    case .suspended: self = .suspended
    default: return nil
    }
  }
}

extension Account.SellerStatus {
  var proto: CommerceV1.SellerStatus {
    switch self {
    case .none: .unspecified
    case .pending: .pending
    case .approved: .approved
    case .rejected: .rejected
    }
  }

  init?(_ proto: CommerceV1.SellerStatus) {
    switch proto {
    case .pending: self = .pending
    case .approved: self = .approved
    case .rejected: self = .rejected
    default: return nil
    }
  }
}

/// The roles a user may hold (not ROLE_UNSPECIFIED, not unknown numbers).
extension CommerceV1.Role {
  static let grantable: [CommerceV1.Role] = [.customer, .seller, .admin, .deliveryPartner]
  var isGrantable: Bool { Self.grantable.contains(self) }
}
