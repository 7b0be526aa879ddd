import Foundation
import Histogram
import Testing

@testable import LoadCore

@Suite struct IntervalLogTests {
  @Test func intervalLogRoundTrips() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("loadcore-\(UUID().uuidString).hlog").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let start = Date(timeIntervalSince1970: 1_718_000_000.25)
    let writer = try IntervalLogWriter(path: path, startTime: start, comment: "loadgen test")
    var written: [(String, Double, LatencyHistogram)] = []
    for second in 0..<3 {
      for tag in ["checkout", "checkout.login"] {
        var histogram = LatencyHistogram.latency()
        for i in 0..<(100 * (second + 1)) { histogram.recordNanoseconds(UInt64(i * 37_000 + second * 1_000_000)) }
        try writer.append(tag: tag, start: Double(second), length: 1, histogram: histogram)
        written.append((tag, Double(second), histogram))
      }
    }
    try writer.close()

    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("#[Histogram log format version 1.3]"))
    #expect(text.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""))
    let log = try IntervalLogReader.read(text)
    #expect(log.baseTime == 1_718_000_000.25)
    #expect(log.startTime == 1_718_000_000.25)
    #expect(log.entries.count == written.count)
    for (entry, expected) in zip(log.entries, written) {
      #expect(entry.tag == expected.0)
      #expect(entry.start == expected.1)
      #expect(entry.length == 1)
      #expect(entry.histogram == expected.2)
    }
    // Interval_Max is the interval's max in milliseconds.
    let firstLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("Tag=checkout,") })
    let maxField = firstLine.split(separator: ",")[3]
    #expect(String(maxField) == String(format: "%.3f", Double(written[0].2.max) / 1_000))
  }
}
