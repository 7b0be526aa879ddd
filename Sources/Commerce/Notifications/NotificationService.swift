public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle
import Synchronization

/// NotificationService (notifications.proto): each user's notifications, numbered per recipient,
/// kept as an inbox and streamed live with resumption.
///
/// Handlers translate between the contract's messages and the store; all SQL is in
/// `NotificationStore`, the wording of titles and bodies in ``NotificationText``. Access rules
/// are enforced by CommerceKit's `AuthInterceptor`; every user method works on the caller's own
/// notifications only. docs/NOTIFICATIONS.md has the whole design.
///
/// Decisions the contract leaves to the server:
/// - Subscribe listens for its recipient's NOTIFY before it reads anything, then reads the
///   backlog after the resume position from the database and, on every wake-up, what came after
///   the last sequence it sent: a notification committed during the resume is either in a read
///   or announced after the listen, so none is missed.
/// - At most ``Configuration/subscriptionsPerUser`` streams per user in this process
///   (RESOURCE_EXHAUSTED with a QuotaFailure beyond). A stream whose caller does not read (one
///   message has waited ``Configuration/stalledWriteLimit`` for flow-control credit) is ended
///   with RESOURCE_EXHAUSTED, so a slow subscriber holds at most one window of messages and one
///   page of rows on the server.
/// - after_sequence beyond the recipient's newest sequence is INVALID_ARGUMENT.
/// - Retention: ``Configuration/retention`` by age (hidden from reads at once, deleted by the
///   hourly sweep) and ``Configuration/maxPerRecipient`` by count (deleted by PublishEvents).
/// - The kinds filters treat NOTIFICATION_KIND_UNSPECIFIED as every kind; unknown kinds are
///   INVALID_ARGUMENT.
public struct NotificationService: CommerceV1.NotificationService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// How long notifications are kept (notifications.proto: 90 days).
    public var retention: TimeInterval = 90 * 24 * 3600
    /// How many notifications a recipient keeps (notifications.proto: the latest 10,000).
    public var maxPerRecipient: Int64 = 10_000
    /// Concurrent Subscribe streams per user (notifications.proto: 5).
    public var subscriptionsPerUser = 5
    /// How long one stream message may wait for the subscriber's flow-control credit before the
    /// stream is ended with RESOURCE_EXHAUSTED.
    public var stalledWriteLimit: Duration = .seconds(10)
    /// Rows a stream reads per query.
    public var pageSize = 100
    /// How often this process runs the retention sweep (once at start, then at this interval);
    /// nil: it runs none, for a deployment where another replica sweeps (any one is enough:
    /// reads already leave out what has expired).
    public var sweepInterval: Duration? = .seconds(3600)
    /// How long accepted source event ids are remembered (deduplication): a week longer than
    /// the notifications.
    public var acceptedEventRetention: TimeInterval = 97 * 24 * 3600

    public init() {}
  }

  /// The contract's limits on requests.
  static let maxEvents = 500
  static let maxMarkIDs = 500
  static let maxIDLength = 128
  static let maxSourceEventIDLength = 200
  static let defaultPageSize = 50
  static let maxPageSize = 200

  let store: NotificationStore
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date
  let slots: SubscriptionSlots
  /// Ends Subscribe streams when the server drains.
  let streamDrain = StreamDrain()

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `notifications` only (migrated beforehand).
  public init(
    pool: PostgresPool, configuration: Configuration = .init(), logger: Logger = Logger(label: "emporium.notifications"),
    now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = NotificationStore(pool: pool)
    self.configuration = configuration
    self.logger = logger
    self.now = now
    self.slots = SubscriptionSlots(limit: configuration.subscriptionsPerUser)
  }

  /// The background work: the retention sweep, and the end of live streams at a drain.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    var services: [any ServiceLifecycle.Service] = [StreamDrain.OnShutdown(streamDrain)]
    if let interval = configuration.sweepInterval {
      services.append(
        PeriodicWork("notifications retention sweep", every: interval, logger: logger) { [self] in
          let deleted = try await sweep()
          if deleted > 0 { logger.info("expired notifications deleted", metadata: ["count": "\(deleted)"]) }
        })
    }
    return services
  }

  /// One retention sweep; returns how many notifications it deleted.
  func sweep() async throws -> Int {
    let now = now()
    return try await store.sweep(
      cutoff: now.addingTimeInterval(-configuration.retention), eventsCutoff: now.addingTimeInterval(-configuration.acceptedEventRetention))
  }

  /// The oldest creation time still retained.
  private func cutoff() -> Date { now().addingTimeInterval(-configuration.retention) }

  /// How many Subscribe streams `userID` has open in this process.
  func openSubscriptions(of userID: String) -> Int { slots.count(userID) }

  // MARK: Subscribe

  public func subscribe(
    request: CommerceV1.SubscribeRequest, response: ResponseStreamWriter<CommerceV1.SubscribeResponse>, context: ServerContext
  ) async throws {
    let recipient = try context.endUser().subject
    var violations = FieldViolations()
    switch request.resumeFrom {
    case .afterSequence(let sequence)?: violations.check(sequence >= 0, "after_sequence", "must not be negative")
    case .afterEventId(let id)?: violations.check(!id.isEmpty, "after_event_id", "must not be empty")
    case nil: break
    }
    let kinds = Self.kinds(request.kinds, field: "kinds", into: &violations)
    try violations.throwIfAny()

    guard slots.take(recipient) else {
      throw CommerceError(
        .resourceExhausted, nil, "at most \(configuration.subscriptionsPerUser) subscriptions per user",
        metadata: ["limit": "\(configuration.subscriptionsPerUser)"]
      ).quota(
        subject: "user:\(recipient)", id: "subscriptions-per-user", limit: Int64(configuration.subscriptionsPerUser), window: nil,
        "concurrent Subscribe streams")
    }
    defer { slots.release(recipient) }

    // Listen first: a notification committed from here on wakes the stream, and one committed
    // before is in the first read.
    let wakeUps = try await store.pool.notifications(channel: NotificationStore.channel(for: recipient))
    let drained = streamDrain.subscribe()
    let position = try await store.position(of: recipient, cutoff: cutoff())
    var last: Int64
    switch request.resumeFrom {
    case .afterSequence(let sequence)?:
      guard sequence <= position.last else {
        throw CommerceError.invalidArgument(field: "after_sequence", "is beyond the newest notification (\(position.last))")
      }
      last = sequence
    case .afterEventId(let text)?:
      guard let id = UUID(id: text), let sequence = try await store.sequence(of: id, recipientID: recipient) else {
        throw CommerceError.notFound("notification", text)
      }
      last = sequence
    case nil:
      last = position.last
    }
    guard last >= position.floor else {
      throw CommerceError(
        .failedPrecondition, .eventsExpired, "notifications after the resume position are no longer retained",
        metadata: ["oldestSequence": "\(position.floor + 1)"]
      ).precondition(
        kind: "EVENTS_EXPIRED", subject: "notifications/\(recipient)",
        "resynchronise with ListNotifications, then subscribe from its newest sequence")
    }

    let writer = BoundedStreamWriter(response, limit: configuration.stalledWriteLimit)
    let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let store = store
    let pageSize = configuration.pageSize
    let retention = configuration.retention
    let now = now
    let resumed = last
    try await withThrowingTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await _ in drained {}
        throw CommerceError(
          .unavailable, nil, "the server is shutting down; resubscribe elsewhere with the last sequence seen",
          retryAfter: .milliseconds(100))
      }
      // Wake-ups are folded into one pending signal, so a stream that is busy writing keeps
      // no queue of them.
      group.addTask {
        for await _ in wakeUps { wake.yield() }
        wake.finish()
        return false
      }
      group.addTask {
        while true {
          writer.failIfStalled()
          try await Task.sleep(for: configuration.stalledWriteLimit / 4)
        }
      }
      group.addTask {
        var last = resumed
        /// Sends everything after `last`, page by page.
        func sendNew() async throws {
          while true {
            let page = try await store.notifications(
              of: recipient, after: last, kinds: kinds, cutoff: now().addingTimeInterval(-retention), limit: pageSize)
            for notification in page {
              try await writer.write(.with { $0.notification = notification.proto })
            }
            if let newest = page.last { last = newest.sequence }
            if page.count < pageSize { return }
          }
        }
        try await sendNew()
        try await writer.write(.with { $0.caughtUp = true })
        for await _ in wakes { try await sendNew() }
        try Task.checkCancellation()
        throw CommerceError(.unavailable, nil, "the notification feed was interrupted; resubscribe with the last sequence seen")
      }
      while let decisive = try await group.next() {
        if decisive { break }
      }
      group.cancelAll()
    }
  }

  /// The kinds of a filter as stored numbers; empty (every kind) when UNSPECIFIED is among
  /// them. Unknown kinds are violations.
  static func kinds(_ kinds: [CommerceV1.NotificationKind], field: String, into violations: inout FieldViolations) -> [Int32] {
    var numbers: [Int32] = []
    var every = kinds.isEmpty
    for (index, kind) in kinds.enumerated() {
      switch kind {
      case .unspecified: every = true
      case .unrecognized(let number): violations.add("\(field)[\(index)]", "is not a NotificationKind (\(number))")
      default: numbers.append(kind.rawValue)
      }
    }
    return every ? [] : numbers
  }

  // MARK: Inbox

  public func listNotifications(request: CommerceV1.ListNotificationsRequest, context: ServerContext) async throws
    -> CommerceV1.ListNotificationsResponse
  {
    let recipient = try context.endUser().subject
    var violations = FieldViolations()
    let kinds = Self.kinds(request.kinds, field: "kinds", into: &violations)
    try violations.throwIfAny()
    let size = try PageToken.pageSize(request.pageSize, default: Self.defaultPageSize, maximum: Self.maxPageSize)
    let binding = PageToken.binding("ListNotifications", [recipient, String(request.unreadOnly), kinds.map(String.init).joined(separator: ",")])
    var before: Int64?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 1) {
      guard let sequence = Int64(position[0]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      before = sequence
    }
    let cutoff = cutoff()
    let page = try await store.inbox(
      of: recipient, before: before, unreadOnly: request.unreadOnly, kinds: kinds, cutoff: cutoff, limit: size + 1)
    let unread = try await store.unreadCount(of: recipient, cutoff: cutoff)
    return .with {
      $0.notifications = page.prefix(size).map(\.proto)
      if page.count > size, let lastShown = page.prefix(size).last {
        $0.nextPageToken = PageToken.make([String(lastShown.sequence)], binding: binding)
      }
      $0.unreadCount = unread
    }
  }

  public func markRead(request: CommerceV1.MarkReadRequest, context: ServerContext) async throws -> CommerceV1.MarkReadResponse {
    let recipient = try context.endUser().subject
    var violations = FieldViolations()
    violations.check(
      request.notificationIds.count <= Self.maxMarkIDs, "notification_ids", "must list at most \(Self.maxMarkIDs) notifications")
    violations.check(request.upToSequence >= 0, "up_to_sequence", "must not be negative")
    try violations.throwIfAny()
    // Ids that are not ids are unknown ids: ignored.
    let ids = request.notificationIds.compactMap { UUID(id: $0) }
    let outcome = try await store.markRead(of: recipient, ids: ids, upTo: request.upToSequence, now: now(), cutoff: cutoff())
    return .with {
      $0.markedCount = outcome.marked
      $0.unreadCount = outcome.unread
    }
  }

  // MARK: Publishing

  public func publishEvents(request: CommerceV1.PublishEventsRequest, context: ServerContext) async throws
    -> CommerceV1.PublishEventsResponse
  {
    let caller = try context.principal()
    guard let identity = caller.serviceName else {
      throw CommerceError.permissionDenied("only services publish events")
    }
    var violations = FieldViolations()
    violations.check(!request.events.isEmpty, "events", "must hold at least one event")
    violations.check(request.events.count <= Self.maxEvents, "events", "must hold at most \(Self.maxEvents) events")
    let now = now()
    var events: [NewNotification] = []
    if request.events.count <= Self.maxEvents {
      for (index, event) in request.events.enumerated() {
        let field = "events[\(index)]"
        violations.check(!event.sourceEventId.isEmpty, "\(field).source_event_id", "is required")
        violations.check(
          event.sourceEventId.count <= Self.maxSourceEventIDLength, "\(field).source_event_id",
          "must be at most \(Self.maxSourceEventIDLength) characters")
        violations.check(!event.recipientId.isEmpty, "\(field).recipient_id", "is required")
        violations.check(
          event.recipientId.count <= Self.maxIDLength, "\(field).recipient_id", "must be at most \(Self.maxIDLength) characters")
        guard let payload = event.payload, let kind = payload.kind else {
          violations.add("\(field).payload", "is required, with one event set")
          continue
        }
        let text = NotificationText.render(payload)
        events.append(
          NewNotification(
            id: UUID(), recipientID: event.recipientId, kind: kind, title: text.title, body: text.body,
            sourceEventID: event.sourceEventId, occurTime: event.occurTime?.date ?? now, payload: payload))
      }
    }
    try violations.throwIfAny()
    let accepted = try await store.publish(
      events, source: SourceServices.fullName(of: identity), now: now, keep: configuration.maxPerRecipient)
    return .with {
      $0.acceptedCount = Int32(accepted)
      $0.duplicateCount = Int32(events.count - accepted)
    }
  }
}

/// The Subscribe streams open per user in this process, at most `limit` each.
final class SubscriptionSlots: Sendable {
  private let limit: Int
  private let open = Mutex<[String: Int]>([:])

  init(limit: Int) {
    self.limit = limit
  }

  /// Takes a slot for `user`; false when all of its slots are taken.
  func take(_ user: String) -> Bool {
    open.withLock { open in
      guard open[user, default: 0] < limit else { return false }
      open[user, default: 0] += 1
      return true
    }
  }

  func release(_ user: String) {
    open.withLock { open in
      let left = open[user, default: 1] - 1
      open[user] = left > 0 ? left : nil
    }
  }

  func count(_ user: String) -> Int { open.withLock { $0[user, default: 0] } }
}
