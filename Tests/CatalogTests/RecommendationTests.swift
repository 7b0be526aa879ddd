import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceCatalog

@Suite("CatalogService recommendations")
struct RecommendationTests {
  /// Records one order as OrderService's relay does (the "orders" identity).
  static func record(
    _ h: CatalogHarness, _ products: [String], customer: String = UUID().uuidString.lowercased(), at: Date = Date(),
    order: String = UUID().uuidString.lowercased(), quantity: Int32 = 1
  ) async throws -> Bool {
    try await h.catalog.recordPurchases(
      .with {
        $0.orderId = order
        $0.customerId = customer
        $0.purchaseTime = .init(at)
        $0.products = products.map { id in
          .with {
            $0.productId = id
            $0.quantity = quantity
          }
        }
      }, options: try await h.service("orders")
    ).recorded
  }

  /// What GetRecommendations answered: the product ids, best first, and the applied kind.
  struct Answer: Equatable, CustomStringConvertible {
    var ids: [String]
    var kind: CommerceV1.RecommendationKind
    init(_ ids: [String], _ kind: CommerceV1.RecommendationKind) {
      self.ids = ids
      self.kind = kind
    }
    var description: String { "\(kind) \(ids)" }
  }

  static func recommend(
    _ h: CatalogHarness, product: String, _ kind: CommerceV1.RecommendationKind = .unspecified, inStockOnly: Bool = false,
    maxResults: Int32 = 0
  ) async throws -> Answer {
    let response = try await h.catalog.getRecommendations(.with {
      $0.anchor = .productId(product)
      $0.kind = kind
      $0.inStockOnly = inStockOnly
      $0.maxResults = maxResults
    })
    return Answer(response.products.map(\.productId), response.appliedKind)
  }

  static func recommend(
    _ h: CatalogHarness, user: String, _ kind: CommerceV1.RecommendationKind = .unspecified, options: CallOptions
  ) async throws -> Answer {
    let response = try await h.catalog.getRecommendations(
      .with {
        $0.anchor = .userId(user)
        $0.kind = kind
      }, options: options)
    return Answer(response.products.map(\.productId), response.appliedKind)
  }

  /// A best seller bought with everything does not outrank a true pair (cosine similarity), a
  /// pair bought once is below the minimum support, and archived, out-of-stock (with
  /// in_stock_only) and anchor products are never recommended.
  @Test func alsoBoughtRanksTruePairsAboveBestSellersAndSkipsUnavailableProducts() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let audio = try await h.category("Audio").categoryId
      func make(_ title: String) async throws -> String {
        try await h.product(title, seller: seller.options, category: audio).productId
      }
      let amp = try await make("Amplifier")
      let cable = try await make("Speaker Cable")
      let batteries = try await make("Batteries")
      let archived = try await make("Old Speaker")
      let soldOut = try await make("Turntable")
      let once = try await make("Headphone Stand")
      for _ in 0..<3 { #expect(try await Self.record(h, [amp, cable])) }
      for _ in 0..<4 { _ = try await Self.record(h, [amp, batteries]) }
      for _ in 0..<16 { _ = try await Self.record(h, [batteries]) }
      for _ in 0..<3 { _ = try await Self.record(h, [amp, archived]) }
      for _ in 0..<3 { _ = try await Self.record(h, [amp, soldOut]) }
      _ = try await Self.record(h, [amp, once])

      // Raw counts put the batteries (4 orders with the amplifier) above the cable (3), but the
      // batteries are in 20 orders: 4 / sqrt(14 * 20) < 3 / sqrt(14 * 3).
      let all = try await Self.recommend(h, product: amp)
      #expect(all.kind == .alsoBought)
      #expect(all.ids.contains(cable) && all.ids.contains(batteries) && all.ids.contains(soldOut))
      #expect(all.ids.firstIndex(of: cable)! < all.ids.firstIndex(of: batteries)!)
      #expect(!all.ids.contains(once), "bought together once is below the minimum support")

      _ = try await h.catalog.archiveProduct(.with { $0.productId = archived; $0.expectedVersion = 1 }, options: seller.options)
      _ = try await h.catalog.recordStockLevels(
        .with { $0.levels = [.with { $0.productId = soldOut; $0.availableQuantity = 0; $0.version = 1 }] },
        options: try await h.service("inventory"))
      let available = try await Self.recommend(h, product: amp, .alsoBought, inStockOnly: true)
      #expect(available.kind == .alsoBought)
      #expect(available.ids == [cable, batteries])
      let withSoldOut = try await Self.recommend(h, product: amp, .alsoBought)
      #expect(Set(withSoldOut.ids) == [cable, batteries, soldOut])
      // The cable's own list never holds the cable; the archived product is never recommended.
      let fromCable = try await Self.recommend(h, product: cable, .alsoBought)
      #expect(fromCable.ids == [amp])
      #expect(try await Self.recommend(h, product: amp, .trending).ids.allSatisfy { $0 != archived && $0 != amp })
      #expect(try await Self.recommend(h, product: cable, .similar).ids.allSatisfy { $0 != archived && $0 != cable })
      // max_results bounds the list.
      #expect(try await Self.recommend(h, product: amp, inStockOnly: true, maxResults: 1).ids == [cable])
    }
  }

  /// RecordPurchases counts an order once however often it arrives, and only the orders
  /// identity may call it.
  @Test func recordPurchasesIsIdempotentByOrderAndOnlyForOrderService() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let audio = try await h.category("Audio").categoryId
      let mic = try await h.product("Microphone", seller: seller.options, category: audio).productId
      let arm = try await h.product("Boom Arm", seller: seller.options, category: audio).productId
      let order = UUID().uuidString.lowercased()
      #expect(try await Self.record(h, [mic, arm], order: order))
      #expect(try await Self.record(h, [mic, arm], order: order) == false)
      // One order together is below the minimum support of two: the redelivery did not count.
      #expect(try await Self.recommend(h, product: mic, .alsoBought).kind == .similar)
      #expect(try await Self.record(h, [mic, arm]))
      #expect(try await Self.recommend(h, product: mic, .alsoBought) == Answer([arm], .alsoBought))

      let request = CommerceV1.RecordPurchasesRequest.with {
        $0.orderId = UUID().uuidString.lowercased()
        $0.customerId = UUID().uuidString.lowercased()
        $0.purchaseTime = .init(Date())
        $0.products = [.with { $0.productId = mic; $0.quantity = 1 }]
      }
      await expectFailure(.unauthenticated) { try await h.catalog.recordPurchases(request) }
      await expectFailure(.permissionDenied) { try await h.catalog.recordPurchases(request, options: try await h.admin()) }
      await expectFailure(.permissionDenied) {
        try await h.catalog.recordPurchases(request, options: try await h.service("inventory"))
      }
      let orders = try await h.service("orders")
      let breakers: [@Sendable (inout CommerceV1.RecordPurchasesRequest) -> Void] = [
        { $0.orderId = "not-an-id" },
        { $0.customerId = "" },
        { $0.purchaseTime = nil },
        { $0.products = [] },
        { $0.products = [.with { $0.productId = "nope"; $0.quantity = 1 }] },
        { $0.products[0].quantity = 0 },
      ]
      for broken in breakers {
        var bad = request
        broken(&bad)
        await expectFailure(.invalidArgument) { try await h.catalog.recordPurchases(bad, options: orders) }
      }
      #expect(try await h.catalog.recordPurchases(request, options: orders).recorded)

      // A huge order counts every product, but pairs only among its first 50 (most units first).
      let many = (0..<60).map { _ in UUID().uuidString.lowercased() }
      let bulk = CommerceV1.RecordPurchasesRequest.with {
        $0.orderId = UUID().uuidString.lowercased()
        $0.customerId = UUID().uuidString.lowercased()
        $0.purchaseTime = .init(Date())
        $0.products = many.enumerated().map { index, id in
          .with {
            $0.productId = id
            $0.quantity = index == 59 ? 5 : 1
          }
        }
      }
      #expect(try await h.catalog.recordPurchases(bulk, options: orders).recorded)
      let ids = many.map { UUID(id: $0)! }
      let counted = try await h.pool.query("SELECT count(*) FROM catalog.product_purchases WHERE product_id = ANY($1)", [ids])
      #expect(try counted.first?.decode(0, as: Int64.self) == 60)
      let pairs = try await h.pool.query("SELECT count(*) FROM catalog.co_purchases WHERE product_id = ANY($1)", [ids])
      #expect(try pairs.first?.decode(0, as: Int64.self) == 50 * 49)
      // The product bought most is among the paired ones.
      let paired = try await h.pool.query("SELECT count(*) FROM catalog.co_purchases WHERE product_id = $1", [ids[59]])
      #expect(try paired.first?.decode(0, as: Int64.self) == 49)
    }
  }

  /// Each kind answers, and each fallback says which kind it applied.
  @Test func everyKindAnswersAndFallbacksSayWhichKindApplied() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let audio = try await h.category("Audio").categoryId
      let headphones = try await h.category("Headphones", parent: audio).categoryId
      let garden = try await h.category("Garden").categoryId
      let lonely = try await h.category("Lonely").categoryId
      func make(_ title: String, _ category: String, _ attributes: [(String, String)] = []) async throws -> String {
        try await h.product(title, seller: seller.options, category: category, attributes: attributes).productId
      }
      let pro = try await make("Wireless Headphones Pro", headphones, [("brand", "Acme"), ("color", "black")])
      let lite = try await make("Wireless Headphones Lite", headphones, [("brand", "Acme"), ("color", "black")])
      let studio = try await make("Studio Monitor Headphones", headphones, [("brand", "Other")])
      let speaker = try await make("Bookshelf Speaker", audio)
      let hose = try await make("Wireless Headphones Hose", garden)
      let rake = try await make("Rake", garden)
      let alone = try await make("Only Child", lonely)

      // SIMILAR: the same category, most similar title and attributes first; never another
      // category's product however similar its title.
      let similar = try await Self.recommend(h, product: pro, .similar)
      #expect(similar.kind == .similar)
      #expect(similar.ids.first == lite)
      #expect(Set(similar.ids) == [lite, studio])
      // ALSO_BOUGHT without purchases falls back to SIMILAR.
      #expect(try await Self.recommend(h, product: pro) == Answer(similar.ids, .similar))

      // Sales: the rake (in the last 7 days) and the speaker, in the headphones' parent
      // category; the hose sold most, but a month ago.
      let now = Date()
      for _ in 0..<3 { _ = try await Self.record(h, [rake], at: now.addingTimeInterval(-2 * 86_400), quantity: 2) }
      _ = try await Self.record(h, [speaker], at: now)
      _ = try await Self.record(h, [hose], at: now.addingTimeInterval(-30 * 86_400), quantity: 50)
      // TRENDING for a product: its category with descendants first.
      let audioTrend = try await Self.recommend(h, product: speaker, .trending)
      #expect(audioTrend.kind == .trending)
      // The speaker's category (audio) had no other sale: global best sellers, not the anchor.
      #expect(audioTrend.ids == [rake])
      _ = try await Self.record(h, [studio], at: now)
      #expect(try await Self.recommend(h, product: speaker, .trending) == Answer([studio], .trending))
      // SIMILAR in a category of one falls back to TRENDING (global), old sales not counted.
      let lonelyTrend = try await Self.recommend(h, product: alone, .similar)
      #expect(lonelyTrend.kind == .trending)
      #expect(lonelyTrend.ids.first == rake && !lonelyTrend.ids.contains(hose) && !lonelyTrend.ids.contains(alone))
      // ALSO_BOUGHT -> SIMILAR -> TRENDING.
      #expect(try await Self.recommend(h, product: alone).kind == .trending)

      // PERSONALIZED: what is bought with what the user bought, never what they bought.
      let shopper = UUID().uuidString.lowercased()
      let me = try await h.user(shopper, roles: [.customer])
      for _ in 0..<2 { _ = try await Self.record(h, [pro, lite]) }
      _ = try await Self.record(h, [pro], customer: shopper)
      #expect(try await Self.recommend(h, user: shopper, options: me) == Answer([lite], .personalized))
      // A user without history gets TRENDING.
      let newcomer = UUID().uuidString.lowercased()
      let trend = try await Self.recommend(h, user: newcomer, options: try await h.user(newcomer, roles: [.customer]))
      #expect(trend.kind == .trending && trend.ids.first == rake)
      // TRENDING for a user leaves out what they bought.
      _ = try await Self.record(h, [rake], customer: shopper)
      let mine = try await Self.recommend(h, user: shopper, .trending, options: me)
      #expect(mine.kind == .trending && !mine.ids.contains(rake) && !mine.ids.contains(pro) && !mine.ids.isEmpty)
      // An admin may see anyone's.
      #expect(try await Self.recommend(h, user: shopper, options: try await h.admin()).kind == .personalized)
    }
  }

  @Test func accessRulesAndBadInput() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let audio = try await h.category("Audio").categoryId
      let product = try await h.product("Amplifier", seller: seller.options, category: audio).productId
      let draft = try await h.product("Secret", seller: seller.options, category: audio, status: .draft).productId
      let user = UUID().uuidString.lowercased()
      let me = try await h.user(user, roles: [.customer])

      await expectFailure(.invalidArgument) { try await h.catalog.getRecommendations(.init()) }
      for max in [Int32(-1), 51] {
        await expectFailure(.invalidArgument) { try await Self.recommend(h, product: product, maxResults: max) }
      }
      await expectFailure(.invalidArgument) { try await Self.recommend(h, product: product, .personalized) }
      await expectFailure(.invalidArgument) { try await Self.recommend(h, user: user, .similar, options: me) }
      await expectFailure(.notFound) { try await Self.recommend(h, product: UUID().uuidString.lowercased()) }
      await expectFailure(.notFound) { try await Self.recommend(h, product: "nope") }
      // A draft is unknown to everyone but its seller.
      await expectFailure(.notFound) { try await Self.recommend(h, product: draft) }
      #expect(
        try await h.catalog.getRecommendations(.with { $0.anchor = .productId(draft) }, options: seller.options).appliedKind == .similar)
      // Anyone may ask for a product; a user's need that user's or an admin's token.
      // The amplifier has no pairs and no indexed neighbour (the draft is not listed), nor sales.
      #expect(try await Self.recommend(h, product: product, maxResults: 50) == Answer([], .trending))
      await expectFailure(.unauthenticated) { try await h.catalog.getRecommendations(.with { $0.anchor = .userId(user) }) }
      await expectFailure(.permissionDenied) {
        try await Self.recommend(h, user: user, options: try await h.user(roles: [.customer]))
      }
      await expectFailure(.permissionDenied) { try await Self.recommend(h, user: user, options: seller.options) }
      #expect(try await Self.recommend(h, user: user, options: me).kind == .trending)
      #expect(try await Self.recommend(h, user: user, options: try await h.admin()).kind == .trending)
      await expectFailure(.invalidArgument) { try await Self.recommend(h, user: "nope", options: try await h.admin()) }
    }
  }

  /// The ALSO_BOUGHT statement reads one range of co_purchases' primary key and looks up each
  /// partner by primary key (docs/CATALOG.md shows this plan).
  @Test func alsoBoughtIsIndexBacked() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let audio = try await h.category("Audio").categoryId
      let anchor = try await h.product("Amplifier", seller: seller.options, category: audio).productId
      let partner = try await h.product("Cable", seller: seller.options, category: audio).productId
      for _ in 0..<2 { _ = try await Self.record(h, [anchor, partner]) }
      // Pair counts of 20,000 other products, 20 partners each.
      try await h.pool.query(
        """
        INSERT INTO catalog.product_purchases (product_id, orders, units)
        SELECT md5(i::text)::uuid, 10, 10 FROM generate_series(1, 20000) i
        """)
      try await h.pool.query(
        """
        INSERT INTO catalog.co_purchases (product_id, other_product_id, orders)
        SELECT md5(i::text)::uuid, md5((20000 + j)::text)::uuid, 3 FROM generate_series(1, 20000) i, generate_series(1, 20) j
        """)
      try await h.pool.query("ANALYZE catalog.co_purchases")
      try await h.pool.query("ANALYZE catalog.product_purchases")
      let query = CatalogStore.alsoBought(UUID(id: anchor)!, minimumSupport: 2, inStockOnly: true, limit: 12)
      let plan = try await h.service.store.explain(query.sql, query.parameters)
      #expect(plan.contains("co_purchases_pkey"))
      #expect(!plan.contains("Seq Scan on co_purchases"))
      #expect(try await Self.recommend(h, product: anchor).ids == [partner])
    }
  }
}
