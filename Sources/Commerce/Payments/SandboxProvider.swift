public import CommerceAPI
public import CommerceKit
public import Crypto
public import Foundation
public import Logging
import Messages
import RPC
public import ServiceLifecycle
import Synchronization

/// The sandbox payment provider (provider id "sandbox"), following the test-card conventions of
/// payments.proto's file comment:
///
/// - 4242 4242 4242 4242, and any other number passing the Luhn check: authorized (captured at
///   once with capture_immediately); capture and refunds succeed.
/// - 4000 0000 0000 0002: declined, CARD_DECLINED. Numbers ending 9995: declined,
///   INSUFFICIENT_FUNDS. An expiry in the past: declined, EXPIRED_CARD.
/// - 4000 0000 0000 3220: answered PENDING; about ``Configuration/asynchronousDelay`` later the
///   sandbox reports AUTHORIZATION_SUCCEEDED through the webhook.
/// - A number failing the Luhn check, or a malformed expiry or CVC: ``ProviderError/invalidRequest(field:_:)``.
/// - Spaces are ignored; tokens "tok_sandbox_<digits>" behave like that number (with an expiry
///   in the future and no CVC to check).
/// - An authorization not captured or voided within ``Configuration/authorizationHold`` (7 days
///   by default, counted from the request) lapses: the charge is voided and the sandbox
///   reports AUTHORIZATION_EXPIRED. A capture after that is rejected, as a card network would.
///
/// It is an external party even in-process: it keeps its own record of every request by the
/// forwarded idempotency key (in memory), so a repeated request returns the first answer and
/// never charges, captures or refunds twice, whatever our own records say. ``charges`` shows
/// that record to tests.
///
/// Faults for tests (``injectFault(_:on:times:)``): refusing the connection, hanging before it
/// charges, and charging and then hanging (the answer is lost). A hang lasts until the caller
/// gives up (its timeout cancels the request).
///
/// Webhook events are signed with the shared secret and delivered at least once to the receiver
/// given to ``connectWebhook(_:)``, retried with backoff until it accepts them, by
/// ``webhookSender(logger:)`` (background work of the process).
public final class SandboxProvider: PaymentProvider {
  public struct Configuration: Sendable {
    /// How long after a PENDING answer the sandbox reports the result.
    public var asynchronousDelay: Duration = .seconds(1)
    /// How long an authorization holds, from its request, before it lapses uncaptured (7 days,
    /// as PaymentService's `authorizationHold` assumes; tests shorten both). At least twice
    /// ``asynchronousDelay`` is used, so a pending authorization is reported before it lapses.
    public var authorizationHold: Duration = .seconds(7 * 24 * 3600)
    var effectiveHold: Duration { max(authorizationHold, asynchronousDelay * 2) }
    /// How long a hang fault lasts if the caller does not give up first.
    public var hangDuration: Duration = .seconds(120)
    /// How long every request takes before the sandbox acts on it (a slow provider); none by
    /// default.
    public var latency: Duration = .zero
    /// The first pause before a webhook delivery is retried; it doubles up to
    /// ``maximumRetryDelay``.
    public var initialRetryDelay: Duration = .milliseconds(100)
    public var maximumRetryDelay: Duration = .seconds(5)
    /// The clock (card expiry, webhook timestamps).
    public var now: @Sendable () -> Date = Date.init

    public init() {}
  }

  /// A fault the next requests meet.
  public enum Fault: Sendable, Hashable {
    /// The connection is refused: nothing happens at the provider.
    case refuse
    /// The request hangs before the provider acts on it: nothing happens.
    case timeOutBeforeCharging
    /// The provider acts on the request (charges, captures, refunds), then the answer is lost.
    case timeOutAfterCharging
  }

  /// The provider operations.
  public enum Operation: String, Sendable, Hashable {
    case authorize, capture, void, refund
  }

  /// The sandbox's record of one authorization (a charge).
  public struct Charge: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
      case pending, authorized, captured, declined, voided
    }

    public var id: String
    /// The forwarded idempotency key of the authorization.
    public var idempotencyKey: String
    public var amount: Money
    public var captured: Int64
    public var refunded: Int64
    public var status: Status
    public var card: CardSummary
    public var captureImmediately: Bool
  }

  public let id = "sandbox"
  public let configuration: Configuration
  /// The shared webhook secret.
  let secret: SymmetricKey

  private struct State {
    var charges: [String: Charge] = [:]
    var authorizations: [String: ProviderAuthorizationResult] = [:]
    var captures: [String: ProviderCaptureResult] = [:]
    var voids: [String: ProviderVoidResult] = [:]
    var refunds: [String: ProviderRefundResult] = [:]
    var faults: [(operation: Operation?, fault: Fault)] = []
    var requests: [Operation: Int] = [:]
    var receiver: (@Sendable (WebhookDelivery) async throws -> Void)?
    var delivered = 0
    /// Authorizations that lapse unless captured or voided first, soonest first.
    var holds: [Hold] = []
  }

  /// When an authorized charge lapses.
  struct Hold {
    var lapses: ContinuousClock.Instant
    var chargeID: String
  }

  private let state = Mutex(State())
  private let scheduled: AsyncStream<ScheduledEvent>
  private let schedule: AsyncStream<ScheduledEvent>.Continuation
  /// Signalled when a hold is added, so the lapse watcher looks at the soonest one again.
  private let holdsChanged: AsyncStream<Void>
  private let holdAdded: AsyncStream<Void>.Continuation

  struct ScheduledEvent: Sendable {
    var due: ContinuousClock.Instant
    var event: CommerceV1.ReportProviderEventRequest
  }

  /// - Parameter webhookSecret: the secret webhook deliveries are signed with, shared with our
  ///   ``ProviderWebhook``.
  public init(webhookSecret: SymmetricKey, configuration: Configuration = .init()) {
    self.secret = webhookSecret
    self.configuration = configuration
    (scheduled, schedule) = AsyncStream.makeStream(of: ScheduledEvent.self)
    (holdsChanged, holdAdded) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  // MARK: Test controls

  /// The next `times` requests (of `operation`, or of any operation when nil) meet `fault`.
  public func injectFault(_ fault: Fault, on operation: Operation? = nil, times: Int = 1) {
    state.withLock { state in
      for _ in 0..<times { state.faults.append((operation, fault)) }
    }
  }

  /// Where webhook deliveries go (our ``ProviderWebhook``, in-process).
  public func connectWebhook(_ receiver: @escaping @Sendable (WebhookDelivery) async throws -> Void) {
    state.withLock { $0.receiver = receiver }
  }

  /// Every charge the sandbox has recorded.
  public var charges: [Charge] { state.withLock { Array($0.charges.values) } }

  /// The charges recorded for one forwarded authorization key.
  public func charges(forKey key: String) -> [Charge] { charges.filter { $0.idempotencyKey == key } }

  /// How many requests of `operation` arrived (faults included).
  public func requestCount(_ operation: Operation) -> Int { state.withLock { $0.requests[operation] ?? 0 } }

  /// How many webhook deliveries the receiver accepted.
  public var deliveredEvents: Int { state.withLock { $0.delivered } }

  /// Schedules a provider event for delivery through the webhook after `delay` (tests use it to
  /// send events the sandbox would send).
  public func send(_ event: CommerceV1.ReportProviderEventRequest, after delay: Duration = .zero) {
    schedule.yield(ScheduledEvent(due: .now + delay, event: event))
  }

  /// A new event id.
  public func nextEventID() -> String {
    "evt_sbx_" + UUID().uuidString.lowercased().filter { $0 != "-" }
  }

  // MARK: PaymentProvider

  public func authorize(_ request: ProviderAuthorization) async throws -> ProviderAuthorizationResult {
    try await perform(.authorize) { try self.recordAuthorization(request) }
  }

  public func findAuthorization(idempotencyKey: String) async throws -> ProviderAuthorizationResult? {
    if configuration.latency > .zero { try await Task.sleep(for: configuration.latency) }
    return state.withLock { $0.authorizations[idempotencyKey] }
  }

  public func capture(_ request: ProviderCapture) async throws -> ProviderCaptureResult {
    try await perform(.capture) {
      try self.state.withLock { state in
        if let answered = state.captures[request.idempotencyKey] { return answered }
        guard var charge = state.charges[request.providerPaymentID] else { throw ProviderError.rejected("no such charge") }
        guard charge.status == .authorized else { throw ProviderError.rejected("the charge is \(charge.status.rawValue)") }
        guard request.amount.currency == charge.amount.currency, request.amount.amountMinor <= charge.amount.amountMinor,
          request.amount.amountMinor > 0
        else { throw ProviderError.rejected("the amount exceeds the authorization") }
        charge.captured = request.amount.amountMinor
        charge.status = .captured
        state.charges[charge.id] = charge
        let result = ProviderCaptureResult(captured: request.amount)
        state.captures[request.idempotencyKey] = result
        return result
      }
    }
  }

  public func void(_ request: ProviderVoid) async throws -> ProviderVoidResult {
    try await perform(.void) {
      try self.state.withLock { state in
        if let answered = state.voids[request.idempotencyKey] { return answered }
        guard var charge = state.charges[request.providerPaymentID] else { throw ProviderError.rejected("no such charge") }
        guard charge.status == .authorized else { throw ProviderError.rejected("the charge is \(charge.status.rawValue)") }
        charge.status = .voided
        state.charges[charge.id] = charge
        let result = ProviderVoidResult()
        state.voids[request.idempotencyKey] = result
        return result
      }
    }
  }

  public func refund(_ request: ProviderRefund) async throws -> ProviderRefundResult {
    try await perform(.refund) {
      try self.state.withLock { state in
        if let answered = state.refunds[request.idempotencyKey] { return answered }
        guard var charge = state.charges[request.providerPaymentID] else { throw ProviderError.rejected("no such charge") }
        guard charge.status == .captured else { throw ProviderError.rejected("the charge is \(charge.status.rawValue)") }
        guard request.amount.currency == charge.amount.currency, request.amount.amountMinor > 0,
          request.amount.amountMinor <= charge.captured - charge.refunded
        else { throw ProviderError.rejected("the amount exceeds what is left to refund") }
        charge.refunded += request.amount.amountMinor
        state.charges[charge.id] = charge
        let result = ProviderRefundResult(providerRefundID: "re_sbx_" + Self.randomID(), outcome: .succeeded)
        state.refunds[request.idempotencyKey] = result
        return result
      }
    }
  }

  // MARK: Behaviour

  /// Counts the request, waits ``Configuration/latency``, applies the next fault that matches
  /// it, and runs `act`.
  private func perform<Result: Sendable>(_ operation: Operation, _ act: @Sendable () throws -> Result) async throws -> Result {
    if configuration.latency > .zero { try await Task.sleep(for: configuration.latency) }
    let fault = state.withLock { state -> Fault? in
      state.requests[operation, default: 0] += 1
      guard let index = state.faults.firstIndex(where: { $0.operation == nil || $0.operation == operation }) else { return nil }
      return state.faults.remove(at: index).fault
    }
    switch fault {
    case nil:
      return try act()
    case .refuse?:
      throw ProviderError.unavailable("connection refused")
    case .timeOutBeforeCharging?:
      try await Task.sleep(for: configuration.hangDuration)
      throw ProviderError.unavailable("no answer")
    case .timeOutAfterCharging?:
      _ = try act()
      try await Task.sleep(for: configuration.hangDuration)
      throw ProviderError.unavailable("the answer was lost")
    }
  }

  private func recordAuthorization(_ request: ProviderAuthorization) throws -> ProviderAuthorizationResult {
    let card: PaymentCard
    switch request.method {
    case .card(let raw):
      var violations = FieldViolations()
      guard
        let checked = PaymentCard.validated(
          number: raw.number, expMonth: Int32(clamping: raw.expMonth), expYear: Int32(clamping: raw.expYear), cvc: raw.cvc,
          field: "payment_method.test_card", into: &violations)
      else {
        throw ProviderError.invalidRequest(field: "payment_method.test_card", "the card is malformed")
      }
      card = checked
    case .token(let token):
      let prefix = "tok_sandbox_"
      let digits = String(token.dropFirst(prefix.count))
      guard token.hasPrefix(prefix), (12...19).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
        PaymentCard.luhnValid(digits)
      else {
        throw ProviderError.invalidRequest(field: "payment_method.card_token", "is not a card token the sandbox issued")
      }
      let year = Calendar(identifier: .gregorian).component(.year, from: configuration.now()) + 3
      card = PaymentCard(number: digits, expMonth: 12, expYear: year, cvc: "")
    }
    return state.withLock { state in
      if let answered = state.authorizations[request.idempotencyKey] { return answered }
      let chargeID = "ch_sbx_" + Self.randomID()
      let outcome: ProviderAuthorizationResult.Outcome
      var message = ""
      if card.number == "4000000000000002" {
        outcome = .declined(.cardDeclined)
        message = "Your card was declined."
      } else if card.number.hasSuffix("9995") {
        outcome = .declined(.insufficientFunds)
        message = "Your card has insufficient funds."
      } else if card.isExpired(at: configuration.now()) {
        outcome = .declined(.expiredCard)
        message = "Your card has expired."
      } else if card.number == "4000000000003220" {
        outcome = .pending
      } else {
        outcome = request.captureImmediately ? .captured : .authorized
      }
      let status: Charge.Status =
        switch outcome {
        case .authorized: .authorized
        case .captured: .captured
        case .declined: .declined
        case .pending: .pending
        }
      state.charges[chargeID] = Charge(
        id: chargeID, idempotencyKey: request.idempotencyKey, amount: request.amount,
        captured: outcome == .captured ? request.amount.amountMinor : 0, refunded: 0, status: status, card: card.summary,
        captureImmediately: request.captureImmediately)
      let result = ProviderAuthorizationResult(providerPaymentID: chargeID, outcome: outcome, message: message, card: card.summary)
      state.authorizations[request.idempotencyKey] = result
      if outcome == .authorized || (outcome == .pending && !request.captureImmediately) {
        // Taken under the lock, so holds are added in lapse order.
        state.holds.append(Hold(lapses: .now + configuration.effectiveHold, chargeID: chargeID))
        holdAdded.yield()
      }
      if outcome == .pending {
        // The issuer answers later: the charge settles and the webhook reports it.
        var settled = state.charges[chargeID]!
        settled.status = request.captureImmediately ? .captured : .authorized
        settled.captured = request.captureImmediately ? request.amount.amountMinor : 0
        state.charges[chargeID] = settled
        let event = CommerceV1.ReportProviderEventRequest.with {
          $0.providerId = id
          $0.providerEventId = nextEventID()
          $0.kind = .authorizationSucceeded
          $0.providerPaymentId = chargeID
          $0.amount = request.amount.proto
          $0.occurTime = .init(configuration.now().addingTimeInterval(Self.seconds(configuration.asynchronousDelay)))
        }
        schedule.yield(ScheduledEvent(due: .now + configuration.asynchronousDelay, event: event))
      }
      return result
    }
  }

  // MARK: Holds

  /// Voids the authorized charges whose holds lapsed by `now` and returns their
  /// AUTHORIZATION_EXPIRED reports; captured and voided charges just leave the list.
  func lapseHolds(at now: ContinuousClock.Instant) -> [CommerceV1.ReportProviderEventRequest] {
    state.withLock { state in
      var reports: [CommerceV1.ReportProviderEventRequest] = []
      let due = state.holds.prefix { $0.lapses <= now }.count
      for hold in state.holds.prefix(due) {
        guard var charge = state.charges[hold.chargeID], charge.status == .authorized else { continue }
        charge.status = .voided
        state.charges[charge.id] = charge
        reports.append(
          .with {
            $0.providerId = id
            $0.providerEventId = nextEventID()
            $0.kind = .authorizationExpired
            $0.providerPaymentId = charge.id
            $0.amount = charge.amount.proto
            $0.providerMessage = "The authorization lapsed uncaptured."
            $0.occurTime = .init(configuration.now())
          })
      }
      state.holds.removeFirst(due)
      return reports
    }
  }

  /// Until cancelled: sleeps until the soonest hold lapses (or, with none, until one is added),
  /// then reports the lapsed ones through the webhook. Holds are added in lapse order (each
  /// lapses ``Configuration/authorizationHold`` after its request), so none lapses before the
  /// one slept on.
  func watchHolds() async {
    var added = holdsChanged.makeAsyncIterator()
    while !Task.isCancelled {
      if let soonest = state.withLock({ $0.holds.first?.lapses }) {
        do { try await Task.sleep(until: soonest) } catch { return }
      } else if await added.next() == nil {
        return
      }
      for report in lapseHolds(at: .now) { schedule.yield(ScheduledEvent(due: .now, event: report)) }
    }
  }

  static func seconds(_ duration: Duration) -> TimeInterval {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  static func randomID() -> String {
    UUID().uuidString.lowercased().filter { $0 != "-" }
  }

  // MARK: Webhook deliveries

  /// The background work that delivers scheduled events to the connected webhook receiver:
  /// each when it is due, signed at the time of each attempt, retried with backoff (doubling up
  /// to ``Configuration/maximumRetryDelay``) until the receiver accepts it or the process
  /// shuts down. Refusals of the signature are not retried.
  public func webhookSender(logger: Logger) -> any Service {
    WebhookSender(sandbox: self, logger: logger)
  }

  struct WebhookSender: Service {
    let sandbox: SandboxProvider
    let logger: Logger

    func run() async throws {
      await cancelWhenGracefulShutdown {
        await withDiscardingTaskGroup { group in
          group.addTask { await sandbox.watchHolds() }
          for await scheduled in sandbox.scheduled {
            group.addTask { await deliver(scheduled) }
          }
        }
      }
    }

    private func deliver(_ scheduled: ScheduledEvent) async {
      do {
        try await Task.sleep(until: scheduled.due)
      } catch {
        return
      }
      var pause = sandbox.configuration.initialRetryDelay
      while !Task.isCancelled {
        do {
          guard let receiver = sandbox.state.withLock({ $0.receiver }) else { throw ProviderError.unavailable("no webhook receiver") }
          let delivery = try WebhookDelivery.signed(scheduled.event, secret: sandbox.secret, at: sandbox.configuration.now())
          try await receiver(delivery)
          sandbox.state.withLock { $0.delivered += 1 }
          return
        } catch let error as CommerceError
          where error.code == .unauthenticated || error.code == .permissionDenied || error.code == .invalidArgument
        {
          logger.warning("sandbox webhook delivery refused", metadata: ["event": "\(scheduled.event.providerEventId)", "error": "\(error)"])
          return
        } catch {
          logger.debug("sandbox webhook delivery failed; retrying", metadata: ["event": "\(scheduled.event.providerEventId)", "error": "\(error)"])
        }
        do {
          try await Task.sleep(for: pause)
        } catch {
          return
        }
        pause = min(pause * 2, sandbox.configuration.maximumRetryDelay)
      }
    }
  }
}
