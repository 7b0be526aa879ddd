import CommerceAPI
import CommerceKit
import CommerceSupport
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@Suite("SupportService: returns from request to refund and restock")
struct ReturnTests {
  @Test("a partial return: requested, approved by the seller, received resalable: restocked, refunded, the order PARTIALLY_REFUNDED; then the rest: REFUNDED")
  func partialThenRest() async throws {
    try await SupportHarness.run { h in
      let (adaID, ada) = try await h.customer("Ada")
      let product = try await h.product(price: 2500, stock: 10)
      let order = try await h.order([(product, 3)], for: ada)
      let line = order.lines[0]
      #expect(try await h.onHand(product) == 7)

      let request = SupportHarness.returnRequest(order, [(0, 2)], comment: "two were cracked")
      let requested = try await h.support.requestReturn(request, options: ada).returnAuthorization!
      #expect(requested.status == .requested && requested.customerId == adaID && requested.sellerId == h.sellerID)
      #expect(requested.rmaCode.hasPrefix("RMA-") && requested.lines.map(\.quantity) == [2] && requested.lines[0].title == "Headphones")
      #expect(requested.refundTotal?.amountMinor == SupportHarness.refund(line, units: 2))
      // A retry with the key answers the same return.
      #expect(try await h.support.requestReturn(request, options: ada).returnAuthorization?.returnId == requested.returnId)
      #expect(try await eventually { try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order?.status == .returnRequested })

      let approved = try await h.approve(requested)
      #expect(approved.status == .approved && approved.returnLabelUrl.contains(approved.rmaCode) && approved.version == 2)
      let expires = approved.expireTime!.date.timeIntervalSince(Date())
      #expect(expires > 29 * 24 * 3600 && expires <= 30 * 24 * 3600)
      #expect(try await h.approve(requested).version == 2, "approving again changes nothing")
      let retried = try await h.support.approveReturn(.with { $0.returnId = requested.returnId; $0.expectedVersion = 1 }, options: h.seller)
      #expect(retried.returnAuthorization?.version == 2, "a retried approval gets its answer")

      let received = try await h.receive(approved, [(0, 2, .resalable)])
      #expect(received.status == .received || received.status == .refunded)
      #expect(received.lines[0].receivedQuantity == 2 && received.lines[0].condition == .resalable)
      let refunded = try await eventuallyReturn(h, requested.returnId, .refunded)
      let amount = SupportHarness.refund(line, units: 2)
      #expect(refunded.refundTotal?.amountMinor == amount && !refunded.refundId.isEmpty && refunded.refundTime != nil)
      // A repeat of the receipt answers the return as it is.
      let repeated = try await h.receive(approved, [(0, 1, .damaged)])
      #expect(repeated.status == .refunded && repeated.lines[0].receivedQuantity == 2)

      // The payment shows the refund, the order the refunded amount, the warehouse the units.
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.agent).payment!
      #expect(payment.refundedAmount?.amountMinor == amount && payment.refunds.map(\.reason) == [.customerReturn])
      #expect(payment.refunds.first?.returnId == requested.returnId)
      var after = CommerceV1.Order()
      #expect(try await eventually {
        after = try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order!
        return after.status == .partiallyRefunded
      })
      #expect(after.totals?.refunded?.amountMinor == amount && after.lines[0].refundedQuantity == 2)
      #expect(try await eventually { try await h.onHand(product) == 9 })

      // Two units were returned: only one is left to return.
      await expectFailure(.failedPrecondition, reason: "RETURN_QUANTITY_EXCEEDED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 2)]), options: ada)
      }
      let rest = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      let restAmount = SupportHarness.refund(line, units: 1, before: 2)
      _ = try await h.receive(try await h.approve(rest, as: h.agent), [(0, 1, .damaged)], as: h.agent)
      let last = try await eventuallyReturn(h, rest.returnId, .refunded)
      #expect(last.refundTotal?.amountMinor == restAmount)
      #expect(try await eventually { try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order?.status == .refunded })
      let final = try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order!
      // Every unit's price and the whole line tax came back; shipping did not.
      #expect(amount + restAmount == line.lineTotal!.amountMinor + line.tax!.amountMinor)
      #expect(final.totals?.refunded?.amountMinor == amount + restAmount)
      let paid = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.agent).payment!
      #expect(paid.refundedAmount?.amountMinor == amount + restAmount)
      // The damaged unit was refunded, not restocked.
      #expect(try await h.onHand(product) == 9)
    }
  }

  @Test("a settlement cut short by a crash after the restock and the refund is finished on the next drain without restocking or refunding twice")
  func crashBetweenSteps() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product(price: 1500, stock: 4)
      let order = try await h.order([(product, 2)], for: ada)
      let r = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 2)]), options: ada).returnAuthorization!
      _ = try await h.receive(try await h.approve(r), [(0, 2, .resalable)])
      let first = try await eventuallyReturn(h, r.returnId, .refunded)
      #expect(try await eventually { try await h.onHand(product) == 4 })
      // The relay marks the intent published when its batch commits, after the return shows
      // REFUNDED: wait for that, or the requeue below would race the mark.
      let outbox = Outbox(schema: "support")
      #expect(try await eventually { try await outbox.unpublished(topic: "return.settlement", pool: h.host.pool).isEmpty })
      // The process died after both calls, before the return became REFUNDED: the return is
      // RECEIVED again and its settlement intent unpublished; the relay wakes up.
      let id = UUID(uuidString: r.returnId)!
      try await h.host.pool.withTransaction { tx in
        try await tx.query("UPDATE support.returns SET status = 4, refund_id = '', refund_at = NULL WHERE id = $1", [id])
        #expect(try await outbox.requeue(where: "topic = 'return.settlement' AND aggregate_id = $1", [r.returnId], in: tx) == 1)
        try await tx.query("SELECT pg_notify('support_outbox', '')")
      }
      let again = try await eventuallyReturn(h, r.returnId, .refunded)
      #expect(again.refundId == first.refundId && again.refundTotal == first.refundTotal)
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.agent).payment!
      #expect(payment.refunds.count == 1 && payment.refundedAmount?.amountMinor == first.refundTotal?.amountMinor)
      #expect(try await h.onHand(product) == 4)
      // OrderService applied the refund once (the repeated REFUND_ISSUED carries the same event id).
      var final = CommerceV1.Order()
      #expect(try await eventually {
        final = try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order!
        return final.status == .refunded
      })
      #expect(final.totals?.refunded?.amountMinor == first.refundTotal?.amountMinor)
    }
  }

  @Test("RequestReturn refuses what may not be returned, naming the rule or the field")
  func requestRules() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let (_, bob) = try await h.customer("Bob")
      let other = try await h.host.seller("Other Audio")
      let product = try await h.product()
      let foreign = try await h.product(title: "Speaker", seller: other.options)
      // Not delivered yet: the window is not open.
      let pending = try await h.order([(product, 1)], for: ada, deliver: false)
      await expectFailure(.failedPrecondition, reason: "RETURN_WINDOW_CLOSED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(pending, [(0, 1)]), options: ada)
      }
      let order = try await h.order([(product, 2), (foreign, 1)], for: ada)
      // Another customer's order, an unknown order, an unknown line.
      await expectFailure(.notFound) { try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: bob) }
      var unknown = SupportHarness.returnRequest(order, [(0, 1)])
      unknown.orderId = UUID().uuidString.lowercased()
      await expectFailure(.notFound) { try await h.support.requestReturn(unknown, options: ada) }
      var badLine = SupportHarness.returnRequest(order, [(0, 1)])
      badLine.lines[0].orderLineId = "no-such-line"
      await expectFailure(.notFound) { try await h.support.requestReturn(badLine, options: ada) }
      // More than delivered; two sellers' lines; no reason; OTHER without a comment; no lines.
      await expectFailure(.failedPrecondition, reason: "RETURN_QUANTITY_EXCEEDED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 3)]), options: ada)
      }
      let mixed = await expectFailure(.invalidArgument) {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1), (1, 1)]), options: ada)
      }
      #expect(mixed?.invalidFields == ["lines"])
      let noReason = await expectFailure(.invalidArgument) {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)], reason: .unspecified), options: ada)
      }
      #expect(noReason?.invalidFields == ["lines[0].reason"])
      let other_ = await expectFailure(.invalidArgument) {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)], reason: .other), options: ada)
      }
      #expect(other_?.invalidFields == ["customer_comment"])
      let none = await expectFailure(.invalidArgument) {
        try await h.support.requestReturn(.with { $0.orderId = order.orderId; $0.idempotencyKey = "k" }, options: ada)
      }
      #expect(none?.invalidFields == ["lines"])
      let zero = await expectFailure(.invalidArgument) {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 0)], key: ""), options: ada)
      }
      #expect(Set(zero?.invalidFields ?? []) == ["lines[0].quantity", "idempotency_key"])
      // Each seller's lines go in their own return; units in an open return are not returnable twice.
      _ = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 2)]), options: ada)
      _ = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(1, 1)], reason: .other, comment: "too loud"), options: ada)
      await expectFailure(.failedPrecondition, reason: "RETURN_QUANTITY_EXCEEDED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada)
      }
    }
  }

  @Test("a return past the order's return window is refused")
  func windowClosed() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product()
      let order = try await h.order([(product, 1)], for: ada)
      // The order's window closes 30 days after delivery; move it into the past.
      try await h.host.pool.query(
        "UPDATE orders.orders SET return_window_closes_at = now() - interval '1 day', delivered_at = now() - interval '31 days' WHERE id = $1",
        [UUID(uuidString: order.orderId)!])
      let closed = await expectFailure(.failedPrecondition, reason: "RETURN_WINDOW_CLOSED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada)
      }
      #expect(closed?.commerceMetadata["orderId"] == order.orderId)
    }
  }

  @Test("who sees and decides: the customer, the seller of the lines, agents; everyone else is told it does not exist")
  func access() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let (_, bob) = try await h.customer("Bob")
      let other = try await h.host.seller("Other Audio")
      let product = try await h.product()
      let theirs = try await h.product(title: "Speaker", seller: other.options)
      let order = try await h.order([(product, 2), (theirs, 1)], for: ada)
      let r = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      let o = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(1, 1)]), options: ada).returnAuthorization!
      // Reading.
      #expect(try await h.getReturn(r.returnId, as: ada).returnId == r.returnId)
      #expect(try await h.getReturn(r.returnId, as: h.seller).returnId == r.returnId)
      #expect(try await h.getReturn(r.returnId, as: h.agent).returnId == r.returnId)
      await expectFailure(.notFound) { try await h.getReturn(r.returnId, as: bob) }
      await expectFailure(.notFound) { try await h.getReturn(r.returnId, as: other.options) }
      await expectFailure(.notFound) { try await h.getReturn(UUID().uuidString.lowercased()) }
      // Deciding: not the other seller (NOT_FOUND), not the customer (PERMISSION_DENIED).
      await expectFailure(.notFound) { try await h.approve(r, as: other.options) }
      await expectFailure(.permissionDenied) { try await h.approve(r, as: ada) }
      await expectFailure(.notFound) {
        try await h.support.rejectReturn(.with { $0.returnId = r.returnId; $0.decisionNote = "no" }, options: other.options)
      }
      await expectFailure(.permissionDenied) { try await h.support.cancelReturn(.with { $0.returnId = r.returnId }, options: h.seller) }
      await expectFailure(.notFound) { try await h.support.cancelReturn(.with { $0.returnId = r.returnId }, options: bob) }
      await expectFailure(.notFound) { try await h.receive(r, [(0, 1, .resalable)], as: other.options) }
      await expectFailure(.permissionDenied) { try await h.receive(r, [(0, 1, .resalable)], as: ada) }
      await expectFailure(.permissionDenied) {
        try await h.support.rejectReturn(.with { $0.returnId = r.returnId; $0.decisionNote = "no" }, options: ada)
      }
      // Bad input names its field.
      let longNote = await expectFailure(.invalidArgument) {
        try await h.support.approveReturn(.with { $0.returnId = r.returnId; $0.decisionNote = String(repeating: "x", count: 2001) }, options: h.seller)
      }
      #expect(longNote?.invalidFields == ["decision_note"])
      let badStatus = await expectFailure(.invalidArgument) {
        try await h.support.listReturns(.with { $0.statuses = [.unspecified] }, options: ada)
      }
      #expect(badStatus?.invalidFields == ["statuses[0]"])
      let badSize = await expectFailure(.invalidArgument) { try await h.support.listReturns(.with { $0.pageSize = -1 }, options: ada) }
      #expect(badSize?.invalidFields == ["page_size"])
      let noID = await expectFailure(.invalidArgument) { try await h.support.getReturn(.init(), options: ada) }
      #expect(noID?.invalidFields == ["return_id"])
      // An agent withdraws a return for the customer.
      let withdrawn = try await h.support.cancelReturn(.with { $0.returnId = o.returnId }, options: h.agent).returnAuthorization!
      #expect(withdrawn.status == .cancelled)
      // Lists: each sees their own.
      #expect(Set(try await h.support.listReturns(.init(), options: ada).returnAuthorizations.map(\.returnId)) == [r.returnId, o.returnId])
      #expect(try await h.support.listReturns(.init(), options: h.seller).returnAuthorizations.map(\.returnId) == [r.returnId])
      #expect(try await h.support.listReturns(.init(), options: other.options).returnAuthorizations.map(\.returnId) == [o.returnId])
      #expect(try await h.support.listReturns(.init(), options: bob).returnAuthorizations.isEmpty)
      #expect(try await h.support.listReturns(.with { $0.sellerId = other.id }, options: h.agent).returnAuthorizations.map(\.returnId) == [o.returnId])
      #expect(try await h.support.listReturns(.with { $0.orderId = order.orderId }, options: h.agent).returnAuthorizations.map(\.returnId) == [o.returnId, r.returnId])
      await expectFailure(.permissionDenied) { try await h.support.listReturns(.with { $0.sellerId = other.id }, options: h.seller) }
      await expectFailure(.permissionDenied) { try await h.support.listReturns(.with { $0.customerId = order.customerId }, options: bob) }
      await expectFailure(.permissionDenied) { try await h.support.listReturns(.with { $0.sellerId = h.sellerID }, options: ada) }
      // Pages, newest first, with tokens bound to the filters.
      let first = try await h.support.listReturns(.with { $0.pageSize = 1 }, options: ada)
      #expect(first.returnAuthorizations.map(\.returnId) == [o.returnId] && !first.nextPageToken.isEmpty)
      let second = try await h.support.listReturns(.with { $0.pageSize = 1; $0.pageToken = first.nextPageToken }, options: ada)
      #expect(second.returnAuthorizations.map(\.returnId) == [r.returnId])
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.support.listReturns(.with { $0.pageToken = first.nextPageToken; $0.statuses = [.approved] }, options: ada)
      }
      #expect(try await h.support.listReturns(.with { $0.statuses = [.approved] }, options: h.agent).returnAuthorizations.isEmpty)
    }
  }

  @Test("reject, cancel and expiry close a return; the order goes back to DELIVERED; wrong moves name the state machine")
  func closing() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product()
      let order = try await h.order([(product, 3)], for: ada)
      let a = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      let b = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      let c = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      #expect(try await h.support.getSupportStats(.init(), options: h.agent).openReturns == 3)

      // Reject: a reason is required; a stale version is refused.
      let noNote = await expectFailure(.invalidArgument) { try await h.support.rejectReturn(.with { $0.returnId = a.returnId }, options: h.seller) }
      #expect(noNote?.invalidFields == ["decision_note"])
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.support.rejectReturn(.with { $0.returnId = a.returnId; $0.decisionNote = "used"; $0.expectedVersion = 7 }, options: h.seller)
      }
      let rejected = try await h.support.rejectReturn(.with { $0.returnId = a.returnId; $0.decisionNote = "used"; $0.expectedVersion = 1 }, options: h.seller).returnAuthorization!
      #expect(rejected.status == .rejected && rejected.decisionNote == "used")
      #expect(try await h.support.rejectReturn(.with { $0.returnId = a.returnId; $0.decisionNote = "used" }, options: h.seller).returnAuthorization?.version == rejected.version)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.approve(a) }
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.support.approveReturn(.with { $0.returnId = b.returnId; $0.expectedVersion = 5 }, options: h.seller)
      }

      // Cancel: the customer withdraws an approved return; a received one cannot be withdrawn.
      let approvedB = try await h.approve(b)
      let cancelled = try await h.support.cancelReturn(.with { $0.returnId = b.returnId }, options: ada).returnAuthorization!
      #expect(cancelled.status == .cancelled && cancelled.expireTime == nil)
      #expect(try await h.support.cancelReturn(.with { $0.returnId = b.returnId }, options: ada).returnAuthorization?.version == cancelled.version)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.receive(approvedB, [(0, 1, .resalable)]) }

      // Expiry: nothing arrives within 30 days.
      _ = try await h.approve(c)
      #expect(try await h.service.sweep(now: Date().addingTimeInterval(29 * 24 * 3600)).expiredReturns == 0)
      #expect(try await h.service.sweep(now: Date().addingTimeInterval(31 * 24 * 3600)).expiredReturns == 1)
      let expired = try await h.getReturn(c.returnId, as: ada)
      #expect(expired.status == .expired && expired.expireTime == nil)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.support.cancelReturn(.with { $0.returnId = c.returnId }, options: ada)
      }
      #expect(try await h.support.getSupportStats(.init(), options: h.agent).openReturns == 0)
      // Every return closed without a refund: the order is DELIVERED again, with all units returnable.
      #expect(try await eventually { try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: ada).order?.status == .delivered })
      #expect(try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 3)]), options: ada).returnAuthorization?.status == .requested)
    }
  }

  @Test("ReceiveReturn checks the lines, the units and the warehouse; damaged units are refunded and not restocked")
  func receiving() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product(price: 1000, stock: 5)
      let other = try await h.product(title: "Cable", price: 300, stock: 5)
      let order = try await h.order([(product, 2), (other, 2)], for: ada)
      let r = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 2), (1, 1)]), options: ada).returnAuthorization!
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.receive(r, [(0, 1, .resalable)]) }
      let approved = try await h.approve(r)
      let tooMany = await expectFailure(.invalidArgument) { try await h.receive(approved, [(0, 3, .resalable)]) }
      #expect(tooMany?.invalidFields == ["lines[0].received_quantity"])
      let noCondition = await expectFailure(.invalidArgument) { try await h.receive(approved, [(0, 1, .unspecified)]) }
      #expect(noCondition?.invalidFields == ["lines[0].condition"])
      let nothing = await expectFailure(.invalidArgument) { try await h.receive(approved, [(0, 0, .unspecified)]) }
      #expect(nothing?.invalidFields == ["lines"])
      await expectFailure(.notFound) {
        try await h.support.receiveReturn(
          .with {
            $0.returnId = r.returnId
            $0.warehouseId = UUID().uuidString.lowercased()
            $0.lines = [.with { $0.orderLineId = r.lines[0].orderLineId; $0.receivedQuantity = 1; $0.condition = .resalable }]
          }, options: h.seller)
      }
      await expectFailure(.notFound) {
        try await h.support.receiveReturn(
          .with {
            $0.returnId = r.returnId
            $0.warehouseId = h.warehouseID
            $0.lines = [.with { $0.orderLineId = "nope"; $0.receivedQuantity = 1; $0.condition = .resalable }]
          }, options: h.seller)
      }
      let missing = await expectFailure(.invalidArgument) { try await h.support.receiveReturn(.with { $0.returnId = r.returnId }, options: h.seller) }
      #expect(missing?.invalidFields.contains("warehouse_id") == true)
      // One unit of the first line arrived resalable, one damaged... only one line may be listed
      // once: one resalable unit of the first line, the cable damaged; the second unit of the
      // first line never came.
      _ = try await h.receive(approved, [(0, 1, .resalable), (1, 1, .damaged)])
      let done = try await eventuallyReturn(h, r.returnId, .refunded)
      let expected = SupportHarness.refund(order.lines[0], units: 1) + SupportHarness.refund(order.lines[1], units: 1)
      #expect(done.refundTotal?.amountMinor == expected && done.lines.map(\.receivedQuantity) == [1, 1])
      #expect(try await eventually { try await h.onHand(product) == 4 })
      #expect(try await h.onHand(other) == 3)
      // The unit that never came may be returned again.
      #expect(try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization?.status == .requested)
    }
  }

  @Test("the customer hears of every status of their return, and of agents' replies, on their notifications")
  func notifications() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product()
      let order = try await h.order([(product, 1)], for: ada)
      let ticket = try await h.support.createTicket(SupportHarness.ticket(order: order.orderId), options: ada).ticket!
      _ = try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "note", internal: true), options: h.agent)
      _ = try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "We are on it."), options: h.agent)
      let r = try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 1)]), options: ada).returnAuthorization!
      _ = try await h.receive(try await h.approve(r), [(0, 1, .resalable)])
      let inbox = CommerceV1.NotificationService.Client(h.host.connection)
      var returnNews: [CommerceV1.ReturnStatus] = []
      var replies: [String] = []
      let arrived = try await eventually {
        let page = try await inbox.listNotifications(.with { $0.pageSize = 200 }, options: ada).notifications.reversed()
        returnNews = page.compactMap { n in if case .returnUpdated(let u)? = n.payload?.event, u.returnId == r.returnId { u.status } else { nil } }
        replies = page.compactMap { n in if case .ticketReplied(let t)? = n.payload?.event { t.excerpt } else { nil } }
        return returnNews.count == 4
      }
      #expect(arrived)
      #expect(returnNews == [.requested, .approved, .received, .refunded])
      #expect(replies == ["We are on it."])
    }
  }
}

/// The return once it reached `status` (the settlement relay works after the receipt's commit).
func eventuallyReturn(_ h: SupportHarness, _ id: String, _ status: CommerceV1.ReturnStatus) async throws -> CommerceV1.ReturnAuthorization {
  var last = CommerceV1.ReturnAuthorization()
  let reached = try await eventually(within: .seconds(60)) {
    last = try await h.getReturn(id)
    return last.status == status
  }
  #expect(reached, "return \(id) is \(last.status), not \(status)")
  return last
}
