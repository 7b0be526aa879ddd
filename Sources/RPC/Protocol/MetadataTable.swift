/// The metadata table of one connection (docs/PROTOCOL.md §7.1): entries a client stored with
/// earlier calls, which later calls name by index instead of sending them again. A server that
/// announces METADATA_TABLE_SIZE keeps one (``MetadataTable``); the client mirrors it
/// (``MetadataTableEncoder``). Both fill slot `stored % size`, in the order the HEADERS frames
/// travel, so they agree without any acknowledgement.
///
/// It exists for the few large values that every call repeats: an access token is a few hundred
/// bytes, more than a typical request message, and without the table every call carries it
/// and the server validates it and makes a `String` of it again.
struct MetadataTable {
  /// Bit 31 of an entry's value length: store this entry in the table.
  static let storeFlag: UInt32 = 1 << 31

  private var slots: TableSlots<(key: String, value: Metadata.Entry)>

  init(size: Int) { slots = TableSlots(size: size) }

  /// Stores an entry in the next slot, replacing the oldest once the table is full.
  mutating func store(key: String, value: Metadata.Entry) { slots.store((key, value)) }

  /// The entry in slot `index`, or nil when that slot was never filled.
  func entry(at index: Int) -> (key: String, value: Metadata.Entry)? { slots[index] }
}

/// The slots both sides of a metadata table fill alike: slot `stored mod size`.
struct TableSlots<Element> {
  let size: Int
  private(set) var elements: [Element] = []
  private var stored = 0

  init(size: Int) {
    self.size = size
    elements.reserveCapacity(size)
  }

  mutating func store(_ element: Element) {
    if elements.count < size {
      elements.append(element)
    } else {
      elements[stored % size] = element
    }
    stored += 1
  }

  /// The element in slot `index`, or nil when that slot was never filled.
  subscript(index: Int) -> Element? { index < elements.count ? elements[index] : nil }
}

/// The client's mirror of the server's ``MetadataTable``: decides, entry by entry in the order
/// they are written, whether to send an entry as it is, send it and store it, or name the slot
/// that holds it. Only the values of ``indexedKeys`` of at least ``minimumSize`` bytes are
/// stored: credentials, which repeat on every call of a connection.
struct MetadataTableEncoder {
  /// How to write one entry.
  enum Use: Equatable {
    case literal
    case store
    case reference(UInt16)
  }

  /// The keys whose values are worth a slot.
  static let indexedKeys = ["authorization", "x-on-behalf-of"]
  /// Shorter values cost less to send than a slot is worth.
  static let minimumSize = 16

  /// The server's METADATA_TABLE_SIZE; 0 until it announced one (nothing is stored then).
  var size: Int {
    get { slots.size }
    set { slots = TableSlots(size: newValue) }
  }
  private var slots = TableSlots<(key: String, value: String)>(size: 0)

  /// How to write entry `key`: `value`, updating the mirror as the server will update its table.
  mutating func use(key: String, value: String) -> Use {
    guard size > 0, value.utf8.count >= Self.minimumSize, Self.indexedKeys.contains(key) else { return .literal }
    // A handful of slots: a scan is cheaper than hashing a token of a few hundred bytes, and a
    // caller reusing its options passes the same string, which compares by identity.
    for (index, slot) in slots.elements.enumerated() where slot.key == key && slot.value == value {
      return .reference(UInt16(index))
    }
    slots.store((key, value))
    return .store
  }
}
