import ArgumentParser
import CommerceAPI
import Foundation
import LoadCore
import RPC

/// `checkout`: a customer logs in, searches, views a product, adds it to the cart and checks
/// the cart out with the sandbox's test card 4242 4242 4242 4242. Products are chosen uniformly
/// or by Zipf among the first `--products` of the manifest; customers in turn (by journey).
///
/// Before the run: customers are logged in (their tokens serve `--no-login-step`), and stock
/// is set through InventoryService.SetStock as an admin unless the manifest brings stock.
struct CheckoutScenario: Scenario {
  let clients: CommerceClients
  let customers: [LoadManifest.User]
  let tokens: [CallOptions]
  let productIDs: [String]
  let categoryIDs: [String]
  let picker: ProductPicker
  let loginEachJourney: Bool
  let options: CallOptions
  let callTimeout: Duration
  let ledger: CheckoutLedger
  var name: String { "checkout" }
  var stockedProducts: [String] { productIDs }

  static func prepare(
    clients: CommerceClients, manifest: LoadManifest, settings: ScenarioSettings, log: @escaping @Sendable (String) -> Void
  ) async throws -> CheckoutScenario {
    let customers = manifest.customers
    guard !customers.isEmpty else { throw ValidationError("the manifest lists no customers") }
    guard !manifest.productIds.isEmpty else { throw ValidationError("the manifest lists no products") }
    let productIDs = Array(manifest.productIds.prefix(settings.products))
    try await Preparation.stock(
      productIDs, clients: clients, manifest: manifest, settings: settings, log: log)
    let chosen = Array(customers.prefix(max(1, settings.customers)))
    let tokens = try await Preparation.logIn(chosen, clients: clients, timeout: settings.callTimeout, log: log)
    // Lines left in the customers' carts by earlier runs would be bought with the first
    // checkout: start from empty carts.
    log("emptying \(tokens.count) customers' carts")
    _ = try await Preparation.concurrentMap(tokens, width: 8) { asCustomer in
      try await clients.cart.clearCart(CommerceV1.ClearCartRequest(), options: asCustomer)
    }
    return CheckoutScenario(
      clients: clients, customers: chosen, tokens: tokens, productIDs: productIDs, categoryIDs: manifest.leafCategoryIds,
      picker: ProductPicker(count: productIDs.count, exponent: settings.zipf),
      loginEachJourney: settings.loginEachJourney, options: CallOptions(timeout: settings.callTimeout),
      callTimeout: settings.callTimeout, ledger: settings.ledger)
  }

  func journey(_ context: JourneyContext) async throws {
    let index = context.user % customers.count
    let customer = customers[index]
    var asCustomer = tokens[index]
    if loginEachJourney {
      var login = CommerceV1.LoginRequest()
      login.email = customer.email
      login.password = customer.password
      login.sessionLabel = "loadgen"
      let response = try await context.step("login") { try await clients.auth.login(login, options: options) }
      asCustomer = CallOptions(
        timeout: callTimeout, metadata: ["authorization": "Bearer " + (response.tokens?.accessToken ?? "")])
    }
    var search = CommerceV1.SearchProductsRequest()
    search.pageSize = 24
    if !categoryIDs.isEmpty {
      search.categoryIds = [categoryIDs[Int(context.random.next() % UInt64(categoryIDs.count))]]
    }
    _ = try await context.step("search") { try await clients.catalog.searchProducts(search, options: asCustomer) }
    let productID = productIDs[picker.pick(&context.random)]
    var page = CommerceV1.GetProductRequest()
    page.productId = productID
    _ = try await context.step("product") { try await clients.catalog.getProduct(page, options: asCustomer) }
    var add = CommerceV1.AddCartItemRequest()
    add.productId = productID
    add.quantity = 1
    add.idempotencyKey = UUID().uuidString
    _ = try await context.step("add_to_cart") { try await clients.cart.addCartItem(add, options: asCustomer) }
    var checkout = Preparation.checkoutRequest()
    checkout.itemsSource = .cart(CommerceV1.CheckoutFromCart())
    _ = try await context.step("checkout") {
      try await ledger.record { try await clients.orders.checkout(checkout, options: asCustomer) }
    }
  }
}

/// `hot-product`: many buyers of one product (a flash sale): each journey is one logged-in
/// customer's checkout of one unit of it, explicit lines, no cart. With `--stock` below the
/// run's demand it sells out on purpose, and the sold-out path (FAILED_PRECONDITION) is what is
/// measured after that. In `capacity` and `sweep` the stock is set back to `--stock` before each
/// phase, unless `--no-refill` lets it run down across them.
struct HotProductScenario: Scenario {
  let clients: CommerceClients
  let tokens: [CallOptions]
  let productID: String
  let ledger: CheckoutLedger
  let manifest: LoadManifest
  /// The settings the stock is set with (always set: the hot product's stock is the experiment).
  let stockSettings: ScenarioSettings
  var name: String { "hot-product" }
  var stockedProducts: [String] { [productID] }

  static func prepare(
    clients: CommerceClients, manifest: LoadManifest, settings: ScenarioSettings, log: @escaping @Sendable (String) -> Void
  ) async throws -> HotProductScenario {
    guard let productID = settings.hotProduct ?? manifest.productIds.first else {
      throw ValidationError("the manifest lists no products")
    }
    var forced = settings
    forced.setStock = true  // the hot product's stock is the experiment: always set it
    try await Preparation.stock([productID], clients: clients, manifest: manifest, settings: forced, log: log)
    let customers = Array(manifest.customers.prefix(max(1, settings.customers)))
    guard !customers.isEmpty else { throw ValidationError("the manifest lists no customers") }
    let tokens = try await Preparation.logIn(customers, clients: clients, timeout: settings.callTimeout, log: log)
    return HotProductScenario(
      clients: clients, tokens: tokens, productID: productID, ledger: settings.ledger, manifest: manifest,
      stockSettings: forced)
  }

  func refill(log: @escaping @Sendable (String) -> Void) async throws {
    guard stockSettings.refillStock else { return }
    try await Preparation.stock([productID], clients: clients, manifest: manifest, settings: stockSettings, log: log)
  }

  func journey(_ context: JourneyContext) async throws {
    let asCustomer = tokens[context.user % tokens.count]
    var line = CommerceV1.CheckoutLine()
    line.productId = productID
    line.quantity = 1
    var lines = CommerceV1.CheckoutLines()
    lines.lines = [line]
    var checkout = Preparation.checkoutRequest()
    checkout.itemsSource = .lines(lines)
    _ = try await context.step("checkout") {
      try await ledger.record { try await clients.orders.checkout(checkout, options: asCustomer) }
    }
  }
}
