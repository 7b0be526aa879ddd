import CommerceAPI
import CommerceKit
import Foundation
import Testing

@testable import CommerceShipping

/// The shipment state machine and the carriers setting, as pure rules.
@Suite("Shipment rules")
struct ShipmentRulesTests {
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  @Test("the state machine allows exactly the transitions shipping.proto lists")
  func transitions() {
    let all: [CommerceV1.ShipmentStatus] = [
      .labelCreated, .pickedUp, .inTransit, .outForDelivery, .delivered, .deliveryFailed, .returnedToSender, .lost, .cancelled,
    ]
    let expected: [CommerceV1.ShipmentStatus: Set<CommerceV1.ShipmentStatus>] = [
      .labelCreated: [.pickedUp, .cancelled, .lost],
      .pickedUp: [.inTransit, .outForDelivery, .delivered, .lost],
      .inTransit: [.inTransit, .outForDelivery, .delivered, .lost],
      .outForDelivery: [.delivered, .deliveryFailed, .lost],
      .deliveryFailed: [.outForDelivery, .inTransit, .returnedToSender, .lost],
    ]
    for from in all {
      for to in all {
        #expect(ShipmentTransitions.isAllowed(from, to: to) == (expected[from]?.contains(to) ?? false), "\(from) -> \(to)")
      }
    }
    #expect(all.filter(\.isFinal) == [.delivered, .returnedToSender, .lost, .cancelled])
  }

  @Test("a report at least as recent as the latest moves the status; an older one only joins the timeline")
  func lateReports() throws {
    #expect(try ShipmentTransitions.effect(of: .pickedUp, at: t0, current: .labelCreated, latest: nil) == .advance)
    #expect(try ShipmentTransitions.effect(of: .inTransit, at: t0, current: .pickedUp, latest: t0) == .advance)
    // Older than the latest: any carrier status joins the timeline, even one the machine would
    // not allow as a transition now.
    #expect(try ShipmentTransitions.effect(of: .inTransit, at: t0 - 60, current: .outForDelivery, latest: t0) == .timelineOnly)
    #expect(try ShipmentTransitions.effect(of: .pickedUp, at: t0 - 60, current: .delivered, latest: t0) == .timelineOnly)
    // Refused: a backwards transition as the latest, LABEL_CREATED or CANCELLED in the past, any
    // report about a cancelled shipment.
    for (status, at, current) in [
      (CommerceV1.ShipmentStatus.pickedUp, t0 + 60, CommerceV1.ShipmentStatus.outForDelivery),
      (.labelCreated, t0 - 60, .inTransit), (.cancelled, t0 - 60, .inTransit), (.inTransit, t0 + 60, .cancelled),
      (.inTransit, t0 - 60, .cancelled), (.inTransit, t0 + 60, .labelCreated), (.outForDelivery, t0 + 60, .delivered),
    ] {
      #expect(throws: CommerceError.self, "\(status) at \(at) when \(current)") {
        try ShipmentTransitions.effect(of: status, at: at, current: current, latest: t0)
      }
    }
    let refused = #expect(throws: CommerceError.self) {
      try ShipmentTransitions.effect(of: .pickedUp, at: t0 + 60, current: .delivered, latest: t0)
    }
    #expect(refused?.reason == .invalidStateTransition && refused?.metadata == ["status": "DELIVERED", "requested": "PICKED_UP"])
  }

  @Test("the carriers setting names carriers and their partner users; partners report only for their carrier")
  func carriers() throws {
    let carriers = try Carriers(setting: "acme-express:u1|u2, parcel-post")
    #expect(carriers.contains("acme-express") && carriers.contains("parcel-post") && !carriers.contains("swift-freight"))
    let partner = Principal(kind: .user, subject: "u1", roles: [.deliveryPartner], expiresAt: 0)
    #expect(carriers.isPartner(partner, of: "acme-express"))
    #expect(!carriers.isPartner(partner, of: "parcel-post"))
    // The role is needed too: a listed user without DELIVERY_PARTNER is no partner.
    #expect(!carriers.isPartner(Principal(kind: .user, subject: "u2", roles: [.customer], expiresAt: 0), of: "acme-express"))
    let integration = Principal(kind: .service, subject: "delivery-partner-parcel-post", expiresAt: 0)
    #expect(carriers.isPartner(integration, of: "parcel-post") && !carriers.isPartner(integration, of: "acme-express"))
    for bad in ["", "Acme", "-acme", "acme:", "a b", String(repeating: "a", count: 41)] {
      #expect(throws: CommerceError.self, "\(bad)") { try Carriers(setting: bad) }
    }
    #expect(try ShippingService.configuration([:]).carriers == .standard)
    #expect(throws: CommerceError.self) { try ShippingService.configuration(["carriers": "ACME"]) }
    let number = Carriers.trackingNumber(for: "acme-express")
    #expect(number.hasPrefix("AE") && number.count == 14 && number.dropFirst(2).allSatisfy(\.isNumber))
  }
}
