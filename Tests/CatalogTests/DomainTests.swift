import CommerceAPI
import Foundation
import Messages
import Testing

@testable import CommerceCatalog

@Suite("CatalogService domain")
struct DomainTests {
  @Test func queriesBecomeSafeTsqueries() {
    #expect(SearchText("Wireless Headphones").tsquery == "'wireless' & 'headphones':*")
    #expect(SearchText("\"noise cancelling\" -wired").tsquery == "('noise' <-> 'cancelling') & !'wired'")
    #expect(SearchText("earbuds OR speaker case").tsquery == "('earbuds' | 'speaker') & 'case':*")
    #expect(SearchText("wi-fi router").tsquery == "('wi' <-> 'fi') & 'router':*")
    // Operators typed by the user are never operators of the tsquery.
    #expect(SearchText("a & b | !c ' :* <->").tsquery == "'a' & 'b' & 'c':*")
    #expect(SearchText("  ").tsquery == nil)
    #expect(SearchText("OR").isEmpty)
    #expect(SearchText("Café").tsquery == "'café':*")
    #expect(SearchText("hedphones -cheap").display == "hedphones -cheap")
  }

  @Test func onlyLongPlainWordsAreCorrectable() {
    let text = SearchText("usb \"noise cancelling\" -cheap hedphones")
    #expect(text.correctableWords.map(\.word) == ["hedphones"])
    #expect(text.correctableWords.map(\.prefix) == [true])
    let corrected = text.correcting(["hedphones": "headphones"])
    #expect(corrected.display == "usb \"noise cancelling\" -cheap headphones")
  }

  @Test func typosAreOneEditAway() {
    #expect(SearchText.editDistance("headphones", "hedphones") == 1)  // missing
    #expect(SearchText.editDistance("headphones", "haedphones") == 1)  // transposed
    #expect(SearchText.editDistance("headphones", "headphonez") == 1)  // wrong
    #expect(SearchText.editDistance("headphones", "headphoness") == 1)  // extra
    #expect(SearchText.editDistance("headphones", "headphones") == 0)
    #expect(SearchText.editDistance("headphones", "hdphones") == 2)
    #expect(SearchText.editDistance("speaker", "sneakers") == 2)
  }

  @Test func priceBucketsMergeFriendlyBandsIntoAboutFive() {
    let bounds = CatalogStore.SearchPlan.priceBandBounds
    #expect(bounds.prefix(7) == [1, 2, 5, 10, 20, 50, 100])
    // Band i (width_bucket) holds prices from bounds[i - 1]: bands 10 ... 16 start at 1000.
    let bands = (10...16).map { (index: $0, count: Int64(10)) } + [(index: 20, count: 30)]
    let buckets = PriceBuckets.merge(bands, currency: "USD")
    #expect(buckets.count <= 5 && buckets.count >= 3)
    #expect(buckets.reduce(0) { $0 + $1.count } == 100)
    #expect(buckets.first?.minPrice?.amountMinor == 1000)
    #expect(buckets.last?.maxPrice == nil)
    for (a, b) in zip(buckets, buckets.dropFirst()) { #expect(a.maxPrice?.amountMinor == b.minPrice?.amountMinor) }
    let friendly: Set<Int64> = Set(bounds)
    #expect(buckets.allSatisfy { friendly.contains($0.minPrice!.amountMinor) })
    #expect(PriceBuckets.merge([], currency: "USD").isEmpty)
  }

  @Test func theCacheStoresOnlyWhileListeningAndNeverAStaleFill() {
    let cache = ProductCache<Int, String>(budgetBytes: 1000, timeToLive: .seconds(60))
    cache.store(1, "one", size: 10, ticket: cache.ticket())
    #expect(cache.value(for: 1) == nil)  // not listening yet
    cache.setListening(true)
    cache.store(1, "one", size: 10, ticket: cache.ticket())
    #expect(cache.value(for: 1) == "one")
    // A fill whose read began before an invalidation is dropped.
    let early = cache.ticket()
    cache.invalidate(1)
    cache.store(1, "stale", size: 10, ticket: early)
    #expect(cache.value(for: 1) == nil)
    cache.store(1, "fresh", size: 10, ticket: cache.ticket())
    #expect(cache.value(for: 1) == "fresh")
    cache.invalidate(nil)
    #expect(cache.value(for: 1) == nil)
  }

  @Test func theCacheStaysWithinItsBudgetAndExpires() {
    let cache = ProductCache<Int, String>(budgetBytes: 1000, timeToLive: .seconds(60))
    cache.setListening(true)
    for key in 0..<50 {
      cache.store(key, "v", size: 100, ticket: cache.ticket())
      _ = cache.value(for: 0)  // keep key 0 recently used
    }
    #expect(cache.statistics.bytes <= 1000)
    #expect(cache.value(for: 0) == "v")
    #expect(cache.value(for: 49) == "v")
    #expect(cache.value(for: 1) == nil)
    let now = ContinuousClock.now
    cache.store(100, "old", size: 10, ticket: cache.ticket(), now: now)
    #expect(cache.value(for: 100, now: now + .seconds(59)) == "old")
    #expect(cache.read(100, now: now + .seconds(59)) { $0.count } == 3)
    // An expired entry is gone, and its bytes with it.
    let before = cache.statistics
    #expect(cache.read(100, now: now + .seconds(61)) { $0.count } == nil)
    let after = cache.statistics
    #expect(after.entries == before.entries - 1)
    #expect(after.bytes == before.bytes - 10)
    #expect(cache.value(for: 100, now: now) == nil)
  }
}
