import CommerceAPI
import CommerceKit
import RPC

/// The rules of role and status changes, as pure functions of the account: each returns the
/// changed account, nil when there is nothing to change (the methods are idempotent), or throws
/// the contract's error. The store applies the result under a lock.
enum AccountChange {
  /// Grants `role`. Granting SELLER approves a pending seller application.
  static func granting(_ role: CommerceV1.Role, to account: Account) -> Account? {
    var changed = account
    changed.roles.insert(role)
    if role == .seller, changed.sellerStatus == .pending { changed.sellerStatus = .approved }
    return changed == account ? nil : changed
  }

  /// Rejects a pending seller application; rejecting a rejected one changes nothing. Never
  /// applied, or approved: INVALID_STATE_TRANSITION.
  static func rejectingSellerApplication(of account: Account) throws(CommerceError) -> Account? {
    switch account.sellerStatus {
    case .rejected: return nil
    case .pending:
      var changed = account
      changed.sellerStatus = .rejected
      return changed
    case .none, .approved:
      throw CommerceError.invalidTransition(from: account.sellerStatus.rawValue, to: Account.SellerStatus.rejected.rawValue)
    }
  }

  /// Removes `role`. CUSTOMER cannot be removed; removing ADMIN from the last active admin fails
  /// with LAST_ADMIN. `activeAdmins` counts the active admins, this account included.
  static func revoking(_ role: CommerceV1.Role, from account: Account, activeAdmins: Int) throws(CommerceError) -> Account? {
    if role == .customer {
      throw .invalidArgument(field: "role", "ROLE_CUSTOMER cannot be removed; suspend the account instead")
    }
    guard account.roles.contains(role) else { return nil }
    if role == .admin, account.isActiveAdmin, activeAdmins <= 1 { throw lastAdmin }
    var changed = account
    changed.roles.remove(role)
    return changed
  }

  /// Suspends (with a reason) or reinstates. Suspending the last active admin fails with
  /// LAST_ADMIN. Setting the current status changes nothing.
  static func setting(_ status: Account.Status, reason: String, on account: Account, activeAdmins: Int) throws(CommerceError)
    -> Account?
  {
    guard status != account.status else { return nil }
    var changed = account
    changed.status = status
    switch status {
    case .suspended:
      if account.isActiveAdmin, activeAdmins <= 1 { throw lastAdmin }
      changed.suspensionReason = reason
    case .active:
      changed.suspensionReason = ""
    }
    return changed
  }

  static var lastAdmin: CommerceError {
    CommerceError(.failedPrecondition, .lastAdmin, "the change would leave no active ADMIN")
  }
}
