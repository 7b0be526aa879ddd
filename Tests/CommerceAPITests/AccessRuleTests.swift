import CommerceAPI
import Messages
import RPC
import Testing

/// The contract's access rules (`option (emporium.rpc.v1.access)`), as generated into the
/// method descriptions that the auth interceptor enforces.
@Suite struct AccessRuleTests {
  static let commerceServices = ProtoTypeRegistry.commerceAPI.services

  /// Every service identity the contract may name: the commerce services and the external
  /// parties (the payment gateway, delivery partners' systems by carrier).
  static let knownIdentities: Set<String> = [
    "auth", "catalog", "cart", "inventory", "orders", "payments", "shipping", "notifications",
    "reviews", "support", "admin", "payment-gateway", "delivery-partner-*",
  ]

  @Test func everyCommerceMethodDeclaresWhoMayCallIt() {
    #expect(Self.commerceServices.count == 11)
    let methods = Self.commerceServices.flatMap(\.methods)
    #expect(methods.count > 90)
    let missing = methods.filter { $0.access == nil }.map(\.path)
    #expect(missing.isEmpty, "methods without an access rule: \(missing)")
  }

  @Test func rulesNameOnlyRealRolesAndIdentities() {
    let roles = Set(CommerceV1.Role.protoValueNames.values.map { String($0.dropFirst("ROLE_".count)) })
      .subtracting(["UNSPECIFIED"])
    for method in Self.commerceServices.flatMap(\.methods) {
      guard let rule = method.access else { continue }
      #expect(rule.anonymous || rule.anyUser || rule.owner || !rule.roles.isEmpty || !rule.services.isEmpty,
        "\(method.path) admits nobody")
      for role in rule.roles { #expect(roles.contains(role), "\(method.path) names unknown role \(role)") }
      for service in rule.services {
        #expect(Self.knownIdentities.contains(service), "\(method.path) names unknown identity \(service)")
      }
    }
  }

  @Test func rulesFollowTheComments() throws {
    let methods = Dictionary(uniqueKeysWithValues: Self.commerceServices.flatMap(\.methods).map { ($0.path, $0) })
    let login = try #require(methods["/emporium.commerce.v1.AuthService/Login"]?.access)
    #expect(login.anonymous)
    let getOrder = try #require(methods["/emporium.commerce.v1.OrderService/GetOrder"]?.access)
    #expect(getOrder.owner && getOrder.roles.contains("ADMIN") && !getOrder.anonymous)
    let setStatus = try #require(methods["/emporium.commerce.v1.AuthService/SetUserStatus"]?.access)
    #expect(setStatus.services == ["admin"] && setStatus.roles.isEmpty && !setStatus.anyUser)
  }

  @Test func servicePatternsMatchByPrefix() {
    let rule = ProtoAccessRule(services: ["orders", "delivery-partner-*"])
    #expect(rule.admitsService(named: "orders"))
    #expect(rule.admitsService(named: "delivery-partner-acme"))
    #expect(!rule.admitsService(named: "ordersx"))
    #expect(!rule.admitsService(named: "payments"))
  }

  @Test func runtimeServicesCarryNoRule() {
    for method in RpcV1.HealthService.methods + RpcV1.EchoService.methods {
      #expect(method.access == nil)
    }
  }
}
