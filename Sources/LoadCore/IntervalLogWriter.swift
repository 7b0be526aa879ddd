public import Foundation
public import Histogram
import Synchronization

/// Writes an HdrHistogram interval log (log format version 1.3), the text format that
/// HdrHistogram's HistogramLogReader, HistogramLogProcessor and the other implementations' log
/// readers take:
///
/// ```
/// #[StartTime: 1718000000.000 (seconds since epoch), 2024-06-10T06:13:20Z]
/// #[Histogram log format version 1.3]
/// #[BaseTime: 1718000000.000 (seconds since epoch)]
/// "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
/// Tag=checkout.login,0.000,1.000,12.543,HISTFAAAA...
/// ```
///
/// Timestamps are seconds relative to BaseTime; values are microseconds, and Interval_Max is in
/// milliseconds (max value divisor 1000). Each operation is its own tag. Appends are serialized
/// by a lock, so any task may append.
public final class IntervalLogWriter: Sendable {
  private let handle: FileHandle
  private let lock = Mutex(())
  /// The divisor of Interval_Max: microsecond values, maxima in milliseconds.
  public static let maxValueDivisor = 1_000.0

  /// Creates (or truncates) the file at `path` and writes the header; `startTime` is the run's
  /// start (the log's StartTime and BaseTime).
  public init(path: String, startTime: Date, comment: String? = nil) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
    handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    var header = ""
    if let comment { header += "#\(comment)\n" }
    let seconds = String(format: "%.3f", startTime.timeIntervalSince1970)
    header += "#[StartTime: \(seconds) (seconds since epoch), \(ISO8601DateFormatter().string(from: startTime))]\n"
    header += "#[Histogram log format version 1.3]\n"
    header += "#[BaseTime: \(seconds) (seconds since epoch)]\n"
    header += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    try handle.write(contentsOf: Data(header.utf8))
  }

  /// Appends one interval's histogram: `start` seconds after BaseTime, `length` seconds long.
  public func append(tag: String?, start: Double, length: Double, histogram: LatencyHistogram) throws {
    try lock.withLock { _ in try handle.write(contentsOf: Data(Self.line(tag: tag, start: start, length: length, histogram: histogram).utf8)) }
  }

  /// Appends every operation of an interval snapshot's measured calls (statuses merged), one
  /// line each; nothing for an interval without measured calls.
  public func append(_ snapshot: IntervalSnapshot) throws {
    for operation in Set(snapshot.measuredHistograms.keys.map(\.operation)).sorted() {
      try append(
        tag: operation, start: snapshot.stats.start, length: snapshot.stats.length,
        histogram: snapshot.measuredHistogram(of: operation))
    }
  }

  public func close() throws { try handle.close() }

  static func line(tag: String?, start: Double, length: Double, histogram: LatencyHistogram) -> String {
    var line = ""
    if let tag { line += "Tag=\(tag.replacingOccurrences(of: ",", with: "_").replacingOccurrences(of: " ", with: "_"))," }
    line += String(
      format: "%.3f,%.3f,%.3f,", start, length, Double(histogram.totalCount == 0 ? 0 : histogram.max) / maxValueDivisor)
    line += HistogramCoding.encodeBase64(histogram) + "\n"
    return line
  }
}

/// One histogram line of an interval log.
public struct IntervalLogEntry: Sendable {
  public var tag: String?
  /// Seconds from BaseTime (or the log's own absolute time when it has none).
  public var start: Double
  public var length: Double
  public var histogram: LatencyHistogram
}

/// Reads interval logs as ``IntervalLogWriter`` (and HdrHistogram's HistogramLogWriter) write
/// them: comments and the column header are skipped; BaseTime and StartTime are read.
public enum IntervalLogReader {
  public struct Log: Sendable {
    public var startTime: Double?
    public var baseTime: Double?
    public var entries: [IntervalLogEntry]
  }

  public static func read(_ text: String) throws -> Log {
    var log = Log(entries: [])
    for raw in text.split(whereSeparator: \.isNewline) {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("\"StartTimestamp\"") { continue }
      if line.hasPrefix("#[StartTime: ") { log.startTime = number(after: "#[StartTime: ", in: line) }
      if line.hasPrefix("#[BaseTime: ") { log.baseTime = number(after: "#[BaseTime: ", in: line) }
      if line.hasPrefix("#") { continue }
      var fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      var tag: String?
      if let first = fields.first, first.hasPrefix("Tag=") {
        tag = String(first.dropFirst(4))
        fields.removeFirst()
      }
      guard fields.count == 4, let start = Double(fields[0]), let length = Double(fields[1]) else {
        throw HistogramCoding.DecodingError.unsupported("interval log line: \(line)")
      }
      log.entries.append(
        IntervalLogEntry(tag: tag, start: start, length: length, histogram: try HistogramCoding.decodeBase64(fields[3])))
    }
    return log
  }

  private static func number(after prefix: String, in line: String) -> Double? {
    Double(line.dropFirst(prefix.count).prefix { !$0.isWhitespace })
  }
}
