import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Synchronization
import TestSupport
import Testing

@testable import CommerceInventory

/// ReserveStock's group commit: calls that arrive while a batch is in flight are served
/// together, each with its own answer, in arrival order.
@Suite("InventoryService coalescing")
struct CoalescingTests {
  /// A gate a task waits at until the test opens it.
  final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    func wait() async { for await _ in stream { return } }
    func open() { continuation.finish() }
  }

  // MARK: The coalescer alone

  @Test("an item that finds its lane idle runs at once, alone; items arriving meanwhile form the next batch in arrival order")
  func batchesFormOnlyUnderContention() async throws {
    let gate = Gate()
    let batches = Mutex<[[Int]]>([])
    let coalescer = Coalescer<Int, String>(lanes: 2, maximumBatch: 10) { items in
      batches.withLock { $0.append(items) }
      if items == [0] { await gate.wait() }
      return items.map { "answer \($0)" }
    }
    // Idle lane: served at once.
    #expect(await coalescer.submit(-1, lane: 0) == "answer -1")
    #expect(batches.withLock { $0 } == [[-1]])

    let first = Task { await coalescer.submit(0, lane: 0) }
    #expect(await eventually { batches.withLock { $0.count } == 2 })
    var waiting: [Task<String, Never>] = []
    for item in 1...3 {
      waiting.append(Task { await coalescer.submit(item, lane: 0) })
      #expect(await eventually { coalescer.queued(lane: 0) == item })
    }
    // Another lane is not held up by the batch in flight.
    #expect(await coalescer.submit(7, lane: 1) == "answer 7")
    gate.open()
    #expect(await first.value == "answer 0")
    for (index, task) in waiting.enumerated() { #expect(await task.value == "answer \(index + 1)") }
    #expect(batches.withLock { $0 } == [[-1], [0], [7], [1, 2, 3]])
    #expect(coalescer.statistics(lane: 0) == .init(batches: 3, items: 5, largestBatch: 3))
    #expect(coalescer.queued(lane: 0) == 0)
  }

  @Test("a batch takes at most maximumBatch items; the rest form the following batch")
  func maximumBatch() async throws {
    let gate = Gate()
    let batches = Mutex<[[Int]]>([])
    let coalescer = Coalescer<Int, Int>(lanes: 1, maximumBatch: 2) { items in
      batches.withLock { $0.append(items) }
      if items == [0] { await gate.wait() }
      return items
    }
    let first = Task { await coalescer.submit(0, lane: 0) }
    #expect(await eventually { batches.withLock { $0.count } == 1 })
    var waiting: [Task<Int, Never>] = []
    for item in 1...5 {
      waiting.append(Task { await coalescer.submit(item, lane: 0) })
      #expect(await eventually { coalescer.queued(lane: 0) == item })
    }
    gate.open()
    _ = await first.value
    for (index, task) in waiting.enumerated() { #expect(await task.value == index + 1) }
    #expect(batches.withLock { $0 } == [[0], [1, 2], [3, 4], [5]])
  }

  // MARK: Through the service

  /// Holds the lock of a product's stock rows in a transaction of its own until `release`.
  private func holdRows(of product: String, _ h: InventoryHarness) async throws -> (release: Gate, done: Task<Void, any Error>) {
    let gate = Gate()
    let locked = Gate()
    let task = Task {
      try await h.pool.withTransaction { tx in
        try await tx.query("SELECT 1 FROM inventory.stock WHERE product_id = $1 FOR UPDATE", [product])
        locked.open()
        await gate.wait()
      }
    }
    await locked.wait()
    return (gate, task)
  }

  @Test("3 units left, then 2, 2 and 1 arriving while a batch is in flight: one batch answers yes, no, yes")
  func partialStockInArrivalOrder() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 4)
      let batches = try #require(h.service.reservationBatches)
      let lane = ReservationBatches.lane(of: [a], lanes: batches.laneCount)
      let before = batches.statistics(lane: lane)

      // The first call's batch waits for the row lock another transaction holds.
      let held = try await holdRows(of: a, h)
      let first = Task { try await h.reserve([(a, 1, "")]) }
      #expect(try await eventually { try await h.waitingForLock() })
      #expect(batches.statistics(lane: lane).batches == before.batches)
      var calls: [Task<Result<CommerceV1.Reservation, RPCError>, Never>] = []
      for (index, quantity) in [Int64(2), 2, 1].enumerated() {
        calls.append(
          Task {
            do { return .success(try await h.reserve([(a, quantity, "")])) } catch let error as RPCError { return .failure(error) } catch {
              return .failure(RPCError(code: .unknown, message: "\(error)"))
            }
          })
        #expect(await eventually { batches.queued(lane: lane) == index + 1 })
      }
      held.release.open()
      try await held.done.value
      _ = try await first.value

      let outcomes = await calls.asyncMap { await $0.value }
      #expect(try outcomes[0].get().allocations.map(\.quantity) == [2])
      guard case .failure(let refused) = outcomes[1] else {
        Issue.record("the second call of the batch was served with 1 unit left")
        return
      }
      #expect(refused.code == .failedPrecondition && refused.commerceReason == "INSUFFICIENT_STOCK")
      #expect(refused.commerceMetadata["available"] == "1" && refused.commerceMetadata["requested"] == "2")
      #expect(try outcomes[2].get().allocations.map(\.quantity) == [1])
      // Two batches: the first call alone, then the three together.
      let after = batches.statistics(lane: lane)
      #expect(after.batches - before.batches == 2 && after.items - before.items == 4 && after.largestBatch >= 3)
      let row = try await h.row(a, w)
      #expect(row.onHand == 4 && row.reserved == 4 && row.available == 0)
      // One ledger entry per reservation, each with the row's values after it.
      let ledger = try await h.service.store.ledger(StockKey(productID: a, warehouseID: UUID(id: w)!))
      #expect(ledger.filter { $0.kind == "RESERVE" }.map(\.reservedDelta) == [1, 2, 1])
      try await h.checkInvariant()
    }
  }

  @Test("a retry in the same batch and after it returns the same reservation; a refusal is replayed as stored")
  func idempotencyInBatches() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 5)
      let key = UUID().uuidString
      let order = UUID().uuidString.lowercased()
      let reservations = try await withThrowingTaskGroup(of: CommerceV1.Reservation.self) { group in
        for _ in 0..<20 { group.addTask { try await h.reserve([(a, 3, "")], order: order, key: key) } }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(Set(reservations.map(\.reservationId)).count == 1)
      #expect(Set(reservations).count == 1)
      #expect(try await h.row(a, w).reserved == 3)
      // A later retry is answered from the stored outcome, equal to the first answer.
      #expect(try await h.reserve([(a, 3, "")], order: order, key: key) == reservations[0])
      // A refusal under a key is stored and replayed, even after stock arrives.
      let refusedKey = UUID().uuidString
      let refusedOrder = UUID().uuidString.lowercased()
      let refusal = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        _ = try await h.reserve([(a, 3, "")], order: refusedOrder, key: refusedKey)
      }
      try await h.stock(a, w, onHand: 50)
      let replay = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        _ = try await h.reserve([(a, 3, "")], order: refusedOrder, key: refusedKey)
      }
      #expect(replay?.message == refusal?.message)
      let reservation = try await h.inventory.getReservation(
        .with { $0.reservationId = reservations[0].reservationId }, options: h.orders
      ).reservation!
      #expect(reservation == reservations[0])
    }
  }

  @Test("calls a batch cannot decide run alone without holding up the others: unknown products and warehouses")
  func undecidedCallsRunAlone() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let unstocked = try await h.product("Unstocked").productId
      let w = try await h.warehouse().warehouseId
      let other = try await h.warehouse("Elsewhere").warehouseId
      try await h.stock(a, w, onHand: 100)
      let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for index in 0..<30 {
          group.addTask {
            let lines: [(String, Int64, String)] =
              switch index % 5 {
              case 0: [("no-such-product", 1, "")]
              case 1: [(unstocked, 1, "")]
              case 2: [(a, 1, other)]
              default: [(a, 1, "")]
              }
            do {
              _ = try await h.reserve(lines)
              return "ok"
            } catch let error as RPCError {
              return error.code == .notFound ? "NOT_FOUND" : error.commerceReason ?? error.code.name
            }
          }
        }
        return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
      }
      // Unknown product: NOT_FOUND; a product or warehouse without stock: nothing available.
      #expect(outcomes == ["ok": 12, "NOT_FOUND": 6, "INSUFFICIENT_STOCK": 12])
      #expect(try await h.row(a, w).reserved == 12)
      try await h.checkInvariant()
    }
  }

  @Test("a call a batch cannot decide runs alone under its key: its refusal is stored and replayed, the batch's call served")
  func undecidedCallInABatchRunsAloneUnderItsKey() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      let other = try await h.warehouse("Elsewhere").warehouseId
      try await h.stock(a, w, onHand: 5)
      let batches = try #require(h.service.reservationBatches)
      let lane = ReservationBatches.lane(of: [a], lanes: batches.laneCount)

      // The first call's batch waits for the row lock; the next two form one batch behind it: a
      // warehouse without a stock row of the product (which the batch leaves to the lone path),
      // then a call it serves.
      let held = try await holdRows(of: a, h)
      let first = Task { try await h.reserve([(a, 1, "")]) }
      #expect(try await eventually { try await h.waitingForLock() })
      let key = UUID().uuidString
      let order = UUID().uuidString.lowercased()
      let undecided = Task { await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.reserve([(a, 1, other)], order: order, key: key) } }
      #expect(await eventually { batches.queued(lane: lane) == 1 })
      let served = Task { try await h.reserve([(a, 2, "")]) }
      #expect(await eventually { batches.queued(lane: lane) == 2 })
      let before = batches.statistics(lane: lane)
      held.release.open()
      try await held.done.value
      _ = try await first.value

      // The lone path claims the key: had the batch left a claim under it, the call would wait
      // for it and end IDEMPOTENCY_KEY_IN_FLIGHT.
      let refusal = await undecided.value
      #expect(refusal?.commerceMetadata["available"] == "0")
      #expect(try await served.value.allocations.map(\.quantity) == [2])
      let after = batches.statistics(lane: lane)
      #expect(after.batches - before.batches == 2 && after.largestBatch >= 2)
      let states = try await h.pool.query("SELECT state FROM inventory.idempotency_keys WHERE key = $1", [key]).map { try $0.decode(0, as: String.self) }
      #expect(states == ["done"])
      // A retry replays the stored refusal.
      let replay = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        _ = try await h.reserve([(a, 1, other)], order: order, key: key)
      }
      #expect(replay?.message == refusal?.message)
      #expect(try await h.row(a, w).reserved == 3)
      try await h.checkInvariant()
    }
  }

  @Test("a batch whose key another call holds runs again claiming first: the retry replays its answer, the batch serves the rest")
  func aTakenKeyMakesTheBatchClaimFirst() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 10)
      let batches = try #require(h.service.reservationBatches)
      let lane = ReservationBatches.lane(of: [a], lanes: batches.laneCount)
      let reruns = try #require(h.service.reservationBatchReruns)

      // A call alone, under a new key: recorded once, finished, without a second run.
      let key = UUID().uuidString
      let order = UUID().uuidString.lowercased()
      let original = try await h.reserve([(a, 2, "")], order: order, key: key)
      #expect(h.service.reservationBatchReruns == reruns)
      let running = try await h.pool.query("SELECT count(*) FROM inventory.idempotency_keys WHERE state = 'running'").first!.decode(0, as: Int64.self)
      #expect(running == 0)

      // Behind a batch waiting for the row lock, a batch of three: new keys around a retry of
      // the call above.
      let held = try await holdRows(of: a, h)
      let first = Task { try await h.reserve([(a, 1, "")]) }
      #expect(try await eventually { try await h.waitingForLock() })
      let before = Task { try await h.reserve([(a, 1, "")]) }
      #expect(await eventually { batches.queued(lane: lane) == 1 })
      let retry = Task { try await h.reserve([(a, 2, "")], order: order, key: key) }
      #expect(await eventually { batches.queued(lane: lane) == 2 })
      let after = Task { try await h.reserve([(a, 1, "")]) }
      #expect(await eventually { batches.queued(lane: lane) == 3 })
      let statistics = batches.statistics(lane: lane)
      held.release.open()
      try await held.done.value
      _ = try await first.value

      let replayed = try await retry.value
      #expect(replayed == original)
      #expect(try await before.value.allocations.map(\.quantity) == [1])
      #expect(try await after.value.allocations.map(\.quantity) == [1])
      // The batch of three failed once on the taken key and ran again, claiming first.
      #expect(h.service.reservationBatchReruns == reruns + 1)
      let counts = batches.statistics(lane: lane)
      #expect(counts.batches - statistics.batches == 2 && counts.largestBatch >= 3)
      let row = try await h.row(a, w)
      #expect(row.reserved == 5)
      let ledger = try await h.service.store.ledger(StockKey(productID: a, warehouseID: UUID(id: w)!))
      #expect(ledger.filter { $0.kind == "RESERVE" }.map(\.reservedDelta) == [2, 1, 1, 1])
      let states = try await h.pool.query("SELECT state FROM inventory.idempotency_keys WHERE key = $1", [key]).map { try $0.decode(0, as: String.self) }
      #expect(states == ["done"])
      try await h.checkInvariant()
    }
  }

  @Test("a batch sends one stock-level event per product, and the catalog learns the level")
  func oneEventPerProduct() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 40)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<30 { group.addTask { _ = try await h.reserve([(a, 1, "")]) } }
        try await group.waitForAll()
      }
      let events = try await h.pool.query(
        "SELECT count(*) FROM inventory.outbox WHERE topic = 'stock.changed' AND aggregate_id = $1", [a])
      let statistics = try #require(h.service.reservationBatches).statistics
      // The SetStock event, then one per batch that reserved.
      #expect(try events.first!.decode(0, as: Int64.self) <= 1 + Int64(statistics.batches))
      #expect(try await h.row(a, w).available == 10)
      #expect(try await eventually { try await h.catalog.getProduct(.with { $0.productId = a }).availability?.availableQuantity == 10 })
    }
  }
}

extension InventoryHarness {
  /// Whether some backend of the test's database waits for a lock.
  func waitingForLock() async throws -> Bool {
    let rows = try await pool.query(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    return try rows.first!.decode(0, as: Int64.self) > 0
  }
}

extension Array {
  fileprivate func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
    var results: [T] = []
    for element in self { results.append(await transform(element)) }
    return results
  }
}
