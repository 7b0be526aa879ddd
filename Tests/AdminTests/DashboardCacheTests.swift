import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Testing

@testable import CommerceAdmin

@Suite("DashboardCache: figures a minute old at most, a bounded number of windows")
struct DashboardCacheTests {
  static func request(_ start: Int64) -> CommerceV1.GetDashboardRequest {
    .with { $0.windowStartTime = .with { $0.seconds = start } }
  }

  /// Computes figures stamped `at`, counting the computations.
  final class Source: @unchecked Sendable {
    var computed = 0
    func figures(at time: Date) -> CommerceV1.GetDashboardResponse {
      computed += 1
      return .with {
        $0.computeTime = .init(time)
        $0.ordersPlaced = Int64(computed)
      }
    }
  }

  @Test("a window's figures are reused for 60 seconds, then computed anew")
  func expiry() async throws {
    let cache = DashboardCache()
    let source = Source()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    for offset in [0.0, 30, 60] {
      let now = t0.addingTimeInterval(offset)
      let figures = try await cache.figures(for: Self.request(1), now: now) { source.figures(at: now) }
      #expect(figures.ordersPlaced == 1, "at +\(offset) s")
    }
    let later = t0.addingTimeInterval(60.5)
    #expect(try await cache.figures(for: Self.request(1), now: later) { source.figures(at: later) }.ordersPlaced == 2)
    // Another window is another entry.
    #expect(try await cache.figures(for: Self.request(2), now: later) { source.figures(at: later) }.ordersPlaced == 3)
  }

  @Test("beyond its capacity the cache forgets the oldest window")
  func capacity() async throws {
    let cache = DashboardCache(capacity: 2)
    let source = Source()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    for (index, window) in [1, 2, 3].enumerated() {
      let now = t0.addingTimeInterval(Double(index))
      _ = try await cache.figures(for: Self.request(Int64(window)), now: now) { source.figures(at: now) }
    }
    let now = t0.addingTimeInterval(5)
    // Window 3 and 2 are kept; window 1, the oldest, was dropped.
    #expect(try await cache.figures(for: Self.request(3), now: now) { source.figures(at: now) }.ordersPlaced == 3)
    #expect(try await cache.figures(for: Self.request(2), now: now) { source.figures(at: now) }.ordersPlaced == 2)
    #expect(try await cache.figures(for: Self.request(1), now: now) { source.figures(at: now) }.ordersPlaced == 4)
  }
}
