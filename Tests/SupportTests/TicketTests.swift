import CommerceAPI
import CommerceKit
import CommerceSupport
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("SupportService: tickets, threads, status, assignment")
struct TicketTests {
  @Test("a customer opens a ticket once per key; agents answer, the customer replies, the status follows the thread")
  func conversation() async throws {
    try await SupportHarness.run { h in
      let (adaID, ada) = try await h.customer("Ada")
      let request = SupportHarness.ticket()
      let created = try await h.support.createTicket(request, options: ada)
      let ticket = created.ticket!
      #expect(ticket.status == .open && ticket.customerId == adaID && ticket.messageCount == 1 && ticket.version == 1)
      #expect(ticket.category == .shipping && created.firstMessage?.authorRole == .customer && created.firstMessage?.body == request.body)
      // A retry with the key answers the same ticket.
      #expect(try await h.support.createTicket(request, options: ada).ticket?.ticketId == ticket.ticketId)

      // The agent's internal note: no status change, invisible to the customer.
      let note = try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "Carrier says Tuesday", internal: true), options: h.agent)
      #expect(note.ticket?.status == .open && note.message?.internalNote == true && note.ticket?.messageCount == 2)
      // The agent's reply waits for the customer.
      let reply = try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "It arrives Tuesday."), options: h.agent)
      #expect(reply.ticket?.status == .awaitingCustomer && reply.message?.authorRole == .agent && reply.message?.authorId == h.agentID)
      // The customer's answer reopens it.
      let answer = try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "Thanks!"), options: ada)
      #expect(answer.ticket?.status == .open && answer.ticket?.messageCount == 3)

      // The customer sees three messages, the agent four.
      let mine = try await h.support.listTicketMessages(.with { $0.ticketId = ticket.ticketId }, options: ada).messages
      #expect(mine.map(\.body) == [request.body, "It arrives Tuesday.", "Thanks!"])
      let all = try await h.support.listTicketMessages(.with { $0.ticketId = ticket.ticketId }, options: h.agent).messages
      #expect(all.map(\.body) == [request.body, "Carrier says Tuesday", "It arrives Tuesday.", "Thanks!"])
      #expect(try await h.support.getTicket(.with { $0.ticketId = ticket.ticketId }, options: ada).ticket?.messageCount == 3)
      #expect(try await h.support.getTicket(.with { $0.ticketId = ticket.ticketId }, options: h.agent).ticket?.messageCount == 4)

      // Pages of two, oldest first; a token of another ticket's list is refused.
      let first = try await h.support.listTicketMessages(.with { $0.ticketId = ticket.ticketId; $0.pageSize = 2 }, options: h.agent)
      #expect(first.messages.count == 2 && !first.nextPageToken.isEmpty)
      let second = try await h.support.listTicketMessages(
        .with { $0.ticketId = ticket.ticketId; $0.pageSize = 2; $0.pageToken = first.nextPageToken }, options: h.agent)
      #expect(second.messages.map(\.body) == ["It arrives Tuesday.", "Thanks!"] && second.nextPageToken.isEmpty)
      let other = try await h.support.createTicket(SupportHarness.ticket("Another"), options: ada).ticket!
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.support.listTicketMessages(.with { $0.ticketId = other.ticketId; $0.pageToken = first.nextPageToken }, options: h.agent)
      }
    }
  }

  @Test("a customer cannot see, list or write on another customer's ticket, nor write internal notes")
  func privacy() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let (bobID, bob) = try await h.customer("Bob")
      let ticket = try await h.support.createTicket(SupportHarness.ticket(), options: ada).ticket!
      await expectFailure(.notFound) { try await h.support.getTicket(.with { $0.ticketId = ticket.ticketId }, options: bob) }
      await expectFailure(.notFound) { try await h.support.listTicketMessages(.with { $0.ticketId = ticket.ticketId }, options: bob) }
      await expectFailure(.notFound) { try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "mine now"), options: bob) }
      await expectFailure(.notFound) {
        try await h.support.updateTicketStatus(.with { $0.ticketId = ticket.ticketId; $0.status = .resolved }, options: bob)
      }
      await expectFailure(.notFound) { try await h.support.getTicket(.with { $0.ticketId = UUID().uuidString.lowercased() }, options: h.agent) }
      // Bob's list holds only Bob's; filtering on Ada or an assignee is refused.
      #expect(try await h.support.listTickets(.init(), options: bob).tickets.isEmpty)
      _ = try await h.support.createTicket(SupportHarness.ticket("Bob's"), options: bob)
      #expect(try await h.support.listTickets(.init(), options: bob).tickets.map(\.customerId) == [bobID])
      await expectFailure(.permissionDenied) { try await h.support.listTickets(.with { $0.customerId = ticket.customerId }, options: bob) }
      await expectFailure(.permissionDenied) { try await h.support.listTickets(.with { $0.assigneeId = h.agentID }, options: bob) }
      // Ada may not write an internal note.
      await expectFailure(.permissionDenied) {
        try await h.support.addTicketMessage(SupportHarness.message(ticket.ticketId, "psst", internal: true), options: ada)
      }
      // Bad input names its field.
      let badStatus = await expectFailure(.invalidArgument) { try await h.support.listTickets(.with { $0.statuses = [.unspecified] }, options: ada) }
      #expect(badStatus?.invalidFields == ["statuses[0]"])
      let badSize = await expectFailure(.invalidArgument) {
        try await h.support.listTicketMessages(.with { $0.ticketId = ticket.ticketId; $0.pageSize = -1 }, options: ada)
      }
      #expect(badSize?.invalidFields == ["page_size"])
      let noID = await expectFailure(.invalidArgument) { try await h.support.getTicket(.init(), options: ada) }
      #expect(noID?.invalidFields == ["ticket_id"])
      // Agents list everyone's.
      #expect(try await h.support.listTickets(.init(), options: h.agent).tickets.count == 2)
    }
  }

  @Test("tickets about orders: only the customer's own order; bad input names its field")
  func orderAndInput() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let (_, bob) = try await h.customer("Bob")
      let product = try await h.product()
      let order = try await h.order([(product, 1)], for: ada, deliver: false)
      let about = try await h.support.createTicket(SupportHarness.ticket(order: order.orderId), options: ada).ticket!
      #expect(about.orderId == order.orderId)
      await expectFailure(.notFound) { try await h.support.createTicket(SupportHarness.ticket(order: order.orderId), options: bob) }
      await expectFailure(.notFound) {
        try await h.support.createTicket(SupportHarness.ticket(order: UUID().uuidString.lowercased()), options: ada)
      }
      let bad = await expectFailure(.invalidArgument) {
        try await h.support.createTicket(
          .with {
            $0.subject = String(repeating: "x", count: 201)
            $0.body = ""
          }, options: ada)
      }
      #expect(Set(bad?.invalidFields ?? []) == ["subject", "body", "idempotency_key"])
      let empty = await expectFailure(.invalidArgument) {
        try await h.support.addTicketMessage(SupportHarness.message(about.ticketId, ""), options: ada)
      }
      #expect(empty?.invalidFields == ["body"])
      await expectFailure(.unauthenticated) { try await h.support.createTicket(SupportHarness.ticket()) }
    }
  }

  @Test("status changes follow the state machine, with versions, assignment to agents only, and the customer only resolving")
  func statusMachine() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let (plainID, _) = try await h.customer("Plain")
      let ticket = try await h.support.createTicket(SupportHarness.ticket(), options: ada).ticket!
      let id = ticket.ticketId
      // Assign to the agent, with a note; the version moves.
      let assigned = try await h.support.updateTicketStatus(
        .with {
          $0.ticketId = id
          $0.assignment = .assigneeId(h.agentID)
          $0.expectedVersion = 1
          $0.note = "taking this"
        }, options: h.agent
      ).ticket!
      #expect(assigned.assigneeId == h.agentID && assigned.status == .open && assigned.version == 2)
      // A stale version is refused; a user who is not an agent cannot be assigned.
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .resolved; $0.expectedVersion = 1 }, options: h.agent)
      }
      await expectFailure(.notFound) {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.assignment = .assigneeId(plainID) }, options: h.agent)
      }
      await expectFailure(.notFound) {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.assignment = .assigneeId(UUID().uuidString.lowercased()) }, options: h.agent)
      }
      // Agents list by assignee.
      #expect(try await h.support.listTickets(.with { $0.assigneeId = h.agentID }, options: h.agent).tickets.map(\.ticketId) == [id])
      // The customer may only resolve, not assign or pick another status.
      await expectFailure(.permissionDenied) {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .closed }, options: ada)
      }
      await expectFailure(.permissionDenied) {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.assignment = .assigneeId("") }, options: ada)
      }
      let resolved = try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .resolved }, options: ada).ticket!
      #expect(resolved.status == .resolved)
      // Setting the current status again changes nothing.
      let again = try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .resolved }, options: h.agent).ticket!
      #expect(again.version == resolved.version)
      let retried = try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .resolved; $0.expectedVersion = 1 }, options: h.agent)
      #expect(retried.ticket?.version == resolved.version, "a retried change gets its answer, whatever version it read")
      // RESOLVED cannot wait for the customer; a customer message reopens it.
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .awaitingCustomer }, options: h.agent)
      }
      let reopened = try await h.support.addTicketMessage(SupportHarness.message(id, "Still broken"), options: ada).ticket!
      #expect(reopened.status == .open)
      // Unassign, then close: final.
      let unassigned = try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.assignment = .assigneeId("") }, options: h.agent).ticket!
      #expect(unassigned.assigneeId.isEmpty)
      _ = try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .closed }, options: h.agent)
      await expectFailure(.failedPrecondition, reason: "TICKET_CLOSED") {
        try await h.support.addTicketMessage(SupportHarness.message(id, "Hello?"), options: ada)
      }
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.support.updateTicketStatus(.with { $0.ticketId = id; $0.status = .open }, options: h.agent)
      }
      let missing = await expectFailure(.invalidArgument) { try await h.support.updateTicketStatus(.with { $0.ticketId = id }, options: h.agent) }
      #expect(missing?.invalidFields == ["status"])
      // Filters: CLOSED tickets, and the agent's statuses filter.
      #expect(try await h.support.listTickets(.with { $0.statuses = [.closed] }, options: h.agent).tickets.map(\.ticketId) == [id])
      #expect(try await h.support.listTickets(.with { $0.statuses = [.open] }, options: h.agent).tickets.isEmpty)
    }
  }

  @Test("RESOLVED tickets close by themselves 14 days after resolution")
  func autoClose() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let old = try await h.support.createTicket(SupportHarness.ticket("Old"), options: ada).ticket!
      let open = try await h.support.createTicket(SupportHarness.ticket("Open"), options: ada).ticket!
      _ = try await h.support.updateTicketStatus(.with { $0.ticketId = old.ticketId; $0.status = .resolved }, options: h.agent)
      // Thirteen days later nothing closes; fifteen days later the resolved one does.
      #expect(try await h.service.sweep(now: Date().addingTimeInterval(13 * 24 * 3600)).closedTickets == 0)
      #expect(try await h.service.sweep(now: Date().addingTimeInterval(15 * 24 * 3600)).closedTickets == 1)
      let closed = try await h.support.getTicket(.with { $0.ticketId = old.ticketId }, options: ada).ticket!
      #expect(closed.status == .closed)
      let thread = try await h.support.listTicketMessages(.with { $0.ticketId = old.ticketId }, options: ada).messages
      #expect(thread.last?.authorRole == .system)
      #expect(try await h.support.getTicket(.with { $0.ticketId = open.ticketId }, options: ada).ticket?.status == .open)
    }
  }

  @Test("pages of tickets, most recently updated first, with page tokens bound to the filters")
  func pages() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      var ids: [String] = []
      for index in 0..<5 { ids.append(try await h.support.createTicket(SupportHarness.ticket("T\(index)"), options: ada).ticket!.ticketId) }
      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.support.listTickets(.with { $0.pageSize = 2; $0.pageToken = token }, options: ada)
        seen += page.tickets.map(\.ticketId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == ids.reversed())
      let first = try await h.support.listTickets(.with { $0.pageSize = 2 }, options: ada)
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.support.listTickets(.with { $0.pageSize = 2; $0.pageToken = first.nextPageToken; $0.statuses = [.open] }, options: ada)
      }
    }
  }

  @Test("support stats count open tickets and returns for the admin dashboard; customers may not read them")
  func stats() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let admin = try await h.host.service("admin")
      #expect(try await h.support.getSupportStats(.init(), options: admin).openTickets == 0)
      let a = try await h.support.createTicket(SupportHarness.ticket("A"), options: ada).ticket!
      let b = try await h.support.createTicket(SupportHarness.ticket("B"), options: ada).ticket!
      _ = try await h.support.addTicketMessage(SupportHarness.message(b.ticketId, "Answer"), options: h.agent)
      #expect(try await h.support.getSupportStats(.init(), options: h.agent).openTickets == 2)
      _ = try await h.support.updateTicketStatus(.with { $0.ticketId = a.ticketId; $0.status = .resolved }, options: h.agent)
      let stats = try await h.support.getSupportStats(.init(), options: admin)
      #expect(stats.openTickets == 1 && stats.openReturns == 0)
      await expectFailure(.permissionDenied) { try await h.support.getSupportStats(.init(), options: ada) }
      await expectFailure(.permissionDenied) { try await h.support.getSupportStats(.init(), options: try await h.host.service("orders")) }
    }
  }
}
