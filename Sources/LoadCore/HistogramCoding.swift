import CZlib
import Foundation
public import Histogram

/// HdrHistogram's V2 histogram encoding, plain and compressed, as every HdrHistogram
/// implementation (Java, C, Go, Python, Rust) reads and writes it; hdrhistogram-swift 0.2.0 has
/// none. Big-endian throughout.
///
/// Plain (cookie 0x1c849313), a 40-byte header then the counts:
/// `cookie:i32 payloadLength:i32 normalizingIndexOffset:i32 significantDigits:i32
/// lowestDiscernibleValue:i64 highestTrackableValue:i64 integerToDoubleRatio:f64`, then the
/// counts array up to the index of the largest recorded value, each count as a ZigZag LEB128
/// varint (at most 9 bytes, the ninth carrying 8 bits), and a run of N > 1 zero counts as the
/// single varint -N.
///
/// Compressed (cookie 0x1c849314): `cookie:i32 length:i32`, then the plain encoding deflated
/// with zlib. Interval logs hold the compressed form in base64.
public enum HistogramCoding {
  static let encodingCookie: UInt32 = 0x1c84_9303 | 0x10
  static let compressedCookie: UInt32 = 0x1c84_9304 | 0x10

  /// What goes wrong reading an encoded histogram.
  public enum DecodingError: Error, Equatable {
    case truncated
    case badCookie(UInt32)
    case unsupported(String)
    case inflateFailed(Int32)
  }

  // MARK: Layout (as AbstractHistogram computes it)

  struct Layout {
    let unitMagnitude: Int
    let subBucketHalfCountMagnitude: Int
    let subBucketHalfCount: Int
    let subBucketMask: UInt64
    let leadingZeroCountBase: Int

    init(lowestDiscernibleValue: UInt64, significantDigits: Int) {
      let largestValueWithSingleUnitResolution = 2 * UInt64(pow(10.0, Double(significantDigits)))
      unitMagnitude = 63 - lowestDiscernibleValue.leadingZeroBitCount
      let subBucketCountMagnitude = Int(ceil(log2(Double(largestValueWithSingleUnitResolution))))
      subBucketHalfCountMagnitude = subBucketCountMagnitude - 1
      let subBucketCount = 1 << subBucketCountMagnitude
      subBucketHalfCount = subBucketCount / 2
      subBucketMask = UInt64(subBucketCount - 1) << UInt64(unitMagnitude)
      leadingZeroCountBase = 64 - unitMagnitude - subBucketCountMagnitude
    }

    func index(of value: UInt64) -> Int {
      let bucketIndex = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
      let subBucketIndex = Int(value >> UInt64(bucketIndex + unitMagnitude))
      return ((bucketIndex + 1) << subBucketHalfCountMagnitude) + (subBucketIndex - subBucketHalfCount)
    }

    func value(at index: Int) -> UInt64 {
      var bucketIndex = (index >> subBucketHalfCountMagnitude) - 1
      var subBucketIndex = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
      if bucketIndex < 0 {
        subBucketIndex -= subBucketHalfCount
        bucketIndex = 0
      }
      return UInt64(subBucketIndex) << UInt64(bucketIndex + unitMagnitude)
    }
  }

  // MARK: Encoding

  /// The plain V2 encoding of `histogram`.
  public static func encode(_ histogram: LatencyHistogram) -> [UInt8] {
    let digits = Int(histogram.numberOfSignificantValueDigits.rawValue)
    let layout = Layout(lowestDiscernibleValue: histogram.lowestDiscernibleValue, significantDigits: digits)
    var counts: [UInt64] = []
    if histogram.totalCount > 0 {
      counts = Array(repeating: 0, count: layout.index(of: histogram.max) + 1)
      for entry in histogram.recordedValues() {
        counts[layout.index(of: entry.value)] += UInt64(entry.count)
      }
    } else {
      counts = [0]
    }
    var payload: [UInt8] = []
    payload.reserveCapacity(counts.count)
    var i = 0
    while i < counts.count {
      let count = counts[i]
      i += 1
      if count == 0 {
        var zeros: Int64 = 1
        while i < counts.count && counts[i] == 0 {
          zeros += 1
          i += 1
        }
        putZigZag(zeros > 1 ? -zeros : 0, into: &payload)
      } else {
        putZigZag(Int64(count), into: &payload)
      }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(40 + payload.count)
    put(encodingCookie, into: &bytes)
    put(UInt32(payload.count), into: &bytes)
    put(UInt32(0), into: &bytes)
    put(UInt32(digits), into: &bytes)
    put(histogram.lowestDiscernibleValue, into: &bytes)
    put(histogram.highestTrackableValue, into: &bytes)
    put((1.0).bitPattern, into: &bytes)
    bytes += payload
    return bytes
  }

  /// The compressed V2 encoding of `histogram`.
  public static func encodeCompressed(_ histogram: LatencyHistogram) -> [UInt8] {
    let plain = encode(histogram)
    var length = compressBound(uLong(plain.count))
    var deflated = [UInt8](repeating: 0, count: Int(length))
    let status = compress2(&deflated, &length, plain, uLong(plain.count), Z_DEFAULT_COMPRESSION)
    precondition(status == Z_OK, "zlib compress2 failed: \(status)")
    var bytes: [UInt8] = []
    put(compressedCookie, into: &bytes)
    put(UInt32(length), into: &bytes)
    bytes += deflated[0..<Int(length)]
    return bytes
  }

  /// The compressed encoding in base64, as an interval log line holds it.
  public static func encodeBase64(_ histogram: LatencyHistogram) -> String {
    Data(encodeCompressed(histogram)).base64EncodedString()
  }

  // MARK: Decoding

  /// Reads a plain or compressed V2 encoding. `maxInflatedSize` bounds the plain size a
  /// compressed encoding may claim (default 64 MiB).
  public static func decode(_ bytes: [UInt8], maxInflatedSize: Int = 64 << 20) throws -> LatencyHistogram {
    var reader = Reader(bytes: bytes[...])
    let cookie = try reader.u32()
    switch cookie {
    case compressedCookie:
      let length = Int(try reader.u32())
      let deflated = try reader.take(length)
      return try decode(inflate(Array(deflated), limit: maxInflatedSize), maxInflatedSize: maxInflatedSize)
    case encodingCookie:
      let payloadLength = Int(try reader.u32())
      let offset = try reader.u32()
      guard offset == 0 else { throw DecodingError.unsupported("normalizingIndexOffset \(offset)") }
      let digits = Int(try reader.u32())
      let lowest = try reader.u64()
      let highest = try reader.u64()
      _ = try reader.u64()  // integerToDoubleValueConversionRatio: integer histograms only
      guard let significant = SignificantDigits(rawValue: Int8(clamping: digits)), lowest >= 1, highest >= 2 * lowest
      else { throw DecodingError.unsupported("layout \(digits) digits, \(lowest)...\(highest)") }
      var histogram = LatencyHistogram(
        lowestDiscernibleValue: lowest, highestTrackableValue: highest, numberOfSignificantValueDigits: significant)
      histogram.autoResize = true
      let layout = Layout(lowestDiscernibleValue: lowest, significantDigits: digits)
      var payload = Reader(bytes: try reader.take(payloadLength))
      var index = 0
      while !payload.isEmpty {
        let value = try payload.zigZag()
        if value < 0 {
          index += Int(-value)
        } else {
          if value > 0 { _ = histogram.record(layout.value(at: index), count: UInt64(value)) }
          index += 1
        }
      }
      return histogram
    default:
      throw DecodingError.badCookie(cookie)
    }
  }

  /// Reads the base64 of a compressed encoding.
  public static func decodeBase64(_ text: some StringProtocol) throws -> LatencyHistogram {
    guard let data = Data(base64Encoded: String(text)) else { throw DecodingError.truncated }
    return try decode([UInt8](data))
  }

  private static func inflate(_ deflated: [UInt8], limit: Int) throws -> [UInt8] {
    var capacity = max(1024, deflated.count * 8)
    while true {
      var length = uLongf(capacity)
      var inflated = [UInt8](repeating: 0, count: capacity)
      let status = uncompress(&inflated, &length, deflated, uLong(deflated.count))
      if status == Z_OK { return Array(inflated[0..<Int(length)]) }
      guard status == Z_BUF_ERROR, capacity < limit else { throw DecodingError.inflateFailed(status) }
      capacity = min(limit, capacity * 4)
    }
  }

  // MARK: Primitives

  private static func put(_ value: UInt32, into bytes: inout [UInt8]) {
    for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
  }

  private static func put(_ value: UInt64, into bytes: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
  }

  /// ZigZag, then LEB128 in at most 9 bytes (the ninth holds the last 8 bits), as
  /// HdrHistogram's ZigZagEncoding.putLong.
  static func putZigZag(_ value: Int64, into bytes: inout [UInt8]) {
    var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
    for _ in 0..<8 {
      if v >> 7 == 0 {
        bytes.append(UInt8(v))
        return
      }
      bytes.append(UInt8(v & 0x7f) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(truncatingIfNeeded: v))
  }

  struct Reader {
    var bytes: ArraySlice<UInt8>

    var isEmpty: Bool { bytes.isEmpty }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
      guard count >= 0, bytes.count >= count else { throw DecodingError.truncated }
      defer { bytes = bytes.dropFirst(count) }
      return bytes.prefix(count)
    }

    mutating func u32() throws -> UInt32 {
      try take(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws -> UInt64 {
      try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func zigZag() throws -> Int64 {
      var v: UInt64 = 0
      var shift: UInt64 = 0
      for _ in 0..<8 {
        guard let byte = bytes.popFirst() else { throw DecodingError.truncated }
        v |= UInt64(byte & 0x7f) << shift
        if byte & 0x80 == 0 { return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }
        shift += 7
      }
      guard let last = bytes.popFirst() else { throw DecodingError.truncated }
      v |= UInt64(last) << 56
      return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }
  }
}
