import CommerceAPI
import CommerceKit
public import Foundation
import Logging
import Messages
import Postgres
import RPC

/// The work SupportService does after the commit of a change: settling received returns
/// (restock, refund, REFUNDED) and the sweeps of old RESOLVED tickets and expired approvals.
extension SupportService {
  /// Answers of a peer that mean it will never accept the call: retrying would not help.
  static let finalRejections: Set<RPCStatusCode> = [.failedPrecondition, .invalidArgument, .notFound, .permissionDenied]

  struct RefundPending: Error, CustomStringConvertible {
    var returnID: String
    var description: String { "the refund of return \(returnID) is still pending at the provider" }
  }

  /// One drain of the settlement relay: every received return whose settlement intent is in the
  /// outbox is restocked and refunded, then marked REFUNDED, and its intent published. A return
  /// whose refund failed or is pending stays; the error makes the relay try again with backoff
  /// (the downstream calls carry idempotency keys derived from the return, so a repeat never
  /// restocks or refunds twice).
  ///
  /// Each batch runs under the outbox's lock on the topic (``Outbox/exclusively(topic:pool:_:)``),
  /// so the relays of several processes do not settle the same return at once; the one that
  /// finds the topic busy tries again shortly.
  func settleReceivedReturns() async throws {
    while true {
      let (read, failure) = try await store.outbox.exclusively(topic: SupportStore.settlementTopic, pool: store.pool) {
        held -> (Int, (any Error)?) in
        let events = try await held.unpublished(limit: 100)
        var failure: (any Error)?
        var settled: [Int64] = []
        for event in events {
          do {
            let request = try CommerceV1.GetReturnRequest(serializedBytes: event.payload)
            if let id = UUID(id: request.returnId) { try await settle(id) }
            settled.append(event.id)
          } catch {
            failure = error
          }
        }
        try await held.markPublished(settled)
        return (events.count, failure)
      }
      if let failure { throw failure }
      if read < 100 { return }
    }
  }

  /// Restocks the resalable units of a RECEIVED return in its warehouse, refunds its refund
  /// total, and moves it to REFUNDED (with the REFUND_ISSUED order event and the customer's
  /// notification). Does nothing for a return in another status.
  func settle(_ id: UUID) async throws {
    guard let r = try await store.returnRecord(id), r.status == .received else { return }
    let returnID = id.lowercasedString
    for line in r.lines where line.condition == .resalable && line.receivedQuantity > 0 {
      do {
        _ = try await inventory.adjustStock(
          .with {
            $0.productId = line.productID
            $0.warehouseId = r.warehouseID
            $0.delta = Int64(line.receivedQuantity)
            $0.reason = .returnRestock
            $0.note = "return \(returnID) (\(r.rmaCode))"
            $0.idempotencyKey = "return:\(returnID):restock:\(line.orderLineID)"
          }, options: CallOptions(timeout: configuration.peerCallTimeout))
      } catch let error as RPCError where Self.finalRejections.contains(error.code) {
        logger.error(
          "InventoryService refused the restock of a return; its units are not restocked",
          metadata: ["returnId": "\(returnID)", "orderLineId": "\(line.orderLineID)", "error": "\(error)"])
      }
    }
    var refundID = ""
    if r.refundTotal > 0 {
      do {
        let response = try await payments.refundPayment(
          .with {
            $0.paymentId = r.paymentID
            $0.amount = Money(amountMinor: r.refundTotal, currency: r.currency).proto
            $0.reason = .customerReturn
            $0.returnId = returnID
            $0.note = "return \(r.rmaCode)"
            $0.idempotencyKey = "return:\(returnID):refund"
          }, options: CallOptions(timeout: configuration.peerCallTimeout))
        switch response.refund?.status {
        case .succeeded?: refundID = response.refund?.refundId ?? ""
        case .failed?:
          logger.error("the refund of a return failed; it stays RECEIVED", metadata: ["returnId": "\(returnID)"])
          return
        default: throw RefundPending(returnID: returnID)
        }
      } catch let error as RPCError where Self.finalRejections.contains(error.code) {
        logger.error(
          "PaymentService refused the refund of a return; it stays RECEIVED", metadata: ["returnId": "\(returnID)", "error": "\(error)"])
        return
      }
    }
    let now = now()
    try await store.pool.withTransaction { tx in
      guard var locked = try await store.lockReturn(id, in: tx), ReturnTransitions.allows(from: locked.status, to: .refunded) else { return }
      locked.status = .refunded
      locked.refundID = refundID
      locked.refundAt = now
      // Nothing to refund (free units): the order hears the return closed, as REFUND_ISSUED needs
      // an amount.
      _ = try await store.save(locked, orderEvent: locked.refundTotal > 0 ? .refundIssued : .returnClosed, now: now, in: tx)
    }
  }

  /// One round of the sweeper at `now`: RESOLVED tickets resolved more than 14 days before
  /// close (with a system message), and APPROVED returns past their expiry become EXPIRED (the
  /// order hears RETURN_CLOSED, the customer is notified). Each change is its own transaction;
  /// returns what it changed.
  @discardableResult
  public func sweep(now: Date) async throws -> (closedTickets: Int, expiredReturns: Int) {
    let cutoff = now.addingTimeInterval(-configuration.resolvedTicketLifetime)
    var closed = 0
    for id in try await store.resolvedTickets(before: cutoff, limit: 500) {
      closed += try await store.pool.withTransaction { tx in
        guard var ticket = try await store.lockTicket(id, in: tx), ticket.status == .resolved, let at = ticket.resolvedAt, at < cutoff else {
          return 0
        }
        ticket.status = .closed
        ticket.resolvedAt = nil
        _ = try await store.append(
          TicketMessageRecord(
            id: UUID(), ticketID: id, sequence: 0, authorID: "", authorRole: .system,
            body: "This ticket was closed automatically 14 days after it was resolved.", internalNote: false, createdAt: now),
          to: &ticket, notify: false, in: tx)
        ticket.updatedAt = max(now, ticket.updatedAt)
        ticket.version += 1
        try await store.save(ticket, in: tx)
        return 1
      }
    }
    var expired = 0
    for id in try await store.expiredApprovals(at: now, limit: 500) {
      expired += try await store.pool.withTransaction { tx in
        guard var r = try await store.lockReturn(id, in: tx), ReturnTransitions.allows(from: r.status, to: .expired), let at = r.expireAt, at <= now else { return 0 }
        r.status = .expired
        r.expireAt = nil
        _ = try await store.save(r, orderEvent: .returnClosed, now: now, in: tx)
        return 1
      }
    }
    if closed > 0 || expired > 0 {
      logger.info("support sweep", metadata: ["closedTickets": "\(closed)", "expiredReturns": "\(expired)"])
    }
    return (closed, expired)
  }
}
