import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@testable import CommerceShipping

/// Partners' reports on the timeline, TrackShipment and WatchShipment.
@Suite("Shipment tracking", .serialized)
struct TrackingTests {
  @Test("late and out-of-order reports join the timeline by occur time without moving the status backwards")
  func lateReports() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 1)])
      let shipment = try await h.ship(order)
      try await h.report(shipment, .pickedUp, minutesAgo: 60)
      let out = try await h.report(shipment, .outForDelivery, minutesAgo: 10)
      // A scan from 30 minutes ago arrives late: recorded, the status stays OUT_FOR_DELIVERY.
      let late = try await h.report(shipment, .inTransit, minutesAgo: 30, note: "Oakland hub scan")
      #expect(!late.duplicate && late.event?.sequence == 3 && late.event?.status == .inTransit)
      #expect(late.shipment?.status == .outForDelivery && late.shipment?.latestEvent?.eventId == out.event?.eventId)
      // Even a late pickup report (not a transition from OUT_FOR_DELIVERY) only extends the timeline.
      let latePickup = try await h.report(shipment, .pickedUp, minutesAgo: 61, caller: h.carrierService)
      #expect(latePickup.shipment?.status == .outForDelivery && latePickup.event?.reporterId == "delivery-partner-acme-express")
      // A newer report must be a transition: going back to PICKED_UP is refused and not recorded.
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.report(shipment, .pickedUp) }
      let tracked = try await h.shipping.trackShipment(.with { $0.lookup = .shipmentId(shipment.shipmentId) }, options: customer)
      #expect(tracked.events.map(\.status) == [.pickedUp, .pickedUp, .inTransit, .outForDelivery])
      #expect(tracked.events.map(\.sequence) == [4, 1, 3, 2])
      #expect(tracked.events.map(\.note).contains("Oakland hub scan"))
      #expect(tracked.shipment?.status == .outForDelivery && tracked.shipment?.version == 5)

      // A failed attempt, another attempt, delivery.
      try await h.report(shipment, .deliveryFailed, minutesAgo: 5, note: "nobody home")
      try await h.report(shipment, .outForDelivery, minutesAgo: 2)
      let delivered = try await h.report(shipment, .delivered, minutesAgo: 1)
      #expect(delivered.shipment?.status == .delivered)
      // After delivery, a late in-transit scan still joins the timeline; the status stays DELIVERED.
      let afterDelivery = try await h.report(shipment, .inTransit, minutesAgo: 20)
      #expect(afterDelivery.shipment?.status == .delivered)
    }
  }

  @Test("UpdateShipmentStatus: bad reports get INVALID_ARGUMENT naming the field")
  func badReports() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let shipment = try await h.ship(try await h.paidOrder([(product, 1)]).order)
      let bad = await expectFailure(.invalidArgument) {
        try await h.shipping.updateShipmentStatus(
          .with {
            $0.shipmentId = shipment.shipmentId
            $0.note = String(repeating: "n", count: 501)
            $0.location = .with {
              $0.regionCode = "usa"
              $0.coordinates = .with { $0.latitude = 91 }
            }
          }, options: h.partner)
      }
      #expect(bad?.invalidFields == ["status", "occur_time", "note", "location.region_code", "location.coordinates.latitude"])
      let future = await expectFailure(.invalidArgument) {
        try await h.shipping.updateShipmentStatus(
          .with {
            $0.shipmentId = shipment.shipmentId
            $0.status = .pickedUp
            $0.occurTime = .init(Date().addingTimeInterval(10 * 60))
          }, options: h.partner)
      }
      #expect(future?.invalidFields == ["occur_time"])
      // Within the 5 minutes' tolerance is accepted.
      let soon = try await h.shipping.updateShipmentStatus(
        .with {
          $0.shipmentId = shipment.shipmentId
          $0.status = .pickedUp
          $0.occurTime = .init(Date().addingTimeInterval(60))
        }, options: h.partner)
      #expect(soon.shipment?.status == .pickedUp)
      // ADMIN users may report too (after the pickup reported a minute ahead of now).
      let byAdmin = try await h.report(shipment, .inTransit, minutesAgo: -2, caller: h.admin)
      #expect(byAdmin.shipment?.status == .inTransit && byAdmin.event?.reporterId.isEmpty == false)
    }
  }

  @Test("TrackShipment finds a shipment by its carrier tracking number, for those who may see it")
  func trackByNumber() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 1)])
      let shipment = try await h.ship(order, trackingNumber: "ACME123456")
      try await h.report(shipment, .pickedUp)
      let track = { (carrier: String, number: String, caller: CallOptions) in
        try await h.shipping.trackShipment(
          .with {
            $0.lookup = .carrierTrackingNumber(
              .with {
                $0.carrierId = carrier
                $0.trackingNumber = number
              })
          }, options: caller)
      }
      let tracked = try await track(ShippingHarness.carrier, "ACME123456", customer)
      #expect(tracked.shipment?.shipmentId == shipment.shipmentId && tracked.events.map(\.status) == [.pickedUp])
      #expect(try await track(ShippingHarness.carrier, "ACME123456", h.carrierService).shipment?.shipmentId == shipment.shipmentId)
      await expectFailure(.notFound) { try await track(ShippingHarness.carrier, "ACME000000", customer) }
      await expectFailure(.notFound) { try await track(ShippingHarness.otherCarrier, "ACME123456", customer) }
      let (_, stranger) = try await h.customer()
      await expectFailure(.notFound) { try await track(ShippingHarness.carrier, "ACME123456", stranger) }
      await expectFailure(.notFound) { try await track(ShippingHarness.carrier, "ACME123456", h.otherPartner) }
      await expectFailure(.notFound) {
        try await h.shipping.trackShipment(.with { $0.lookup = .shipmentId(UUID().uuidString.lowercased()) }, options: h.admin)
      }
      await expectFailure(.notFound) {
        try await h.shipping.trackShipment(.with { $0.lookup = .shipmentId(shipment.shipmentId) }, options: stranger)
      }
      let none = await expectFailure(.invalidArgument) { try await h.shipping.trackShipment(.init(), options: customer) }
      #expect(none?.invalidFields == ["lookup"])
      let half = await expectFailure(.invalidArgument) { try await track("", "ACME123456", customer) }
      #expect(half?.invalidFields == ["carrier_tracking_number.carrier_id"])
    }
  }

  @Test("WatchShipment streams events as they are recorded, resumes after a sequence and ends at a final status")
  func watch() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 1)])
      let shipment = try await h.ship(order)
      // No event yet: one message with the shipment, then each new event as it is recorded.
      let live = try await h.shipping.watchShipment(.with { $0.shipmentId = shipment.shipmentId }, options: customer) { stream in
        var seen: [(CommerceV1.ShipmentStatus, Int64?)] = []
        for try await message in stream {
          seen.append((message.shipment!.status, message.event?.sequence))
          if seen.count == 1 { try await h.report(shipment, .pickedUp, minutesAgo: 30) }
          if seen.count == 2 { try await h.report(shipment, .inTransit, minutesAgo: 20) }
          if seen.count == 3 { return seen }
        }
        return seen
      }
      #expect(live.map(\.0) == [.labelCreated, .pickedUp, .inTransit] && live.map(\.1) == [nil, 1, 2])
      // More happens while nobody watches, a late scan included.
      try await h.report(shipment, .outForDelivery, minutesAgo: 5)
      try await h.report(shipment, .inTransit, minutesAgo: 25)
      // Resuming after sequence 2 replays 3 and 4 in recording order, then follows live until delivery ends the stream.
      let resumed = try await h.shipping.watchShipment(
        .with {
          $0.shipmentId = shipment.shipmentId
          $0.afterSequence = 2
        }, options: h.partner
      ) { stream in
        var seen: [(Int64, CommerceV1.ShipmentStatus, CommerceV1.ShipmentStatus)] = []
        for try await message in stream {
          seen.append((message.event!.sequence, message.event!.status, message.shipment!.status))
          if seen.count == 2 { try await h.report(shipment, .delivered) }
        }
        return seen
      }
      #expect(resumed.map(\.0) == [3, 4, 5])
      #expect(resumed.map(\.1) == [.outForDelivery, .inTransit, .delivered])
      #expect(resumed.last?.2 == .delivered)
      // Final: resuming after the last sequence ends at once; from 0 it replays everything.
      let nothing = try await h.shipping.watchShipment(
        .with {
          $0.shipmentId = shipment.shipmentId
          $0.afterSequence = 5
        }, options: customer
      ) { stream in try await stream.reduce(into: [Int64?]()) { $0.append($1.event?.sequence) } }
      #expect(nothing == [nil])
      let everything = try await h.shipping.watchShipment(.with { $0.shipmentId = shipment.shipmentId }, options: h.admin) { stream in
        try await stream.reduce(into: [Int64]()) { $0.append($1.event!.sequence) }
      }
      #expect(everything == [1, 2, 3, 4, 5])
      let (_, stranger) = try await h.customer()
      await expectFailure(.notFound) {
        try await h.shipping.watchShipment(.with { $0.shipmentId = shipment.shipmentId }, options: stranger) { stream in
          try await stream.reduce(0) { count, _ in count + 1 }
        }
      }
      await expectFailure(.invalidArgument) {
        try await h.shipping.watchShipment(
          .with {
            $0.shipmentId = shipment.shipmentId
            $0.afterSequence = -1
          }, options: customer
        ) { stream in try await stream.reduce(0) { count, _ in count + 1 } }
      }
      // A stream that is still running ends with UNAVAILABLE when the server drains.
      let running = try await h.ship(try await h.paidOrder([(product, 1)], customer: customer).order)
      await expectFailure(.unavailable) {
        try await h.shipping.watchShipment(.with { $0.shipmentId = running.shipmentId }, options: customer) { stream in
          for try await _ in stream { h.service.watchDrain.drain() }
        }
      }
    }
  }
}
