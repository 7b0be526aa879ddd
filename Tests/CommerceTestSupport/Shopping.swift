public import CommerceAPI
public import Foundation
import Messages
public import RPC

/// What the suites that buy things share: a category and a warehouse to sell from, a checkout
/// request paid with the sandbox's test cards, and an order taken through shipping to DELIVERED.
extension TestApp {
  /// A new category (unique slug) created by `admin`; its id.
  public func category(_ name: String = "Audio", admin: CallOptions) async throws -> String {
    let slug = "c" + UUID().uuidString.prefix(8).lowercased()
    return try await CommerceV1.CatalogService.Client(connection).createCategory(
      .with {
        $0.name = name + " " + slug
        $0.slug = slug
      }, options: admin
    ).category!.categoryId
  }

  /// A new US warehouse (unique code) created by `admin`; its id.
  public func warehouse(admin: CallOptions) async throws -> String {
    try await CommerceV1.InventoryService.Client(connection).createWarehouse(
      .with {
        $0.code = "W" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8))
        $0.name = "Main"
        $0.regionCode = "US"
      }, options: admin
    ).warehouse!.warehouseId
  }

  /// A new product of `seller` in `category` (ACTIVE unless `status` says otherwise) with
  /// `stock` units on hand in `warehouse` (no stock recorded when negative); the product as
  /// created.
  public func product(
    _ title: String = "Headphones", price: Int64 = 1999, category: String, warehouse: String, stock: Int64,
    status: CommerceV1.ProductStatus = .active, seller: CallOptions
  ) async throws -> CommerceV1.Product {
    let product = try await CommerceV1.CatalogService.Client(connection).createProduct(
      .with { $0.product = .draft(title, category: category, price: price, status: status) }, options: seller
    ).product!
    if stock >= 0 {
      _ = try await CommerceV1.InventoryService.Client(connection).setStock(
        .with {
          $0.productId = product.productId
          $0.warehouseId = warehouse
          $0.onHand = stock
        }, options: seller)
    }
    return product
  }

  /// A shipping address in the US.
  public static let address = CommerceV1.Address.with {
    $0.recipientName = "Ada Lovelace"
    $0.addressLines = ["1 Infinite Loop"]
    $0.locality = "Cupertino"
    $0.administrativeArea = "CA"
    $0.postalCode = "95014"
    $0.regionCode = "US"
  }

  /// A payments.proto test card (the default one is always authorized).
  public static func card(_ number: String = "4242 4242 4242 4242") -> CommerceV1.PaymentMethod {
    .with {
      $0.method = .testCard(
        .with {
          $0.number = number
          $0.expMonth = 12
          $0.expYear = 2040
          $0.cvc = "123"
        })
    }
  }

  /// A checkout of explicit lines (product, quantity) to ``address``, paid with `card`.
  public static func checkout(
    _ lines: [(String, Int32)], key: String = UUID().uuidString, card: String = "4242 4242 4242 4242", expectedTotal: Int64? = nil
  ) -> CommerceV1.CheckoutRequest {
    .with {
      $0.itemsSource = .lines(.with { $0.lines = lines.map { line in .with { $0.productId = line.0; $0.quantity = line.1 } } })
      $0.shippingAddress = address
      $0.paymentMethod = Self.card(card)
      $0.idempotencyKey = key
      if let expectedTotal { $0.expectedTotal = usd(expectedTotal) }
    }
  }

  /// Takes a CONFIRMED order to DELIVERED the way ShippingService reports it (the "shipping"
  /// identity's ApplyOrderEvent: one parcel created, shipped, delivered); the order after.
  public func deliver(_ order: CommerceV1.Order) async throws -> CommerceV1.Order {
    let orders = CommerceV1.OrderService.Client(connection)
    let shipping = try await service("shipping")
    var last = order
    for kind in [CommerceV1.OrderEventKind.shipmentCreated, .shipmentShipped, .shipmentDelivered] {
      last = try await orders.applyOrderEvent(
        .with {
          $0.orderId = order.orderId
          $0.eventId = UUID().uuidString
          $0.kind = kind
          $0.subjectId = "parcel-1"
          if kind == .shipmentCreated {
            $0.lines = order.lines.map { line in .with { $0.orderLineId = line.orderLineId; $0.quantity = line.quantity } }
          }
        }, options: shipping
      ).order!
    }
    return last
  }
}

extension CommerceV1.Product {
  /// What CreateProduct takes for a product priced `price` US cents (ACTIVE unless `status`
  /// says otherwise); attributes as (name, value) pairs.
  public static func draft(
    _ title: String, category: String, price: Int64 = 1999, status: CommerceV1.ProductStatus = .active,
    details: String = "", attributes: [(String, String)] = [], sku: String = ""
  ) -> Self {
    .with {
      $0.title = title
      $0.details = details
      $0.categoryId = category
      $0.price = TestApp.usd(price)
      $0.status = status
      $0.sku = sku
      $0.attributes = attributes.map { name, value in
        .with {
          $0.name = name
          $0.value = value
        }
      }
    }
  }
}
