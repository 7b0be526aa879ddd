import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Logging
import NIOCore
import Messages
import RPC
import ServiceLifecycle
import TestSupport
import Testing

@testable import CommerceNotifications

/// What ends a Subscribe stream from the server's side: a subscriber that stops reading, and a
/// drain.
@Suite("NotificationService stream limits")
struct StreamLimitsTests {
  @Test("a subscriber that stops reading is dropped with RESOURCE_EXHAUSTED after the stalled-write limit, and resumes where it stopped")
  func slowSubscriber() async throws {
    try await NotificationHarness.run(adjust: { $0.stalledWriteLimit = .seconds(1) }) { h in
      let (alice, options) = try await h.user()
      // 1,000 notifications of about 600 bytes: several times the 64 KiB flow-control window.
      for _ in 0..<2 {
        _ = try await h.notifications.publishEvents(
          .with { $0.events = (0..<500).map { _ in NotificationHarness.ticketEvent(alice, excerptLength: 200) } }, options: h.orders)
      }
      let started = ContinuousClock.now
      let (received, error) = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(0) }, options: options) { stream in
        var iterator = stream.makeAsyncIterator()
        var received: [Int64] = []
        if let first = try await iterator.next()?.notification { received.append(first.sequence) }
        // Read nothing more until the server has given up on the stream.
        #expect(await eventually { h.service.openSubscriptions(of: alice) == 0 })
        do {
          while let message = try await iterator.next() {
            if let notification = message.notification { received.append(notification.sequence) }
          }
          return (received, nil as RPCError?)
        } catch let error as RPCError {
          return (received, error)
        }
      }
      // The limit is about time: dropped no sooner than 1 s after it stalled.
      #expect(ContinuousClock.now - started >= .seconds(1))
      #expect(error?.code == .resourceExhausted)
      #expect(received.count > 1 && received.count < 1000)
      #expect(received == Array(1...Int64(received.count)))
      // Resuming from the last one received delivers the rest.
      let rest = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(received.last!) }, options: options) { stream in
        var sequences: [Int64] = []
        for try await message in stream {
          if message.caughtUp { break }
          sequences.append(message.notification!.sequence)
        }
        return sequences
      }
      #expect(received + rest == Array(1...1000))
    }
  }

  @Test("a subscriber that reads slowly but steadily is not dropped")
  func steadyReader() async throws {
    try await NotificationHarness.run(adjust: { $0.stalledWriteLimit = .seconds(2) }) { h in
      let (alice, options) = try await h.user()
      _ = try await h.notifications.publishEvents(
        .with { $0.events = (0..<300).map { _ in NotificationHarness.ticketEvent(alice, excerptLength: 200) } }, options: h.orders)
      let count = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(0) }, options: options) { stream in
        var count = 0
        for try await message in stream {
          if message.caughtUp { break }
          count += 1
          if count % 50 == 0 { await Task.yield() }
        }
        return count
      }
      #expect(count == 300)
    }
  }

  @Test("graceful shutdown ends live streams with UNAVAILABLE at once instead of holding the drain")
  func gracefulShutdown() async throws {
    var configuration = EmporiumApp.Configuration(databaseURL: try await TestApp.newDatabase("notifications_drain"))
    configuration.services = [NotificationService.declaration]
    configuration.server.port = 0
    configuration.server.drainTimeout = .seconds(60)
    let logger = Logger(label: "notifications-drain-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: try await app.server.localAddress().port!)
    let user = TestApp.bearer(
      try await app.tokens.issue(for: Principal(kind: .user, subject: UUID().uuidString, roles: [.customer], expiresAt: 0), lifetime: .seconds(600))
        .token)
    let started = ContinuousClock.now
    let error = try await CommerceV1.NotificationService.Client(connection).subscribe(.init(), options: user) { stream in
      do {
        for try await message in stream where message.caughtUp {
          await group.triggerGracefulShutdown()
        }
        return nil as RPCError?
      } catch let error as RPCError {
        return error
      }
    }
    #expect(error?.code == .unavailable)
    // Well before the 60-second drain timeout would have cut it.
    #expect(ContinuousClock.now - started < .seconds(30))
    await connection.close()
    try await running.value
    await app.close()
  }

  @Test("a draining server ends streams with UNAVAILABLE, and refuses new ones the same way")
  func drain() async throws {
    try await NotificationHarness.run { h in
      let (_, options) = try await h.user()
      let error = try await h.notifications.subscribe(.init(), options: options) { stream in
        do {
          for try await message in stream where message.caughtUp {
            h.service.streamDrain.drain()
          }
          return nil as RPCError?
        } catch let error as RPCError {
          return error
        }
      }
      #expect(error?.code == .unavailable)
      await expectFailure(.unavailable) {
        try await h.notifications.subscribe(.init(), options: options) { stream in try await stream.reduce(0) { count, _ in count + 1 } }
      }
    }
  }
}
