import ArgumentParser
import CommerceAPI
import LoadCore
import RPC

/// `browse`: an anonymous shopper searches (a leaf category of the seed, one page of 24) and
/// opens two product pages (products chosen uniformly or by Zipf among the first `--products`).
struct BrowseScenario: Scenario {
  let clients: CommerceClients
  let productIDs: [String]
  let categoryIDs: [String]
  let picker: ProductPicker
  let options: CallOptions
  var name: String { "browse" }

  init(clients: CommerceClients, manifest: LoadManifest, settings: ScenarioSettings) throws {
    guard !manifest.productIds.isEmpty else { throw ValidationError("the manifest lists no products") }
    self.clients = clients
    productIDs = Array(manifest.productIds.prefix(settings.products))
    categoryIDs = manifest.leafCategoryIds
    picker = ProductPicker(count: productIDs.count, exponent: settings.zipf)
    options = CallOptions(timeout: settings.callTimeout)
  }

  func journey(_ context: JourneyContext) async throws {
    var search = CommerceV1.SearchProductsRequest()
    search.pageSize = 24
    if !categoryIDs.isEmpty {
      search.categoryIds = [categoryIDs[Int(context.random.next() % UInt64(categoryIDs.count))]]
    }
    _ = try await context.step("search") { try await clients.catalog.searchProducts(search, options: options) }
    for _ in 0..<2 {
      var page = CommerceV1.GetProductRequest()
      page.productId = productIDs[picker.pick(&context.random)]
      _ = try await context.step("product") { try await clients.catalog.getProduct(page, options: options) }
    }
  }
}
