import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import NIOCore
import RPC
import TestSupport
import Synchronization
import Testing

@testable import CommerceNotifications

/// Subscribe: replay after a resume position, the caught-up marker, live delivery, resumption
/// that misses nothing, the per-user limit, slow subscribers and the drain.
@Suite("NotificationService subscriptions")
struct SubscribeTests {
  /// What a stream delivered: the sequences before and after the caught-up marker.
  struct Seen {
    var replayed: [Int64] = []
    var caughtUp = false
    var live: [Int64] = []
  }

  @Test("a resumed stream replays what came after the position, marks the catch-up once, then delivers new notifications live")
  func replayThenLive() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await h.publish(3, to: alice)
      let seen = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(1) }, options: options) { stream in
        var seen = Seen()
        for try await message in stream {
          if message.caughtUp {
            #expect(message.notification == nil && !seen.caughtUp)
            seen.caughtUp = true
            try await h.publish(2, to: alice)
          } else if seen.caughtUp {
            seen.live.append(message.notification!.sequence)
            if seen.live.count == 2 { break }
          } else {
            seen.replayed.append(message.notification!.sequence)
          }
        }
        return seen
      }
      #expect(seen.replayed == [2, 3] && seen.caughtUp && seen.live == [4, 5])
      // after_sequence 0 replays everything retained.
      let everything = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(0) }, options: options) { stream in
        var sequences: [Int64] = []
        for try await message in stream {
          if message.caughtUp { break }
          sequences.append(message.notification!.sequence)
        }
        return sequences
      }
      #expect(everything == [1, 2, 3, 4, 5])
    }
  }

  @Test("without a resume position the stream starts at the live tail")
  func liveTail() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await h.publish(2, to: alice)
      let messages = try await h.notifications.subscribe(.init(), options: options) { stream in
        var messages: [CommerceV1.SubscribeResponse] = []
        for try await message in stream {
          messages.append(message)
          if message.caughtUp { try await h.publish(1, to: alice) }
          if messages.count == 2 { break }
        }
        return messages
      }
      #expect(messages.first?.caughtUp == true && messages.first?.notification == nil)
      #expect(messages.last?.notification?.sequence == 3)
    }
  }

  @Test("resuming after an event id continues after that notification; an unknown or foreign id is NOT_FOUND")
  func afterEventID() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let (bob, bobOptions) = try await h.user()
      try await h.publish(4, to: alice)
      try await h.publish(1, to: bob)
      let second = try await h.all(options)[1]
      let replayed = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterEventId(second.notificationId) }, options: options) { stream in
        var sequences: [Int64] = []
        for try await message in stream {
          if message.caughtUp { break }
          sequences.append(message.notification!.sequence)
        }
        return sequences
      }
      #expect(replayed == [3, 4])
      let bobs = try await h.all(bobOptions)[0].notificationId
      for id in [bobs, UUID().uuidString.lowercased(), "not-an-id"] {
        await expectFailure(.notFound) {
          try await h.notifications.subscribe(.with { $0.resumeFrom = .afterEventId(id) }, options: options) { stream in
            try await stream.reduce(0) { count, _ in count + 1 }
          }
        }
      }
    }
  }

  @Test("a kinds filter streams only those kinds, so the client sees gaps in the sequence")
  func kindsFilter() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let events = [
        NotificationHarness.orderEvent(alice), NotificationHarness.ticketEvent(alice), NotificationHarness.orderEvent(alice),
        NotificationHarness.ticketEvent(alice),
      ]
      _ = try await h.notifications.publishEvents(.with { $0.events = events }, options: h.orders)
      let seen = try await h.notifications.subscribe(
        .with {
          $0.resumeFrom = .afterSequence(0)
          $0.kinds = [.ticketReplied]
        }, options: options
      ) { stream in
        var seen = Seen()
        for try await message in stream {
          if message.caughtUp {
            seen.caughtUp = true
            _ = try await h.notifications.publishEvents(
              .with { $0.events = [NotificationHarness.orderEvent(alice), NotificationHarness.ticketEvent(alice)] }, options: h.orders)
          } else if seen.caughtUp {
            seen.live.append(message.notification!.sequence)
            break
          } else {
            #expect(message.notification?.kind == .ticketReplied)
            seen.replayed.append(message.notification!.sequence)
          }
        }
        return seen
      }
      #expect(seen.replayed == [2, 4] && seen.live == [6])
    }
  }

  @Test("bad resume positions and kinds are INVALID_ARGUMENT; a caller without a user token is refused")
  func badRequests() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      try await h.publish(2, to: alice)
      func open(_ request: CommerceV1.SubscribeRequest, _ options: CallOptions) async throws -> Int {
        try await h.notifications.subscribe(request, options: options) { stream in try await stream.reduce(0) { count, _ in count + 1 } }
      }
      let negative = await expectFailure(.invalidArgument) { try await open(.with { $0.resumeFrom = .afterSequence(-1) }, options) }
      #expect(negative?.invalidFields == ["after_sequence"])
      let beyond = await expectFailure(.invalidArgument) { try await open(.with { $0.resumeFrom = .afterSequence(3) }, options) }
      #expect(beyond?.invalidFields == ["after_sequence"])
      let emptyID = await expectFailure(.invalidArgument) { try await open(.with { $0.resumeFrom = .afterEventId("") }, options) }
      #expect(emptyID?.invalidFields == ["after_event_id"])
      let kind = await expectFailure(.invalidArgument) { try await open(.with { $0.kinds = [.unrecognized(9)] }, options) }
      #expect(kind?.invalidFields == ["kinds[0]"])
      await expectFailure(.unauthenticated) { try await open(.init(), CallOptions()) }
      await expectFailure(.permissionDenied) { try await open(.init(), h.orders) }
    }
  }

  @Test("at most 5 streams per user: the sixth is RESOURCE_EXHAUSTED, another user is unaffected, a closed stream frees its slot")
  func subscriptionLimit() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let (_, bobOptions) = try await h.user()
      let (opened, open) = AsyncStream.makeStream(of: Void.self)
      let releases = (0..<5).map { _ in AsyncStream.makeStream(of: Void.self) }
      try await withThrowingTaskGroup(of: Void.self) { group in
        for (release, _) in releases {
          group.addTask {
            try await h.notifications.subscribe(.init(), options: options) { stream in
              for try await message in stream where message.caughtUp { break }
              open.yield()
              for await _ in release {}
            }
          }
        }
        var count = 0
        for await _ in opened {
          count += 1
          if count == 5 { break }
        }
        #expect(h.service.openSubscriptions(of: alice) == 5)
        let error = await expectFailure(.resourceExhausted) {
          try await h.notifications.subscribe(.init(), options: options) { stream in try await stream.reduce(0) { count, _ in count + 1 } }
        }
        let quota = error?.details?.details.contains { detail in
          if case .quotaFailure = detail.detail { return true }
          return false
        }
        #expect(quota == true)
        // Bob has streams of his own.
        let bobCaughtUp = try await h.notifications.subscribe(.init(), options: bobOptions) { stream in
          for try await message in stream where message.caughtUp { return true }
          return false
        }
        #expect(bobCaughtUp)
        for (_, release) in releases { release.finish() }
        try await group.waitForAll()
      }
      // The closed streams give their slots back.
      #expect(await eventually { h.service.openSubscriptions(of: alice) == 0 })
      let again = try await h.notifications.subscribe(.init(), options: options) { stream in
        for try await message in stream where message.caughtUp { return true }
        return false
      }
      #expect(again)
    }
  }

  @Test("publishing continuously while a subscriber disconnects and resumes 100 times: every sequence seen exactly once, in order")
  func resumeUnderLoad() async throws {
    try await NotificationHarness.run { h in
      let (alice, user) = try await h.user()
      // A subscription that gets nothing for a minute fails the test instead of hanging it.
      var options = user
      options.timeout = .seconds(60)
      // The publisher is another service: it calls over a connection of its own.
      let port = try await h.host.app.server.localAddress().port!
      let publisherConnection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
      let stop = StopFlag()
      let publisherFailed = StopFlag()
      let publisher = Task {
        var published = 0
        do {
          while !stop.isSet {
            published += try await h.publish(Int.random(in: 1...5), to: alice, via: .init(publisherConnection))
          }
        } catch {
          publisherFailed.set()
          throw error
        }
        return published
      }
      var seen: [Int64] = []
      var lastID: String?
      var resumedLive = 0
      for round in 0..<100 {
        // A publisher that failed ends the test with its error (below), not with 100 timeouts.
        if publisherFailed.isSet { break }
        // Alternate the ways of resuming: by sequence and by the last notification's id.
        let request: CommerceV1.SubscribeRequest
        if round % 2 == 1, let lastID {
          request = .with { $0.resumeFrom = .afterEventId(lastID) }
        } else {
          request = .with { $0.resumeFrom = .afterSequence(seen.last ?? 0) }
        }
        // Even rounds disconnect somewhere in the backlog; odd rounds read past the caught-up
        // marker into the live part first.
        let wanted = Int.random(in: 1...8)
        let live = round % 2 == 1
        let got = try await h.notifications.subscribe(request, options: options) { stream in
          var got: [CommerceV1.Notification] = []
          var caughtUp = false
          var afterMarker = 0
          for try await message in stream {
            if message.caughtUp { caughtUp = true }
            if let notification = message.notification {
              got.append(notification)
              if caughtUp { afterMarker += 1 }
            }
            if live ? afterMarker >= wanted : got.count >= wanted { break }
          }
          return (got, afterMarker)
        }
        seen += got.0.map(\.sequence)
        if let newest = got.0.last { lastID = newest.notificationId }
        resumedLive += got.1
        // The server notices the disconnect: ended streams do not use up the user's slots.
        #expect(await eventually { h.service.openSubscriptions(of: alice) == 0 })
      }
      stop.set()
      let published = try await publisher.value
      await publisherConnection.close()
      // Catch up with the rest.
      let rest = try await h.notifications.subscribe(.with { $0.resumeFrom = .afterSequence(seen.last ?? 0) }, options: options) { stream in
        var got: [Int64] = []
        for try await message in stream {
          if message.caughtUp { break }
          got.append(message.notification!.sequence)
        }
        return got
      }
      seen += rest
      #expect(published > 100 && resumedLive >= 50)
      #expect(seen.count == published)
      #expect(seen == Array(1...Int64(published)))
    }
  }
}

/// A flag one task sets and another reads.
final class StopFlag: Sendable {
  private let flag = Mutex(false)
  var isSet: Bool { flag.withLock { $0 } }
  func set() { flag.withLock { $0 = true } }
}
