import Foundation
import LoadCore

/// Which product a journey buys or views: uniform over `count` products, or Zipf-distributed
/// with exponent `s` (rank 1 the most popular), by inverse transform over the precomputed
/// cumulative weights (binary search: O(log n) per pick, exact for any s).
struct ProductPicker: Sendable {
  private let cumulative: [Double]
  let count: Int

  /// `exponent` nil or 0: uniform.
  init(count: Int, exponent: Double?) {
    precondition(count > 0, "no products to pick from")
    self.count = count
    if let exponent, exponent > 0 {
      var total = 0.0
      var cumulative: [Double] = []
      cumulative.reserveCapacity(count)
      for rank in 1...count {
        total += 1 / pow(Double(rank), exponent)
        cumulative.append(total)
      }
      self.cumulative = cumulative.map { $0 / total }
    } else {
      cumulative = []
    }
  }

  /// An index in 0..<count.
  func pick(_ random: inout SplitMix64) -> Int {
    guard !cumulative.isEmpty else { return Int(random.next() % UInt64(count)) }
    let u = random.nextUnitInterval()
    var low = 0, high = cumulative.count - 1
    while low < high {
      let middle = (low + high) / 2
      if cumulative[middle] < u { low = middle + 1 } else { high = middle }
    }
    return low
  }
}
