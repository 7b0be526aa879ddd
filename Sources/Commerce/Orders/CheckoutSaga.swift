import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import RPC
import Synchronization

/// The checkout saga of orders.proto's file comment, from a stored PENDING order on: reserve
/// stock, authorize the payment, commit the reservation (CONFIRMED) and clear the bought cart
/// lines; or compensate (release, void) and record the order FAILED.
///
/// Rules it keeps:
/// - Only the holder of the order's saga lease runs a step (``OrderStore/claimSaga``); each
///   step's outcome is recorded with the order's state in one transaction
///   (``OrderStore/change(_:step:detail:now:_:)``), which also renews the lease.
/// - Peers are called outside any transaction, as the service identity "orders", with
///   idempotency keys derived from the order id and step ("<order_id>:reserve",
///   "<order_id>:authorize"), so a resumed saga never reserves or charges twice.
/// - A failure that compensates answers only after the compensation (the reservation released).
/// - Transient peer failures leave the saga to the recovery worker: the lease is given up at
///   once, and ``SagaRecovery`` resumes it.
/// - It runs detached from the caller (``OrderService/checkout``): a caller's deadline or
///   cancellation never stops a saga halfway.
struct CheckoutSaga: Sendable {
  let store: OrderStore
  let inventory: CommerceV1.InventoryService.Client
  let payments: CommerceV1.PaymentService.Client
  let cart: CommerceV1.CartService.Client
  let configuration: OrderService.Configuration
  /// This process's identity as a saga owner.
  let owner: UUID
  /// Payment methods of the sagas this process runs, never stored (card data).
  let methods: PaymentMethodVault
  let logger: Logger
  let now: @Sendable () -> Date

  private var options: CallOptions { CallOptions(timeout: configuration.peerCallTimeout) }

  /// A step's peer call failed in a way that does not decide the outcome (UNAVAILABLE, a
  /// deadline): the saga is left to the recovery worker.
  struct Interrupted: Error {
    var step: String
    var cause: any Error
  }

  // MARK: Running

  /// Runs a saga this process holds the lease of until the order is CONFIRMED, FAILED, or
  /// waiting for a payment result; returns the order then. When a step is interrupted, the
  /// lease is given up (the worker resumes it) and the order is returned as it stands.
  func run(_ order: OrderRecord) async -> OrderRecord {
    var current = order
    do {
      while current.sagaState == .running {
        switch current.status {
        case .pending: current = try await reserve(current)
        case .awaitingPayment: current = try await pay(current)
        default: return current
        }
      }
      if current.sagaState == .done { methods.remove(current.id) }
      return current
    } catch {
      logger.warning(
        "checkout saga interrupted; the recovery worker resumes it",
        metadata: ["orderId": "\(current.id.lowercasedString)", "error": "\(error)"])
      if let latest = try? await store.change(current.id, step: "interrupted", detail: "\(error)", now: now(), { order, _ in
        if order.sagaState == .running, order.sagaOwner == owner { order.sagaLeaseUntil = now() }
      }) {
        return latest
      }
      return current
    }
  }

  private func renewed(_ order: inout OrderRecord) {
    order.sagaOwner = owner
    order.sagaLeaseUntil = now().addingTimeInterval(configuration.sagaLease)
  }

  // MARK: Steps

  /// Step 3: reserve every line, all-or-nothing.
  private func reserve(_ order: OrderRecord) async throws -> OrderRecord {
    if now() >= order.sagaDeadline { return try await giveUp(order, why: "stock was not reserved in time") }
    let ttl = configuration.reservationTTL
    let reservation: CommerceV1.Reservation
    do {
      reservation = try await inventory.reserveStock(
        .with {
          $0.orderId = order.id.lowercasedString
          $0.lines = order.lines.map { line in
            .with {
              $0.productId = line.productID
              $0.quantity = Int64(line.quantity)
            }
          }
          $0.ttl = .init(ttl)
          $0.idempotencyKey = order.id.lowercasedString + ":reserve"
        }, options: options
      ).reservation ?? .init()
    } catch let error as RPCError where !Self.isTransient(error) {
      let failure = error.commerceReason == "INSUFFICIENT_STOCK" ? Self.insufficientStock(error, order: order) : Self.failure(error, order: order)
      return try await store.change(order.id, step: "reserve-failed", detail: failure.message, now: now()) { o, _ in
        guard o.status == .pending else { return }
        o.failure = failure
        try o.move(to: .failed, at: now(), note: failure.reason == "INSUFFICIENT_STOCK" ? "stock short" : "stock not reserved")
      }
    } catch {
      throw Interrupted(step: "reserve", cause: error)
    }
    return try await store.change(order.id, step: "reserved", detail: "reservation \(reservation.reservationId)", now: now()) { o, _ in
      guard o.status == .pending else { return }
      o.reservationID = reservation.reservationId
      o.reservationExpiresAt = reservation.expireTime?.date
      try o.move(to: .awaitingPayment, at: now(), note: "stock reserved")
      renewed(&o)
    }
  }

  /// Step 4: authorize the payment (or learn what became of it), then confirm, compensate, or
  /// wait for the asynchronous result.
  private func pay(_ order: OrderRecord) async throws -> OrderRecord {
    if now() >= order.sagaDeadline { return try await giveUp(order, why: "the payment was not authorized within 30 minutes") }
    var payment: CommerceV1.Payment?
    do {
      if let id = order.paymentID, !id.isEmpty {
        payment = try await payments.getPayment(.with { $0.paymentId = id }, options: options).payment
      } else if let method = methods.method(order.id) {
        payment = try await payments.authorizePayment(
          .with {
            $0.orderId = order.id.lowercasedString
            $0.customerId = order.customerID
            $0.amount = OrderMessages.money(order.total, order.currency)
            $0.paymentMethod = method
            $0.billingAddress = order.billingAddress
            $0.idempotencyKey = order.id.lowercasedString + ":authorize"
          }, options: options
        ).payment
      } else {
        // Resumed without the payment method (it is never stored): what became of the attempt.
        payment = try await payments.listPayments(.with { $0.orderId = order.id.lowercasedString }, options: options).payments.first
        // No payment at all: the process that ran the saga stopped before PaymentService
        // recorded the authorization, and the method died with it. Once any call it could still
        // have in flight has timed out, the order cannot be paid: compensate.
        if payment == nil, now().timeIntervalSince(order.updatedAt) > Double(configuration.peerCallTimeout.components.seconds) {
          return try await giveUp(order, why: "the payment was never started: the server running the checkout stopped before authorizing")
        }
      }
    } catch let error as RPCError where error.code == .invalidArgument {
      // The payment method was refused (malformed card, test card outside sandbox mode).
      return try await compensate(order, failure: Self.failure(error, order: order), note: "payment method refused")
    } catch {
      logger.info("payment not settled; waiting", metadata: ["orderId": "\(order.id.lowercasedString)", "error": "\(error)"])
      return try await wait(order, payment: nil)
    }
    guard let payment else { return try await wait(order, payment: nil) }
    switch payment.status {
    case .authorized, .captured: return try await confirm(order, payment: payment, event: nil)
    case .declined, .failed, .voided: return try await decline(order, payment: payment, event: nil)
    default: return try await wait(order, payment: payment)
    }
  }

  /// Commits the reservation and records the order CONFIRMED; then removes the bought lines
  /// from the cart (for cart checkouts). A reservation that can no longer be committed (it
  /// expired) voids the payment and fails the order.
  func confirm(_ order: OrderRecord, payment: CommerceV1.Payment, event: (id: String, kind: Int32)?) async throws -> OrderRecord {
    guard let reservationID = order.reservationID else { throw Interrupted(step: "commit", cause: OrderStore.StoreError.corruptRow) }
    do {
      _ = try await inventory.commitReservation(.with { $0.reservationId = reservationID }, options: options)
    } catch let error as RPCError where error.code == .failedPrecondition {
      try? await void(payment.paymentId, reason: "stock reservation lapsed")
      return try await record(order, failure: Self.failure(error, order: order), payment: payment, note: "stock reservation lapsed", event: event)
    } catch {
      throw Interrupted(step: "commit", cause: error)
    }
    let confirmed = try await store.change(order.id, step: "confirmed", detail: "payment \(payment.paymentId) \(payment.status)", now: now()) {
      o, tx in
      if let event { _ = try await store.recordEvent(o.id, eventID: event.id, kind: event.kind, now: now(), in: tx) }
      guard o.status == .awaitingPayment else { return }
      Self.apply(payment, to: &o)
      o.reservationCommitted = true
      try o.move(to: .confirmed, at: now(), note: "payment authorized, stock committed")
    }
    methods.remove(order.id)
    if confirmed.fromCart {
      do {
        _ = try await cart.clearCart(
          .with {
            $0.userId = confirmed.customerID
            $0.productIds = confirmed.lines.map(\.productID)
          }, options: options)
        try? await store.log(order.id, step: "cart-cleared", at: now())
      } catch {
        logger.warning("bought lines not removed from the cart", metadata: ["orderId": "\(order.id.lowercasedString)", "error": "\(error)"])
      }
    }
    return confirmed
  }

  /// A declined (or failed) payment: releases the reservation, then records the order FAILED
  /// with PAYMENT_DECLINED.
  func decline(_ order: OrderRecord, payment: CommerceV1.Payment, event: (id: String, kind: Int32)?) async throws -> OrderRecord {
    let reason = payment.declineReason == .unspecified ? CommerceV1.DeclineReason.processingError : payment.declineReason
    let reasonName = CommerceV1.DeclineReason.protoValueNames[reason.rawValue] ?? "DECLINE_REASON_UNSPECIFIED"
    let error = CommerceError(
      .failedPrecondition, .paymentDeclined, "the payment was declined (\(reasonName)); the order failed",
      metadata: ["orderId": order.id.lowercasedString, "paymentId": payment.paymentId, "declineReason": reasonName])
    var failure = Self.failure(error.rpcError, order: order)
    failure.declineReason = reason.rawValue
    try await release(order, reason: "payment declined")
    return try await record(order, failure: failure, payment: payment, note: "payment declined", event: event)
  }

  /// Releases the reservation, then records the order FAILED with `failure`.
  private func compensate(_ order: OrderRecord, failure: OrderFailureRecord, note: String) async throws -> OrderRecord {
    try await release(order, reason: note)
    return try await record(order, failure: failure, payment: nil, note: note, event: nil)
  }

  /// The saga ran out of time (30 minutes): voids an authorized payment, releases the
  /// reservation, and records the order FAILED (PAYMENT_DECLINED, PROCESSING_ERROR).
  func giveUp(_ order: OrderRecord, why: String) async throws -> OrderRecord {
    var payment: CommerceV1.Payment?
    if let id = order.paymentID, !id.isEmpty {
      payment = try? await payments.getPayment(.with { $0.paymentId = id }, options: options).payment
      if let status = payment?.status, status == .authorized || status == .pending {
        try? await void(id, reason: "checkout timed out")
      }
    }
    var timedOut = CommerceV1.Payment()
    timedOut.paymentId = order.paymentID ?? ""
    timedOut.status = payment?.status ?? .failed
    timedOut.declineReason = .processingError
    var failed = try await decline(order, payment: timedOut, event: nil)
    if failed.status == .failed {
      failed = try await store.change(order.id, step: "timed-out", detail: why, now: now()) { _, _ in }
    }
    return failed
  }

  /// Records the order FAILED (a final outcome of the saga).
  private func record(
    _ order: OrderRecord, failure: OrderFailureRecord, payment: CommerceV1.Payment?, note: String, event: (id: String, kind: Int32)?
  ) async throws -> OrderRecord {
    try await store.change(order.id, step: "failed", detail: failure.message, now: now()) { o, tx in
      if let event { _ = try await store.recordEvent(o.id, eventID: event.id, kind: event.kind, now: now(), in: tx) }
      guard o.status == .pending || o.status == .awaitingPayment else { return }
      if let payment { Self.apply(payment, to: &o) }
      o.failure = failure
      try o.move(to: .failed, at: now(), note: note)
    }
  }

  /// Parks the saga until the payment result arrives (ApplyOrderEvent) or the worker finds it
  /// settled, extending the reservation so that it outlives the wait.
  private func wait(_ order: OrderRecord, payment: CommerceV1.Payment?) async throws -> OrderRecord {
    var expiresAt = order.reservationExpiresAt
    let ttl = configuration.reservationTTL
    if let id = order.reservationID, let current = expiresAt, current.timeIntervalSince(now()) < Double(ttl.components.seconds) / 2 {
      do {
        let extended = try await inventory.extendReservation(
          .with {
            $0.reservationId = id
            $0.ttl = .init(ttl)
          }, options: options)
        expiresAt = extended.reservation?.expireTime?.date ?? current
      } catch {
        logger.warning("reservation not extended", metadata: ["orderId": "\(order.id.lowercasedString)", "error": "\(error)"])
      }
    }
    let newExpiry = expiresAt
    return try await store.change(order.id, step: "awaiting-payment", detail: payment.map { "payment \($0.paymentId) \($0.status)" } ?? "payment unknown", now: now()) {
      o, _ in
      guard o.sagaState == .running, o.sagaOwner == owner else { return }
      if let payment { Self.apply(payment, to: &o) }
      o.reservationExpiresAt = newExpiry
      o.sagaState = .waiting
      o.sagaOwner = nil
      // For a waiting saga, the lease column says when the worker checks the payment next.
      o.sagaLeaseUntil = now().addingTimeInterval(configuration.paymentCheckInterval)
    }
  }

  // MARK: Peers

  private func release(_ order: OrderRecord, reason: String) async throws {
    guard let id = order.reservationID, !order.reservationCommitted else { return }
    do {
      _ = try await inventory.releaseReservation(
        .with {
          $0.reservationId = id
          $0.reason = reason
        }, options: options)
    } catch {
      throw Interrupted(step: "release", cause: error)
    }
  }

  private func void(_ paymentID: String, reason: String) async throws {
    guard !paymentID.isEmpty else { return }
    _ = try await payments.voidPayment(
      .with {
        $0.paymentId = paymentID
        $0.reason = reason
      }, options: options)
  }

  // MARK: Helpers

  static func apply(_ payment: CommerceV1.Payment, to order: inout OrderRecord) {
    if !payment.paymentId.isEmpty { order.paymentID = payment.paymentId }
    if payment.status != .unspecified { order.paymentStatus = payment.status }
    if let method = payment.method { order.paymentMethod = method }
  }

  static func isTransient(_ error: RPCError) -> Bool {
    [.unavailable, .deadlineExceeded, .aborted, .resourceExhausted, .cancelled, .internal, .unknown].contains(error.code)
  }

  /// A peer's final error as the order's failure, with "orderId" added to its ErrorInfo.
  static func failure(_ error: RPCError, order: OrderRecord) -> OrderFailureRecord {
    var details = error.details ?? RpcV1.ErrorDetails()
    // An error without an ErrorInfo (a plain INVALID_ARGUMENT) gets none: the contract's
    // reasons are the only ones ErrorInfo carries, so its order id is found with ListOrders.
    for index in details.details.indices {
      if case .errorInfo(var info) = details.details[index].detail {
        info.metadata["orderId"] = order.id.lowercasedString
        details.details[index].detail = .errorInfo(info)
      }
    }
    return OrderFailureRecord(
      code: Int32(error.code.rawValue), reason: error.commerceReason ?? error.code.name, message: error.message,
      details: try? details.serializedBytes())
  }

  /// INSUFFICIENT_STOCK as Checkout reports it: InventoryService's metadata plus "orderId", and
  /// a PreconditionFailure per short product (subject "product/<id>").
  static func insufficientStock(_ error: RPCError, order: OrderRecord) -> OrderFailureRecord {
    let metadata = error.commerceMetadata
    var short: [String] = []
    for detail in error.details?.details ?? [] {
      guard case .preconditionFailure(let failure) = detail.detail else { continue }
      for violation in failure.violations {
        // Inventory names lines as "lines[<index>]", in the order's line order.
        let digits = violation.subject.drop { !$0.isNumber }.prefix { $0.isNumber }
        if let index = Int(digits), order.lines.indices.contains(index), !short.contains(order.lines[index].productID) {
          short.append(order.lines[index].productID)
        }
      }
    }
    if short.isEmpty, let product = metadata["productId"] { short = [product] }
    var built = CommerceError(
      .failedPrecondition, .insufficientStock, "not enough stock for \(short.count) product(s); the order failed",
      metadata: [
        "orderId": order.id.lowercasedString, "productId": metadata["productId"] ?? short.first ?? "",
        "requested": metadata["requested"] ?? "", "available": metadata["available"] ?? "",
      ])
    for product in short {
      let line = order.lines.first { $0.productID == product }
      built = built.precondition(
        kind: "INSUFFICIENT_STOCK", subject: "product/\(product)", "requested \(line?.quantity ?? 0) units of '\(product)', not available")
    }
    var failure = Self.failure(built.rpcError, order: order)
    failure.shortProductIDs = short
    return failure
  }
}

/// The payment methods of the sagas this process runs, by order, in memory only: card data is
/// never stored. A saga resumed by another process learns the payment's fate from
/// PaymentService instead.
final class PaymentMethodVault: Sendable {
  private let methods = Mutex<[UUID: CommerceV1.PaymentMethod]>([:])

  func set(_ method: CommerceV1.PaymentMethod, for order: UUID) { methods.withLock { $0[order] = method } }
  func method(_ order: UUID) -> CommerceV1.PaymentMethod? { methods.withLock { $0[order] } }
  func remove(_ order: UUID) { _ = methods.withLock { $0.removeValue(forKey: order) } }
}
