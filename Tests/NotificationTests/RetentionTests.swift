import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceNotifications

/// Retention (notifications.proto): at most the latest 10,000 per recipient and 90 days; what is
/// gone can no longer be listed or replayed, and a resume from before it is EVENTS_EXPIRED.
@Suite("NotificationService retention")
struct RetentionTests {
  func open(_ h: NotificationHarness, _ request: CommerceV1.SubscribeRequest, _ options: CallOptions) async throws -> [Int64] {
    try await h.notifications.subscribe(request, options: options) { stream in
      var sequences: [Int64] = []
      for try await message in stream {
        if message.caughtUp { break }
        sequences.append(message.notification!.sequence)
      }
      return sequences
    }
  }

  @Test("a recipient keeps its latest 10,000: older ones are gone, a resume before them is EVENTS_EXPIRED, their events stay duplicates")
  func countLimit() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let first = try await h.notifications.publishEvents(
        .with { $0.events = [NotificationHarness.orderEvent(alice, id: "first")] }, options: h.orders)
      #expect(first.acceptedCount == 1)
      #expect(try await h.publish(10_049, to: alice) == 10_049)
      let stored = try await h.pool.query(
        "SELECT count(*), min(sequence), max(sequence) FROM notifications.notifications WHERE recipient_id = $1", [alice]
      ).first!
      #expect(try stored.decode(0, as: Int64.self) == 10_000)
      #expect(try stored.decode(1, as: Int64.self) == 51 && stored.decode(2, as: Int64.self) == 10_050)
      #expect(try await h.notifications.listNotifications(.init(), options: options).unreadCount == 10_000)
      for position: Int64 in [0, 49] {
        let error = await expectFailure(.failedPrecondition, reason: "EVENTS_EXPIRED") {
          try await open(h, .with { $0.resumeFrom = .afterSequence(position) }, options)
        }
        #expect(error?.commerceMetadata["oldestSequence"] == "51")
      }
      let replayed = try await open(h, .with { $0.resumeFrom = .afterSequence(50) }, options)
      #expect(replayed.count == 10_000 && replayed.first == 51 && replayed.last == 10_050)
      // The oldest page of the inbox ends at 51.
      var token = ""
      var oldest: Int64 = 0
      repeat {
        let page = try await h.notifications.listNotifications(
          .with {
            $0.pageSize = 200
            $0.pageToken = token
          }, options: options)
        oldest = page.notifications.last?.sequence ?? oldest
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(oldest == 51)
      // The trimmed first event is still known: resending it adds nothing.
      let resent = try await h.notifications.publishEvents(
        .with { $0.events = [NotificationHarness.orderEvent(alice, id: "first")] }, options: h.orders)
      #expect(resent.acceptedCount == 0 && resent.duplicateCount == 1)
    }
  }

  @Test("notifications older than 90 days are no longer listed, counted or replayed, and the sweep deletes them")
  func ageLimit() async throws {
    // No background sweep: its first round, at start, could otherwise come after the rows are
    // aged below (on a busy machine) and leave the sweep under test nothing to delete.
    try await NotificationHarness.run(adjust: { $0.sweepInterval = nil }) { h in
      let (alice, options) = try await h.user()
      try await h.publish(5, to: alice)
      let before = try await h.all(options)
      try await h.pool.query(
        "UPDATE notifications.notifications SET create_time = now() - interval '91 days' WHERE recipient_id = $1 AND sequence <= 2",
        [alice])
      let list = try await h.notifications.listNotifications(.init(), options: options)
      #expect(list.notifications.map(\.sequence) == [5, 4, 3] && list.unreadCount == 3)
      let error = await expectFailure(.failedPrecondition, reason: "EVENTS_EXPIRED") {
        try await open(h, .with { $0.resumeFrom = .afterSequence(0) }, options)
      }
      #expect(error?.commerceMetadata["oldestSequence"] == "3")
      await expectFailure(.failedPrecondition, reason: "EVENTS_EXPIRED") {
        try await open(h, .with { $0.resumeFrom = .afterEventId(before[0].notificationId) }, options)
      }
      #expect(try await open(h, .with { $0.resumeFrom = .afterSequence(2) }, options) == [3, 4, 5])
      // Marking read counts only what is retained.
      let marked = try await h.notifications.markRead(.with { $0.upToSequence = 5 }, options: options)
      #expect(marked.markedCount == 3 && marked.unreadCount == 0)
      #expect(try await h.service.sweep() == 2)
      let left = try await h.pool.query("SELECT count(*) FROM notifications.notifications WHERE recipient_id = $1", [alice])
      #expect(try left.first!.decode(0, as: Int64.self) == 3)
      // Everything expired: a resume from anything before the newest is EVENTS_EXPIRED; the
      // newest still works, and the next notification follows it.
      try await h.pool.query(
        "UPDATE notifications.notifications SET create_time = now() - interval '91 days' WHERE recipient_id = $1", [alice])
      let all = await expectFailure(.failedPrecondition, reason: "EVENTS_EXPIRED") {
        try await open(h, .with { $0.resumeFrom = .afterSequence(4) }, options)
      }
      #expect(all?.commerceMetadata["oldestSequence"] == "6")
      #expect(try await open(h, .with { $0.resumeFrom = .afterSequence(5) }, options).isEmpty)
      try await h.publish(1, to: alice)
      #expect(try await h.all(options).map(\.sequence) == [6])
    }
  }

  @Test("the background sweep deletes expired notifications by itself, at its interval")
  func backgroundSweep() async throws {
    try await NotificationHarness.run(adjust: { $0.sweepInterval = .milliseconds(200) }) { h in
      let (alice, _) = try await h.user()
      try await h.publish(3, to: alice)
      try await h.pool.query(
        "UPDATE notifications.notifications SET create_time = now() - interval '91 days' WHERE recipient_id = $1 AND sequence = 1",
        [alice])
      let swept = await eventually {
        let left = try? await h.pool.query("SELECT count(*) FROM notifications.notifications WHERE recipient_id = $1", [alice])
        return (try? left?.first?.decode(0, as: Int64.self)) == 2
      }
      #expect(swept)
    }
  }
}
