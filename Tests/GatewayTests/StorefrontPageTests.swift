import CommerceAPI
import CommerceTestSupport
import Foundation
import NIOHTTP1
import Testing

/// The storefront page (`GET /`) as its browser script uses the gateway: the page is
/// self-contained, every `/v1/{Service}/{Method}` it names is a route, and its whole journey works
/// over HTTP/JSON with the bodies the page sends. `make test-browser` runs the same journey in
/// headless Chromium.
@Suite("Storefront page: self-contained, calls only routes the gateway serves, its journey over HTTP/JSON")
struct StorefrontPageTests {
  /// The `/v1/{Service}/{Method}` paths a page names.
  static func apiPaths(in page: String) throws -> Set<String> {
    let pattern = try NSRegularExpression(pattern: #"/v1/[A-Za-z]+Service/[A-Za-z]+"#)
    let range = NSRange(page.startIndex..., in: page)
    return Set(pattern.matches(in: page, range: range).compactMap { Range($0.range, in: page).map { String(page[$0]) } })
  }

  @Test("the page has no external scripts, styles, fonts or URLs, and every API path its script names is a route")
  func selfContainedAndRouted() async throws {
    try await GatewayFixture.run { f in
      let page = try await f.http.send("/", method: .GET)
      #expect(page.status == 200)
      let html = page.body
      #expect(html.hasPrefix("<!doctype html>"))
      for external in ["<script src", "stylesheet", "@import", "url(", "http://", "https://", "src="] {
        #expect(!html.lowercased().contains(external), "the page refers to something outside itself: \(external)")
      }
      // Links go to the page's own views (#/...) or are data: URLs (the blank icon).
      let links = try NSRegularExpression(pattern: #"href="([^"]*)""#)
      for match in links.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
        let target = String(html[Range(match.range(at: 1), in: html)!])
        #expect(target.hasPrefix("#") || target.hasPrefix("data:"), "a link outside the page: \(target)")
      }
      // One inline script and one inline style block.
      #expect(html.components(separatedBy: "<script>").count == 2)
      #expect(html.components(separatedBy: "<style>").count == 2)
      let paths = try Self.apiPaths(in: html)
      #expect(
        paths.isSuperset(of: [
          "/v1/CatalogService/SearchProducts", "/v1/CatalogService/GetProduct", "/v1/CartService/AddCartItem",
          "/v1/AuthService/Login", "/v1/AuthService/RegisterUser", "/v1/OrderService/Checkout", "/v1/OrderService/WatchOrder",
        ]), "\(paths.sorted())")
      for path in paths.sorted() {
        // An empty request reaches the method: whatever it answers (a missing field, no token,
        // nothing found), it is not the gateway's UNIMPLEMENTED "no method".
        let answer = try await f.http.send(path, body: "{}")
        #expect(answer.status != 501, "\(path): \(answer.status) \(answer.body)")
        #expect(try jsonObject(answer.body)["code"] as? Int != 12, "\(path): \(answer.body)")
        #expect(!answer.body.contains("no method"), "\(path): \(answer.body)")
      }
    }
  }

  @Test("the page's journey over HTTP/JSON: filtered search, product, guest cart, register and log in, cart merge, checkout with an asynchronous test card, the order's changes as they stream")
  func journey() async throws {
    try await GatewayFixture.run { f in
      let admin = try await f.app.user(roles: [.admin])
      let seller = try await f.app.seller("Storefront Sounds")
      let category = try await f.app.category("Record players", admin: admin)
      let product = try await f.app.product(
        "Storefront Turntable", price: 25_000, category: category, warehouse: try await f.app.warehouse(admin: admin), stock: 5,
        seller: seller.options
      ).productId
      let pagePaths = try Self.apiPaths(in: try await f.http.send("/", method: .GET).body)
      var used: Set<String> = []
      /// One call as the page makes it: POST, JSON body, the bearer token once signed in.
      func call(_ path: String, _ body: String, token: String? = nil, expect status: Int = 200) async throws -> [String: Any] {
        used.insert(path)
        let answer = try await f.http.send(path, body: body, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
        #expect(answer.status == status, "\(path): \(answer.body)")
        return try jsonObject(answer.body)
      }

      // Search: the category select is filled from ListCategories; the form's filters.
      let categories = try await call("/v1/CatalogService/ListCategories", #"{"pageSize": 2000}"#)["categories"] as? [[String: Any]]
      #expect(categories?.contains { $0["categoryId"] as? String == category } == true)
      let search = """
        {"query": "turntable", "includeFacets": true, "pageSize": 24, "sort": "PRODUCT_SORT_ORDER_PRICE_ASCENDING",
         "categoryIds": ["\(category)"], "priceRange": {"minPrice": {"currency": "USD", "amountMinor": "10000"},
         "maxPrice": {"currency": "USD", "amountMinor": "%@"}}, "inStockOnly": true}
        """
      let found = try await call("/v1/CatalogService/SearchProducts", search.replacingOccurrences(of: "%@", with: "30000"))
      let products = try #require(found["products"] as? [[String: Any]])
      #expect(products.map { $0["productId"] as? String } == [product])
      #expect(products.first?["title"] as? String == "Storefront Turntable")
      #expect((products.first?["price"] as? [String: Any])?["amountMinor"] as? String == "25000")
      #expect(found["estimatedTotalCount"] as? String == "1")
      let facets = try #require((found["facets"] as? [String: Any])?["categories"] as? [[String: Any]])
      #expect(facets.first?["value"] as? String == category)
      let cheaper = try await call("/v1/CatalogService/SearchProducts", search.replacingOccurrences(of: "%@", with: "20000"))
      #expect((cheaper["products"] as? [Any] ?? []).isEmpty)

      // The product page.
      let page = try await call("/v1/CatalogService/GetProduct", #"{"productId": "\#(product)"}"#)
      #expect((page["product"] as? [String: Any])?["title"] as? String == "Storefront Turntable")
      #expect((page["seller"] as? [String: Any])?["sellerId"] as? String == seller.id)

      // Add to cart as a guest: the first add creates the guest cart, whose id the page keeps.
      let added = try await call(
        "/v1/CartService/AddCartItem", #"{"productId": "\#(product)", "quantity": 1, "idempotencyKey": "\#(UUID().uuidString)"}"#)
      let guestCart = try #require((added["cart"] as? [String: Any])?["cartId"] as? String)
      #expect((added["cart"] as? [String: Any])?["totalQuantity"] as? Int == 1)
      let guestView = try await call("/v1/CartService/GetCart", #"{"guestCartId": "\#(guestCart)"}"#)
      #expect(((guestView["cart"] as? [String: Any])?["items"] as? [Any])?.count == 1)

      // Register, then sign in again as the sign-in form does; the guest cart moves to the user.
      let email = "page-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      let registered = try await call(
        "/v1/AuthService/RegisterUser",
        #"{"email": "\#(email)", "password": "correct horse battery", "displayName": "Page Buyer", "sessionLabel": "Storefront page"}"#)
      #expect((registered["tokens"] as? [String: Any])?["accessToken"] as? String != nil)
      let login = try await call(
        "/v1/AuthService/Login", #"{"email": "\#(email)", "password": "correct horse battery", "sessionLabel": "Storefront page"}"#)
      let token = try #require((login["tokens"] as? [String: Any])?["accessToken"] as? String)
      let merged = try await call("/v1/CartService/MergeCarts", #"{"guestCartId": "\#(guestCart)"}"#, token: token)
      #expect(((merged["cart"] as? [String: Any])?["items"] as? [Any])?.count == 1)
      let me = try await call("/v1/AuthService/WhoAmI", "{}", token: token)
      #expect(((me["principal"] as? [String: Any])?["user"] as? [String: Any])?["email"] as? String == email)
      #expect((try await call("/v1/OrderService/ListOrders", #"{"pageSize": 20}"#, token: token)["orders"] as? [Any] ?? []).isEmpty)
      let cart = try #require(try await call("/v1/CartService/GetCart", "{}", token: token)["cart"] as? [String: Any])
      let version = try #require(cart["version"] as? String)

      // Check out from the cart with the card the sandbox authorizes asynchronously.
      let checkout = try await call(
        "/v1/OrderService/Checkout",
        """
        {"cart": {"expectedCartVersion": "\(version)"},
         "shippingAddress": {"recipientName": "Page Buyer", "addressLines": ["1 Main Street"], "locality": "Springfield",
                             "administrativeArea": "IL", "postalCode": "62701", "regionCode": "US"},
         "paymentMethod": {"testCard": {"number": "4000 0000 0000 3220", "expMonth": 12, "expYear": 2040, "cvc": "123"}},
         "shippingSpeed": "SHIPPING_SPEED_STANDARD", "idempotencyKey": "\(UUID().uuidString.lowercased())"}
        """, token: token)
      let placed = try #require(checkout["order"] as? [String: Any])
      let orderID = try #require(placed["orderId"] as? String)
      #expect(placed["status"] as? String == "ORDER_STATUS_AWAITING_PAYMENT")
      // The page marks history entries past the order checkout answered with as live.
      let baseline = (placed["statusHistory"] as? [Any])?.count ?? 0

      // The order page: WatchOrder's lines as they arrive; the payment's result, then the
      // cancellation the page's button asks for, then the end of the stream.
      used.insert("/v1/OrderService/WatchOrder")
      let (seen, history) = try await f.http.exchange(
        "/v1/OrderService/WatchOrder", body: #"{"orderId": "\#(orderID)", "afterVersion": "0"}"#,
        headers: [("Authorization", "Bearer \(token)")]
      ) { status, headers, parts in
        #expect(status == 200)
        #expect(headers.first(name: "Content-Type") == "application/x-ndjson")
        var lines = LineReader(parts)
        var seen: [String] = []
        var history: [String] = []
        while let line = try await lines.next() {
          let result = try #require(try jsonObject(line)["result"] as? [String: Any])
          let order = try #require(result["order"] as? [String: Any])
          history = (order["statusHistory"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
          let status = try #require(order["status"] as? String)
          if seen.last != status { seen.append(status) }
          if status == "ORDER_STATUS_CONFIRMED" && !seen.contains("ORDER_STATUS_CANCELLED") {
            _ = try await call(
              "/v1/OrderService/CancelOrder", #"{"orderId": "\#(orderID)", "reason": "CANCEL_REASON_CUSTOMER_REQUESTED"}"#, token: token)
          }
        }
        return (seen, history)
      }
      // The first message is the order now (AWAITING_PAYMENT unless the payment's result came first).
      #expect(seen.suffix(2) == ["ORDER_STATUS_CONFIRMED", "ORDER_STATUS_CANCELLED"], "\(seen)")
      #expect(seen.first == "ORDER_STATUS_AWAITING_PAYMENT" || seen.first == "ORDER_STATUS_CONFIRMED")
      #expect(Array(history.suffix(3)) == ["ORDER_STATUS_AWAITING_PAYMENT", "ORDER_STATUS_CONFIRMED", "ORDER_STATUS_CANCELLED"], "\(history)")
      #expect(history.count - baseline == 2, "both changes after checkout's answer show as live")

      let orders = try await call("/v1/OrderService/ListOrders", #"{"pageSize": 20}"#, token: token)["orders"] as? [[String: Any]]
      #expect(orders?.map { $0["orderId"] as? String } == [orderID])
      #expect(used.isSubset(of: pagePaths), "the journey used paths the page does not: \(used.subtracting(pagePaths).sorted())")
    }
  }
}
