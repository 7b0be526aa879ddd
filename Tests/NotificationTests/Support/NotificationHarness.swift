import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommerceNotifications

/// NotificationService hosted as `emporium serve` hosts it (``TestApp``), with callers: users
/// (tokens for made-up user ids) and the publishing services.
struct NotificationHarness {
  let host: TestApp
  let service: NotificationService
  /// The "orders" service identity, which may publish.
  let orders: CallOptions
  var pool: PostgresPool { host.pool }
  var notifications: CommerceV1.NotificationService.Client { .init(host.connection) }

  /// Runs `body` against NotificationService with the configuration `adjust` makes.
  static func run<Result>(
    adjust: @escaping @Sendable (inout NotificationService.Configuration) -> Void = { _ in },
    _ body: (NotificationHarness) async throws -> Result
  ) async throws -> Result {
    let made = Made<NotificationService>()
    return try await TestApp.run(
      "notifications", services: [NotificationService.makeDeclaration(adjust: adjust, made: { made.set($0) })]
    ) { host in
      try await body(NotificationHarness(host: host, service: made.service, orders: try await host.service("orders")))
    }
  }

  /// A new user: its id and call options.
  func user() async throws -> (id: String, options: CallOptions) {
    let id = UUID().uuidString.lowercased()
    return (id, try await host.user(id, roles: []))
  }

  /// An order status event for `recipient`.
  static func orderEvent(_ recipient: String, id: String = UUID().uuidString, status: CommerceV1.OrderStatus = .shipped)
    -> CommerceV1.OutboxEvent
  {
    .with {
      $0.sourceEventId = id
      $0.recipientId = recipient
      $0.occurTime = .init(Date(timeIntervalSince1970: 1_700_000_000))
      $0.payload = .with {
        $0.event = .orderStatusChanged(.with {
          $0.orderId = "order-" + id
          $0.status = status
          $0.previousStatus = .packed
          $0.orderVersion = 4
        })
      }
    }
  }

  /// A ticket reply event for `recipient`, with an excerpt of `excerptLength` characters.
  static func ticketEvent(_ recipient: String, id: String = UUID().uuidString, excerptLength: Int = 20) -> CommerceV1.OutboxEvent {
    .with {
      $0.sourceEventId = id
      $0.recipientId = recipient
      $0.payload = .with {
        $0.event = .ticketReplied(.with {
          $0.ticketId = "ticket-1"
          $0.messageId = id
          $0.status = .awaitingCustomer
          $0.excerpt = String(repeating: "x", count: excerptLength)
        })
      }
    }
  }

  /// Publishes `count` order events to `recipient` as "orders", in calls of at most 500.
  @discardableResult
  func publish(
    _ count: Int, to recipient: String, as options: CallOptions? = nil, via client: CommerceV1.NotificationService.Client? = nil
  ) async throws -> Int {
    let notifications = client ?? self.notifications
    var accepted = 0
    var left = count
    while left > 0 {
      let batch = min(left, 500)
      accepted += Int(
        try await notifications.publishEvents(
          .with { $0.events = (0..<batch).map { _ in Self.orderEvent(recipient) } }, options: options ?? orders
        ).acceptedCount)
      left -= batch
    }
    return accepted
  }

  /// Every retained notification of a user, oldest first (through ListNotifications).
  func all(_ options: CallOptions) async throws -> [CommerceV1.Notification] {
    var token = ""
    var result: [CommerceV1.Notification] = []
    repeat {
      let page = try await notifications.listNotifications(
        .with {
          $0.pageSize = 200
          $0.pageToken = token
        }, options: options)
      result += page.notifications
      token = page.nextPageToken
    } while !token.isEmpty
    return result.reversed()
  }
}
