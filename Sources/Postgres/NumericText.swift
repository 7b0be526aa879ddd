/// `numeric`'s binary format to its exact decimal text.
///
/// The format: digit count, weight (of the first digit, in base-10000 places), sign, display
/// scale, then the base-10000 digits (each an `int16`).
enum NumericText {
  static func decode(_ bytes: UnsafeRawBufferPointer) throws -> String {
    var reader = BinaryReader(bytes)
    let count = Int(try reader.read(Int16.self))
    let weight = Int(try reader.read(Int16.self))
    let sign = try reader.read(UInt16.self)
    let scale = Int(try reader.read(Int16.self))
    switch sign {
    case 0xC000: return "NaN"
    case 0xD000: return "Infinity"
    case 0xF000: return "-Infinity"
    case 0x0000, 0x4000: break
    default: throw PostgresError.client(.malformedValue, "has an unknown numeric sign")
    }
    guard count >= 0 else {
      throw PostgresError.client(.malformedValue, "has a negative numeric digit count")
    }
    var digits: [Int] = []
    digits.reserveCapacity(count)
    for _ in 0..<count {
      digits.append(Int(try reader.read(Int16.self)))
    }
    func digit(_ index: Int) -> Int {
      index >= 0 && index < digits.count ? digits[index] : 0
    }
    func padded(_ value: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: 4 - text.count) + text
    }

    var text = sign == 0x4000 && count > 0 ? "-" : ""
    if weight < 0 || count == 0 {
      text += "0"
    } else {
      for index in 0...weight {
        text += index == 0 ? String(digit(index)) : padded(digit(index))
      }
    }
    if scale > 0 {
      var fraction = ""
      var index = max(weight + 1, 0)
      // Groups before the first stored digit (weight < -1) are zeros.
      if weight < -1 {
        fraction += String(repeating: "0000", count: -(weight + 1))
      }
      while fraction.count < scale {
        fraction += padded(digit(index))
        index += 1
      }
      text += "." + fraction.prefix(scale)
    }
    return text
  }
}
