import Foundation
import Histogram
import Testing

@testable import LoadCore

@Suite struct HistogramCodingTests {
  /// A histogram of spread values: small, mid-range, one large outlier, repeated counts.
  static func sample() -> LatencyHistogram {
    var histogram = LatencyHistogram.latency()
    var random = SplitMix64(seed: 7)
    for _ in 0..<10_000 { histogram.recordNanoseconds(1_000 + random.next() % 50_000_000) }
    _ = histogram.record(3_600_000_000, count: 3)  // an hour: past the initial range
    _ = histogram.record(1, count: 17)
    return histogram
  }

  @Test func plainEncodingRoundTrips() throws {
    let histogram = Self.sample()
    let decoded = try HistogramCoding.decode(HistogramCoding.encode(histogram))
    #expect(decoded == histogram)
    #expect(decoded.totalCount == 10_020)
    #expect(decoded.max == histogram.max)
    #expect(decoded.valueAtPercentile(99) == histogram.valueAtPercentile(99))
  }

  @Test func compressedBase64RoundTrips() throws {
    let histogram = Self.sample()
    let text = HistogramCoding.encodeBase64(histogram)
    #expect(text.hasPrefix("HISTFAAA"))  // the compressed V2 cookie, as every HdrHistogram log shows
    #expect(try HistogramCoding.decodeBase64(text) == histogram)
  }

  /// Written by another implementation (Python's hdrhistogram 0.10.8: a 1 µs...1 h, 3-digit
  /// histogram of 10, 20, ..., 10,000 and 5 × 2,500,000): read here with the same counts and
  /// percentiles that implementation reports.
  @Test func readsAnotherImplementationsEncoding() throws {
    let text = "HISTFAAAAEJ4nJNpmSzMwMDuwwABzFCaEURcm7yEwf4DRECYSXAUDkLIz8Q+CgclZGViZGIexaN4FBONGZmAYHgTB+u5AKoSJIk="
    let histogram = try HistogramCoding.decodeBase64(text)
    #expect(histogram.totalCount == 1_005)
    #expect(histogram.valueAtPercentile(50) == 5_031)
    #expect(histogram.valueAtPercentile(99) == 9_951)
    #expect(histogram.max == 2_500_607)
    #expect(histogram.min == 10)
  }

  @Test func emptyHistogramRoundTrips() throws {
    let empty = LatencyHistogram.latency()
    let decoded = try HistogramCoding.decode(HistogramCoding.encodeCompressed(empty))
    #expect(decoded.totalCount == 0)
    #expect(decoded == empty)
  }

  /// The header and counts of a tiny histogram, byte for byte, as HdrHistogram's V2 format
  /// lays them out: 1 and 3 recorded in a 1...2048, 3-digit histogram.
  @Test func plainEncodingMatchesTheFormatByteForByte() {
    var histogram = LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 2048, numberOfSignificantValueDigits: .three)
    _ = histogram.record(1)
    _ = histogram.record(3, count: 2)
    let bytes = HistogramCoding.encode(histogram)
    // counts: [0, 1, 0, 2] -> 0 (a single zero), 1 -> 2, 0 -> 0, 2 -> 4 (ZigZag).
    let payload: [UInt8] = [0x00, 0x02, 0x00, 0x04]
    let header: [UInt8] =
      [0x1c, 0x84, 0x93, 0x13] + [0, 0, 0, 4] + [0, 0, 0, 0] + [0, 0, 0, 3]
      + [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0x08, 0x00] + [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
    #expect(bytes == header + payload)
  }

  @Test func zeroRunsAndLargeCountsUseZigZagVarints() throws {
    var bytes: [UInt8] = []
    HistogramCoding.putZigZag(-300, into: &bytes)
    #expect(bytes == [0xd7, 0x04])  // ZigZag(-300) = 599 = 0x257
    bytes = []
    HistogramCoding.putZigZag(Int64.max, into: &bytes)
    #expect(bytes.count == 9)
    var reader = HistogramCoding.Reader(bytes: bytes[...])
    #expect(try reader.zigZag() == Int64.max)
  }

  @Test func badInputIsAnErrorNotACrash() {
    #expect(throws: HistogramCoding.DecodingError.self) { try HistogramCoding.decode([0x1c, 0x84]) }
    #expect(throws: HistogramCoding.DecodingError.self) { try HistogramCoding.decode([1, 2, 3, 4, 0, 0, 0, 0]) }
    #expect(throws: HistogramCoding.DecodingError.self) {
      try HistogramCoding.decode([0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 3, 1, 2, 3])
    }
  }
}
