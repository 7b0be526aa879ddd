import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Logging
import Messages
import NIOCore
import Postgres
import RPC
import Synchronization
import TestSupport
import Testing

@testable import CommerceNotifications

/// CommerceKit's NotificationRelay, as a publishing service runs it: the outbox's notification
/// events reach NotificationService in outbox order, after failures too, and exactly once.
@Suite("NotificationRelay")
struct RelayTests {
  /// A transport that fails its first `failures` calls with UNAVAILABLE, then passes them on.
  final class FlakyTransport: ClientTransport {
    let base: any ClientTransport
    let left: Mutex<Int>
    let calls = Mutex(0)

    init(_ base: any ClientTransport, failures: Int) {
      self.base = base
      self.left = Mutex(failures)
    }

    func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
      calls.withLock { $0 += 1 }
      let fail = left.withLock { left in
        defer { left = max(0, left - 1) }
        return left > 0
      }
      if fail { throw RPCError(code: .unavailable, message: "not yet") }
      return try await base.unary(method: method, request: request, options: options)
    }

    func withStreamingCall<Result: Sendable>(
      method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
    ) async throws -> Result {
      try await base.withStreamingCall(method: method, options: options, body)
    }
  }

  /// Runs `body` with the outbox of a "support" schema and a relay from it to the hosted
  /// NotificationService through `failures` failed calls first.
  func withRelay(
    _ h: NotificationHarness, failures: Int, _ body: (Outbox, FlakyTransport) async throws -> Void
  ) async throws {
    try await PlatformMigrations.apply(to: "support", pool: h.pool)
    let outbox = Outbox(schema: "support")
    let credentials = ServiceCallCredentials(SelfIssuedServiceTokens(tokens: h.host.app.tokens, serviceName: "support"))
    let transport = FlakyTransport(InProcessTransport(server: h.host.app.server, interceptors: [credentials]), failures: failures)
    let relay = NotificationRelay(
      outbox: outbox, pool: h.pool, notifications: transport, logger: Logger(label: "relay-test"), initialBackoff: .milliseconds(20),
      maximumBackoff: .milliseconds(200))
    let running = Task { try await relay.run() }
    do {
      try await body(outbox, transport)
    } catch {
      running.cancel()
      throw error
    }
    running.cancel()
    _ = try? await running.value
  }

  static func ticketID(_ notification: CommerceV1.Notification) -> String {
    if case .ticketReplied(let ticket)? = notification.payload?.event { return ticket.ticketId }
    return ""
  }

  func append(_ outbox: Outbox, _ h: NotificationHarness, to recipient: String, tickets: [String]) async throws {
    try await h.pool.withTransaction { tx in
      for ticket in tickets {
        try await outbox.appendNotification(
          to: recipient, .with { $0.event = .ticketReplied(.with { $0.ticketId = ticket; $0.excerpt = "reply to " + ticket }) },
          occurredAt: Date(timeIntervalSince1970: 1_700_000_000), in: tx)
      }
    }
  }

  @Test("the relay retries until NotificationService accepts, marks events published, and is woken by new events")
  func retriesAndWakes() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await withRelay(h, failures: 3) { outbox, transport in
        try await append(outbox, h, to: alice, tickets: ["t1", "t2", "t3"])
        #expect(await eventually { (try? await h.all(options).count) == 3 })
        #expect(transport.calls.withLock { $0 } >= 4)
        #expect(await eventually { (try? await outbox.unpublished(topic: Outbox.notificationTopic, pool: h.pool).isEmpty) == true })
        // Idle now; a new event wakes it (NOTIFY on commit).
        try await append(outbox, h, to: alice, tickets: ["t4"])
        #expect(await eventually { (try? await h.all(options).count) == 4 })
      }
      let all = try await h.all(options)
      #expect(all.map(\.sequence) == [1, 2, 3, 4])
      #expect(all.map(\.kind) == Array(repeating: .ticketReplied, count: 4))
      #expect(all.map(Self.ticketID) == ["t1", "t2", "t3", "t4"])
      #expect(all.allSatisfy { $0.sourceService == "emporium.commerce.v1.SupportService" && $0.occurTime?.seconds == 1_700_000_000 })
      #expect(Set(all.map(\.sourceEventId)).count == 4)
    }
  }

  @Test("a malformed event is dropped (and logged) instead of holding back the events around it")
  func malformedEvent() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await PlatformMigrations.apply(to: "support", pool: h.pool)
      let outbox = Outbox(schema: "support")
      try await append(outbox, h, to: alice, tickets: ["before"])
      // No recipient: NotificationService refuses it as INVALID_ARGUMENT.
      try await h.pool.withTransaction { tx in
        var bad = NotificationHarness.ticketEvent(alice)
        bad.recipientId = ""
        try await outbox.append(bad, topic: Outbox.notificationTopic, aggregateID: "nobody", in: tx)
      }
      try await append(outbox, h, to: alice, tickets: ["after"])
      try await withRelay(h, failures: 0) { outbox, _ in
        #expect(await eventually { (try? await outbox.unpublished(topic: Outbox.notificationTopic, pool: h.pool).isEmpty) == true })
      }
      #expect(try await h.all(options).map(Self.ticketID) == ["before", "after"])
    }
  }

  @Test("a backlog larger than a batch arrives whole and in outbox order; a resend of published events adds nothing")
  func backlog() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await PlatformMigrations.apply(to: "support", pool: h.pool)
      let outbox = Outbox(schema: "support")
      // Written before the relay starts: the drain at start sends them.
      try await append(outbox, h, to: alice, tickets: (1...1_200).map { "t\($0)" })
      try await withRelay(h, failures: 0) { _, _ in
        #expect(await eventually { (try? await h.all(options).count) == 1_200 })
      }
      let all = try await h.all(options)
      #expect(all.map(\.sequence) == Array(1...1_200))
      #expect(all.map(Self.ticketID) == (1...1_200).map { "t\($0)" })
      // A relay that lost its marks sends everything again: nothing new.
      try await Outbox(schema: "support").requeue(where: "true", pool: h.pool)
      try await withRelay(h, failures: 0) { outbox, _ in
        #expect(await eventually { (try? await outbox.unpublished(topic: Outbox.notificationTopic, pool: h.pool).isEmpty) == true })
      }
      #expect(try await h.all(options).count == 1_200)
    }
  }
}
