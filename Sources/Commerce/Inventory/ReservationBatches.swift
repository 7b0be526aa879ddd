import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import Postgres
import RPC
import Synchronization

/// ReserveStock's group commit: concurrent reservations of the same products are served by one
/// transaction per batch (``Coalescer``), a fixed number of statements whatever the batch's
/// size, instead of one transaction each queueing on the hot rows' locks.
///
/// A batch's transaction:
/// 1. locks every stock row of every product the batch names, in (product, warehouse) order (the
///    order every stock-changing transaction uses, so batches and single calls never deadlock);
/// 2. allocates each request it can serve in arrival order from what the earlier ones left,
///    exactly as a lone call would: all-or-nothing per request, so 3 units and requests for 2, 2
///    and 1 answer yes, no, yes;
/// 3. writes the stock rows, reservations, allocations, ledger entries and one outbox event per
///    product in one statement, and the outcomes under the idempotency keys in another (a plain
///    insert of finished keys), both with COMMIT: two round trips.
///
/// Its keys are nearly always new, so the batch records them once, finished, instead of
/// claiming them first and updating the claims. When another call holds one of them (a retry),
/// the insert fails and with it the transaction, and the batch runs again the careful way:
/// lock, claim the keys (one statement), serve the claimed requests, upsert their outcomes.
///
/// A request the batch cannot decide goes back to its caller to run alone (``Answer/alone``): a
/// product without any stock row or a named warehouse without one (the lone path asks the
/// catalog and checks the warehouse, outside any transaction), a key already claimed or done
/// (the lone path replays or waits), a key repeated in the batch, or every request of a batch
/// whose transaction failed. No request is ever answered from a transaction that did not
/// commit.
struct ReservationBatches: Sendable {
  /// One validated ReserveStock call.
  struct Pending: Sendable {
    var request: CommerceV1.ReserveStockRequest
    var call: IdempotencyStore.Call
    /// Per line, the warehouse it names.
    var lineWarehouses: [UUID?]
    /// The distinct products, sorted.
    var products: [String]
    var actor: String
    var ttl: TimeInterval
    var deadline: ContinuousClock.Instant?
  }

  /// What a batch did with one call.
  enum Answer: Sendable {
    case reserved(CommerceV1.ReserveStockResponse)
    case failed(CommerceError)
    /// Not decided by the batch: the caller runs it on its own.
    case alone
  }

  /// How many batches ran again claiming their keys first, because another call held one of
  /// them (a retry of a call already answered or running).
  final class Reruns: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
  }

  let store: InventoryStore
  let idempotency: IdempotencyStore
  let logger: Logger
  let now: @Sendable () -> Date
  let reruns = Reruns()

  /// The lane of a call: a stable hash of its first product, so calls for the same (first)
  /// product always meet in the same lane.
  static func lane(of products: [String], lanes: Int) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in (products.first ?? "").utf8 {
      hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return Int(hash % UInt64(lanes))
  }

  /// Serves `batch`, answering each call in order. Runs under the latest of the calls' deadlines
  /// (none when any call has none), so one caller's short deadline does not fail the others.
  func execute(_ batch: [Pending]) async -> [Answer] {
    let deadline = batch.contains { $0.deadline == nil } ? nil : batch.compactMap(\.deadline).max()
    do {
      return try await RPCDeadline.$current.withValue(deadline) {
        do {
          return try await store.pool.withTransaction { tx in try await serve(batch, claimingFirst: false, in: tx) }
        } catch where IdempotencyStore.isKeyTaken(error) {
          // Another call holds a key of the batch: the claims single it out, and it runs alone.
          reruns.add()
          return try await store.pool.withTransaction { tx in try await serve(batch, claimingFirst: true, in: tx) }
        }
      }
    } catch {
      logger.warning("a reservation batch failed; its calls run alone", metadata: ["calls": "\(batch.count)", "error": "\(error)"])
      return Array(repeating: .alone, count: batch.count)
    }
  }

  /// Serves `batch` in `tx`. Claiming first, keys another call holds are left to their calls
  /// (``Answer/alone``); otherwise every key is taken to be new, and the outcomes' insert fails
  /// the transaction if one is not (``IdempotencyStore/recording(_:claimed:)``).
  private func serve(_ batch: [Pending], claimingFirst: Bool, in tx: PostgresTransaction) async throws -> [Answer] {
    let now = now().inPostgresPrecision
    let rows = try await store.lockStock(products: Array(Set(batch.flatMap(\.products))), in: tx)
    let keys = Set(rows.map(\.key))
    let stockedProducts = Set(rows.map(\.productID))

    var answers = [Answer](repeating: .alone, count: batch.count)
    var candidates: [Int] = []
    var seenKeys = Set<[String]>()
    for (index, pending) in batch.enumerated() {
      guard pending.products.allSatisfy(stockedProducts.contains) else { continue }
      let warehousesKnown = zip(pending.request.lines, pending.lineWarehouses).allSatisfy { line, warehouse in
        warehouse.map { keys.contains(StockKey(productID: line.productId, warehouseID: $0)) } ?? true
      }
      guard warehousesKnown, seenKeys.insert([pending.call.scope, pending.call.method, pending.call.key]).inserted else { continue }
      candidates.append(index)
    }
    let claimed =
      claimingFirst
      ? try await idempotency.claim(candidates.map { batch[$0].call }, in: tx) : Array(repeating: true, count: candidates.count)

    var current = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0) })
    var available = current.mapValues(\.available)
    var reservations: [ReservationRecord] = []
    var ledger: [InventoryStore.BatchLedgerEntry] = []
    var outcomes: [(call: IdempotencyStore.Call, outcome: IdempotencyStore.Outcome)] = []
    for (index, isClaimed) in zip(candidates, claimed) where isClaimed {
      let pending = batch[index]
      switch InventoryService.allocate(pending.request.lines, warehouses: pending.lineWarehouses, rows: rows, available: available) {
      case .failure(let error):
        answers[index] = .failed(error)
        outcomes.append((pending.call, .failure(error.rpcError)))
      case .success(let allocated):
        available = allocated.available
        let reservation = ReservationRecord(
          id: UUID(), orderID: pending.request.orderId, state: .active, createdAt: now,
          expiresAt: now.addingTimeInterval(pending.ttl).inPostgresPrecision, finishedAt: nil, allocations: allocated.allocations)
        for (key, quantity) in reservation.unitsByRow.sorted(by: { $0.key < $1.key }) {
          guard var row = current[key] else { throw InventoryStore.StoreError.corruptRow }
          row.reserved += quantity
          row.version += 1
          current[key] = row
          ledger.append(.init(key: key, reservedDelta: quantity, after: row, reservationID: reservation.id, actor: pending.actor))
        }
        reservations.append(reservation)
        let response = CommerceV1.ReserveStockResponse.with { $0.reservation = InventoryService.message(reservation) }
        answers[index] = .reserved(response)
        outcomes.append((pending.call, .response(response)))
      }
    }
    let changed = rows.compactMap { row in current[row.key].flatMap { $0 != row ? $0 : nil } }
    // The batch's writes and its outcomes' records travel with COMMIT.
    let writes =
      try store.reservationBatchWrites(changed: changed, reservations: reservations, ledger: ledger, now: now)
      + [try idempotency.recording(outcomes, claimed: claimingFirst)].compactMap { $0 }
    try await tx.queryAndCommit(writes)
    return answers
  }
}
