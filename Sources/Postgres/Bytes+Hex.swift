extension Array where Element == UInt8 {
  /// The bytes as lowercase hexadecimal digits. The driver has no `bytea[]` parameters, so
  /// statements that take many byte strings at once send them as text (`decode($1, 'hex')`
  /// per element, or `'\x' || digits` in bytea's hex input form for COPY).
  public var hexDigits: String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(count * 2)
    for byte in self {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}
