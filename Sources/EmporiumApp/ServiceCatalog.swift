import CommerceAdmin
import CommerceAuth
import CommerceCart
import CommerceCatalog
import CommerceInventory
import CommerceNotifications
import CommerceOrders
import CommercePayments
import CommerceReviews
import CommerceShipping
import CommerceSupport
public import CommerceKit

/// Every commerce service the project has, in the order a process starts them.
public enum ServiceCatalog {
  /// The declarations of all services (``EmporiumApp/Configuration/services`` by default).
  public static var all: [ServiceDeclaration] {
    [
      AuthService.declaration, CatalogService.declaration, CartService.declaration, InventoryService.declaration,
      PaymentService.declaration, OrderService.declaration, ShippingService.declaration, NotificationService.declaration,
      ReviewService.declaration, AdminService.declaration, SupportService.declaration,
    ]
  }

  /// The declarations named by `names` (service identity names such as "auth"); an unknown
  /// name is an error that lists the known ones.
  public static func named(_ names: [String]) throws -> [ServiceDeclaration] {
    let known = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    return try names.map { name in
      guard let declaration = known[name] else {
        throw EmporiumApp.StartError(
          description: "unknown service '\(name)'; known: \(known.keys.sorted().joined(separator: ", "))")
      }
      return declaration
    }
  }
}
