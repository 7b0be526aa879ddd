import Foundation

/// A warehouse as stored.
struct WarehouseRecord: Sendable, Equatable {
  var id: UUID
  var code: String
  var name: String
  var regionCode: String
  var createdAt: Date
}

/// The stock of one product in one warehouse, as stored.
struct StockRow: Sendable, Equatable {
  var productID: String
  var warehouseID: UUID
  var onHand: Int64
  var reserved: Int64
  var version: Int64
  var updatedAt: Date

  var available: Int64 { onHand - reserved }

  /// The row's key, in the order rows are locked: product, then warehouse.
  var key: StockKey { StockKey(productID: productID, warehouseID: warehouseID) }
}

/// A stock row's key. Transactions that lock several rows lock them in this order.
struct StockKey: Sendable, Hashable, Comparable {
  var productID: String
  var warehouseID: UUID

  static func < (a: StockKey, b: StockKey) -> Bool {
    if a.productID != b.productID { return a.productID < b.productID }
    return a.warehouseID.lowercasedText < b.warehouseID.lowercasedText
  }
}

extension UUID {
  var lowercasedText: String { uuidString.lowercased() }
}

/// The lifecycle state of a reservation, as the schema spells it.
enum ReservationState: String, Sendable {
  case active = "ACTIVE"
  case committed = "COMMITTED"
  case released = "RELEASED"
  case expired = "EXPIRED"
}

/// Units of one request line held in one warehouse.
struct Allocation: Sendable, Equatable {
  var lineIndex: Int32
  var productID: String
  var warehouseID: UUID
  var quantity: Int64
}

/// A reservation as stored, with its allocations.
struct ReservationRecord: Sendable, Equatable {
  var id: UUID
  var orderID: String
  var state: ReservationState
  var createdAt: Date
  var expiresAt: Date
  var finishedAt: Date?
  var allocations: [Allocation]

  /// The units held per stock row.
  var unitsByRow: [StockKey: Int64] {
    allocations.reduce(into: [:]) { $0[StockKey(productID: $1.productID, warehouseID: $1.warehouseID), default: 0] += $1.quantity }
  }
}

/// One entry of the stock ledger: why a stock row changed.
struct LedgerEntry: Sendable {
  enum Kind: String, Sendable {
    case set = "SET"
    case adjust = "ADJUST"
    case reserve = "RESERVE"
    case commit = "COMMIT"
    case release = "RELEASE"
    case expire = "EXPIRE"
  }

  var kind: Kind
  var reason: String? = nil
  var reservationID: UUID? = nil
  var actor: String
  var note: String? = nil
}
