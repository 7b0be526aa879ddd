public import CommerceAPI
public import Messages

/// One service the gateway forwards: its proto description and the name of the peer (the
/// service identity in `--peers`) that hosts it.
public struct GatewayRoute: Sendable {
  public var service: ProtoServiceDescriptor
  public var peer: String

  public init(service: ProtoServiceDescriptor, peer: String) {
    self.service = service
    self.peer = peer
  }

  /// Every commerce service, by the identity of the process role that hosts it (the names of
  /// `emporium serve --services`).
  public static let commerce: [GatewayRoute] = [
    GatewayRoute(service: CommerceV1.AuthService.descriptor, peer: "auth"),
    GatewayRoute(service: CommerceV1.CatalogService.descriptor, peer: "catalog"),
    GatewayRoute(service: CommerceV1.CartService.descriptor, peer: "cart"),
    GatewayRoute(service: CommerceV1.InventoryService.descriptor, peer: "inventory"),
    GatewayRoute(service: CommerceV1.PaymentService.descriptor, peer: "payments"),
    GatewayRoute(service: CommerceV1.OrderService.descriptor, peer: "orders"),
    GatewayRoute(service: CommerceV1.ShippingService.descriptor, peer: "shipping"),
    GatewayRoute(service: CommerceV1.NotificationService.descriptor, peer: "notifications"),
    GatewayRoute(service: CommerceV1.ReviewService.descriptor, peer: "reviews"),
    GatewayRoute(service: CommerceV1.AdminService.descriptor, peer: "admin"),
    GatewayRoute(service: CommerceV1.SupportService.descriptor, peer: "support"),
  ]
}
