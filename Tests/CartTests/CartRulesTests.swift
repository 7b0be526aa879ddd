import CommerceAPI
import CommerceKit
import RPC
import Foundation
import Synchronization
import Testing

@testable import CommerceCart

/// The pure rules: limits, the merge rule, guest cart ids, the in-process gate.
@Suite("Cart rules")
struct CartRulesTests {
  static let price = Money(amountMinor: 500, currency: "USD")
  static let start = Date(timeIntervalSince1970: 1_700_000_000)

  static func line(_ id: String, _ quantity: Int32, at offset: TimeInterval = 0) -> CartLine {
    CartLine(productID: id, quantity: quantity, priceAtAdd: price, addedAt: start.addingTimeInterval(offset))
  }

  @Test("adding sums units on an existing line and appends new products at the end")
  func add() throws {
    var lines = [Self.line("a", 2)]
    try CartRules.add("a", quantity: 3, price: Self.price, at: Self.start, to: &lines)
    try CartRules.add("b", quantity: 1, price: Money(amountMinor: 700, currency: "USD"), at: Self.start, to: &lines)
    #expect(lines.map(\.productID) == ["a", "b"])
    #expect(lines.map(\.quantity) == [5, 1])
    #expect(lines[1].priceAtAdd.amountMinor == 700)
  }

  @Test("a line holds at most 99 units and a cart at most 100 lines: CART_LIMIT, lines unchanged")
  func limits() throws {
    var lines = [Self.line("a", 60)]
    #expect(throws: CommerceError.self) { try CartRules.add("a", quantity: 40, price: Self.price, at: Self.start, to: &lines) }
    try CartRules.add("a", quantity: 39, price: Self.price, at: Self.start, to: &lines)
    #expect(lines[0].quantity == 99)
    do {
      try CartRules.add("z", quantity: 100, price: Self.price, at: Self.start, to: &lines)
      Issue.record("100 units were accepted")
    } catch {
      #expect(error.reason == .cartLimit)
      #expect(error.code == .failedPrecondition)
    }
    var full = (0..<100).map { Self.line("p\($0)", 1) }
    do {
      try CartRules.add("new", quantity: 1, price: Self.price, at: Self.start, to: &full)
      Issue.record("a 101st line was accepted")
    } catch {
      #expect(error.reason == .cartLimit)
    }
    #expect(full.count == 100)
    try CartRules.add("p5", quantity: 1, price: Self.price, at: Self.start, to: &full)
    #expect(full[5].quantity == 2)
  }

  @Test("merge: the larger quantity (not the sum), capped at 99; guest-only lines keep price and time")
  func mergeQuantities() {
    let user = [Self.line("a", 5), Self.line("b", 2), Self.line("c", 99)]
    let guest = [Self.line("a", 3), Self.line("b", 4, at: 10), Self.line("d", 7, at: 20), Self.line("c", 99)]
    let merge = CartRules.merge(guest: guest, into: user)
    #expect(merge.lines.map(\.productID) == ["a", "b", "c", "d"])
    #expect(merge.lines.map(\.quantity) == [5, 4, 99, 7])
    #expect(merge.lines[3].addedAt == Self.start.addingTimeInterval(20))
    #expect(merge.mergedLineCount == 2)
    #expect(merge.dropped.isEmpty)
  }

  @Test("merge: guest lines that would make more than 100 lines are dropped, the last added first")
  func mergeDrops() {
    let user = (0..<98).map { Self.line("u\($0)", 1) }
    let guest = [Self.line("g0", 1), Self.line("u3", 4), Self.line("g1", 1), Self.line("g2", 1), Self.line("g3", 1)]
    let merge = CartRules.merge(guest: guest, into: user)
    #expect(merge.lines.count == 100)
    #expect(merge.dropped == ["g2", "g3"])
    #expect(merge.mergedLineCount == 3)
    #expect(merge.lines.first { $0.productID == "u3" }?.quantity == 4)
  }

  @Test("guest cart ids: 43 characters of base64url that round-trip; the stored hash is not the id")
  func guestToken() {
    let token = GuestCartToken.generate()
    #expect(token.text.utf8.count == 43)
    #expect(GuestCartToken(text: token.text) == token)
    #expect(token.hash.count == 32 && token.hash != token.bytes)
    #expect(GuestCartToken.generate() != token)
    #expect(GuestCartToken(text: "") == nil)
    #expect(GuestCartToken(text: String(token.text.dropLast()) + "!") == nil)
    #expect(!"\(token)".contains(token.text))
  }

  @Test("the gate runs one holder of a key at a time and lets other keys through")
  func gate() async throws {
    let gate = CartGate()
    let counter = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<50 {
        group.addTask {
          try await gate.withLock("cart") {
            #expect(counter.enter() == 1)
            await Task.yield()
            counter.leave()
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(counter.maximum == 1)
    #expect(gate.heldCount == 0)
    // A waiter that is cancelled leaves the queue; the key is still handed on.
    try await gate.withLock("a") {
      let waiter = Task { try await gate.withLock("a") {} }
      try await gate.withLock("b") {}
      waiter.cancel()
      await #expect(throws: CancellationError.self) { try await waiter.value }
    }
    #expect(gate.heldCount == 0)
  }
}

/// Counts holders inside a critical section.
final class Counter: Sendable {
  private let state = Synchronization.Mutex((inside: 0, maximum: 0))
  func enter() -> Int {
    state.withLock {
      $0.inside += 1
      $0.maximum = max($0.maximum, $0.inside)
      return $0.inside
    }
  }
  func leave() { state.withLock { $0.inside -= 1 } }
  var maximum: Int { state.withLock { $0.maximum } }
}
