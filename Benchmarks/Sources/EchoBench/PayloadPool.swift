/// The request payloads a client cycles through: English-like text (words drawn with a
/// fixed-seed generator), so that zstd has something realistic to do, and many distinct
/// payloads, so that a compressed stream cannot just point back at the previous identical
/// message. Every implementation sends the same bytes.
struct PayloadPool: Sendable {
  /// Distinct payloads, each exactly `size` bytes.
  let payloads: [[UInt8]]

  init(size: Int, seed: UInt64 = 0x5EED) {
    // Enough distinct payloads to exceed a 128 KiB zstd window several times over.
    let count = max(64, min(4096, (1 << 20) / max(size, 1)))
    var generator = SplitMixGenerator(seed: seed &+ UInt64(size))
    payloads = (0..<count).map { _ in Self.text(size: size, using: &generator) }
  }

  subscript(index: Int) -> [UInt8] { payloads[index % payloads.count] }

  /// `size` bytes of space-separated words from a commerce vocabulary.
  static func text(size: Int, using generator: inout SplitMixGenerator) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(size + 16)
    while out.count < size {
      let word = vocabulary[Int(generator.next() % UInt64(vocabulary.count))]
      out.append(contentsOf: word.utf8)
      out.append(UInt8(ascii: generator.next() % 11 == 0 ? "." : " "))
      if generator.next() % 9 == 0 { out.append(contentsOf: String(generator.next() % 10_000).utf8) }
    }
    return Array(out.prefix(size))
  }

  static let vocabulary: [String] = [
    "order", "shipped", "customer", "payment", "captured", "stock", "reserved", "warehouse", "parcel",
    "delivery", "express", "standard", "refund", "invoice", "cart", "checkout", "product", "variant",
    "colour", "size", "matte", "white", "black", "stainless", "steel", "ceramic", "glass", "coffee",
    "grinder", "kettle", "filter", "scale", "timer", "review", "rating", "seller", "discount", "coupon",
    "address", "Berlin", "Potsdam", "Lisbon", "Madrid", "street", "postal", "code", "region", "phone",
    "the", "a", "and", "to", "of", "with", "for", "on", "in", "after", "before", "was", "is", "will",
    "EUR", "USD", "quantity", "price", "total", "tax", "fee", "gift", "wrap", "note", "tracking", "carrier",
    "DHL", "UPS", "returned", "cancelled", "pending", "authorized", "declined", "retry", "backorder",
  ]
}
