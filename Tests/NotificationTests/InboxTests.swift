import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@testable import CommerceNotifications

/// ListNotifications and MarkRead: the caller's own inbox, newest first, paged and filtered;
/// marking read by id and by sequence.
@Suite("NotificationService inbox")
struct InboxTests {
  @Test("ListNotifications pages newest first, filters by kind and unread, counts unread, and shows only the caller's own")
  func list() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let events = (0..<7).map { index in
        index % 3 == 0 ? NotificationHarness.ticketEvent(alice, id: "t\(index)") : NotificationHarness.orderEvent(alice, id: "o\(index)")
      }
      _ = try await h.notifications.publishEvents(.with { $0.events = events }, options: h.orders)
      let first = try await h.notifications.listNotifications(.with { $0.pageSize = 3 }, options: options)
      #expect(first.notifications.map(\.sequence) == [7, 6, 5])
      #expect(first.unreadCount == 7)
      let second = try await h.notifications.listNotifications(
        .with {
          $0.pageSize = 3
          $0.pageToken = first.nextPageToken
        }, options: options)
      #expect(second.notifications.map(\.sequence) == [4, 3, 2])
      let third = try await h.notifications.listNotifications(
        .with {
          $0.pageSize = 3
          $0.pageToken = second.nextPageToken
        }, options: options)
      #expect(third.notifications.map(\.sequence) == [1] && third.nextPageToken.isEmpty)
      // The default page holds everything here; kinds filter.
      #expect(try await h.notifications.listNotifications(.init(), options: options).notifications.count == 7)
      let tickets = try await h.notifications.listNotifications(.with { $0.kinds = [.ticketReplied] }, options: options)
      #expect(tickets.notifications.map(\.sequence) == [7, 4, 1] && tickets.unreadCount == 7)
      let every = try await h.notifications.listNotifications(.with { $0.kinds = [.unspecified] }, options: options)
      #expect(every.notifications.count == 7)
      // Unread only.
      _ = try await h.notifications.markRead(.with { $0.upToSequence = 5 }, options: options)
      let unread = try await h.notifications.listNotifications(.with { $0.unreadOnly = true }, options: options)
      #expect(unread.notifications.map(\.sequence) == [7, 6] && unread.unreadCount == 2)
      // Someone else's inbox is theirs alone.
      let (_, stranger) = try await h.user()
      let theirs = try await h.notifications.listNotifications(.init(), options: stranger)
      #expect(theirs.notifications.isEmpty && theirs.unreadCount == 0)
      await expectFailure(.unauthenticated) { try await h.notifications.listNotifications(.init()) }
      await expectFailure(.permissionDenied) { try await h.notifications.listNotifications(.init(), options: h.orders) }
    }
  }

  @Test("ListNotifications refuses foreign page tokens (INVALID_PAGE_TOKEN), negative sizes and unknown kinds; caps the size at 200")
  func listErrors() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await h.publish(250, to: alice)
      let page = try await h.notifications.listNotifications(.with { $0.pageSize = 1000 }, options: options)
      #expect(page.notifications.count == 200 && !page.nextPageToken.isEmpty)
      let token = page.nextPageToken
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.notifications.listNotifications(
          .with {
            $0.pageToken = token
            $0.unreadOnly = true
          }, options: options)
      }
      // Another user's token is foreign too.
      let (_, stranger) = try await h.user()
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.notifications.listNotifications(.with { $0.pageToken = token }, options: stranger)
      }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.notifications.listNotifications(.with { $0.pageToken = "not-a-token" }, options: options)
      }
      let negative = await expectFailure(.invalidArgument) {
        try await h.notifications.listNotifications(.with { $0.pageSize = -1 }, options: options)
      }
      #expect(negative?.invalidFields == ["page_size"])
      let unknown = await expectFailure(.invalidArgument) {
        try await h.notifications.listNotifications(.with { $0.kinds = [.orderStatusChanged, .unrecognized(42)] }, options: options)
      }
      #expect(unknown?.invalidFields == ["kinds[1]"])
    }
  }

  @Test("MarkRead marks listed ids and everything up to a sequence, is idempotent, and ignores unknown or foreign ids")
  func markRead() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let (bob, bobOptions) = try await h.user()
      try await h.publish(6, to: alice)
      try await h.publish(1, to: bob)
      let mine = try await h.all(options)
      let bobs = try await h.all(bobOptions)
      let marked = try await h.notifications.markRead(
        .with {
          $0.notificationIds = [mine[4].notificationId, bobs[0].notificationId, "not-an-id", UUID().uuidString.lowercased()]
          $0.upToSequence = 2
        }, options: options)
      #expect(marked.markedCount == 3 && marked.unreadCount == 3)
      let after = try await h.all(options)
      #expect(after.map { $0.readTime != nil } == [true, true, false, false, true, false])
      // Again: nothing changes.
      let again = try await h.notifications.markRead(
        .with {
          $0.notificationIds = [mine[4].notificationId]
          $0.upToSequence = 2
        }, options: options)
      #expect(again.markedCount == 0 && again.unreadCount == 3)
      #expect(try await h.all(options).map(\.readTime) == after.map(\.readTime))
      // Bob's notification is untouched.
      #expect(try await h.all(bobOptions).first?.readTime == nil)
      // Up to 0 marks nothing; up to a large number marks everything.
      #expect(try await h.notifications.markRead(.with { $0.upToSequence = 0 }, options: options).markedCount == 0)
      let rest = try await h.notifications.markRead(.with { $0.upToSequence = 1_000 }, options: options)
      #expect(rest.markedCount == 3 && rest.unreadCount == 0)
    }
  }

  @Test("MarkRead refuses more than 500 ids and a negative sequence; needs a signed-in user")
  func markReadErrors() async throws {
    try await NotificationHarness.run { h in
      let (_, options) = try await h.user()
      let ids = (0..<501).map { _ in UUID().uuidString.lowercased() }
      let tooMany = await expectFailure(.invalidArgument) {
        try await h.notifications.markRead(.with { $0.notificationIds = ids }, options: options)
      }
      #expect(tooMany?.invalidFields == ["notification_ids"])
      #expect(try await h.notifications.markRead(.with { $0.notificationIds = Array(ids.prefix(500)) }, options: options).markedCount == 0)
      let negative = await expectFailure(.invalidArgument) {
        try await h.notifications.markRead(.with { $0.upToSequence = -1 }, options: options)
      }
      #expect(negative?.invalidFields == ["up_to_sequence"])
      await expectFailure(.unauthenticated) { try await h.notifications.markRead(.init()) }
      await expectFailure(.permissionDenied) { try await h.notifications.markRead(.init(), options: h.orders) }
    }
  }
}
