import Foundation
import LoadCore
import Testing

@testable import loadgen

@Suite struct ProductPickerTests {
  func frequencies(_ picker: ProductPicker, draws: Int) -> [Int] {
    var random = SplitMix64(seed: 11)
    var counts = [Int](repeating: 0, count: picker.count)
    for _ in 0..<draws { counts[picker.pick(&random)] += 1 }
    return counts
  }

  @Test func zipfFollowsItsExponent() {
    // P(rank k) ∝ 1/k^s: with s = 1, rank 1 is drawn twice as often as rank 2, 10 times as often
    // as rank 10. 200,000 draws: the ratios are within a few percent (deterministic seed).
    let counts = frequencies(ProductPicker(count: 1_000, exponent: 1), draws: 200_000)
    let ratio2 = Double(counts[0]) / Double(counts[1])
    let ratio10 = Double(counts[0]) / Double(counts[9])
    #expect(abs(ratio2 - 2) < 0.15)
    #expect(abs(ratio10 - 10) < 1.5)
    // The head: H(1000) ≈ 7.485, so rank 1 holds about 13.4% of the draws.
    #expect(abs(Double(counts[0]) / 200_000 - 1 / 7.485) < 0.01)
  }

  @Test func uniformSpreadsEvenly() {
    let counts = frequencies(ProductPicker(count: 10, exponent: nil), draws: 100_000)
    #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
  }
}
