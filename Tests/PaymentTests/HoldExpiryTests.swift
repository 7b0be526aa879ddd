import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommercePayments

/// Authorization holds lapse at the provider: the sandbox reports AUTHORIZATION_EXPIRED for an
/// authorization neither captured nor voided in time, and PaymentService voids the payment.
@Suite("Authorization holds lapse")
struct HoldExpiryTests {
  /// The provider events applied to a payment, by kind.
  static func providerEvents(of payment: String, in h: PaymentHarness) async throws -> [String] {
    try await h.pool.query(
      "SELECT provider_event_kind FROM payments.payment_events WHERE payment_id = $1 AND kind = 'PROVIDER_EVENT' ORDER BY seq",
      [UUID(id: payment)!]
    ).map { try $0.decode(0, as: String.self) }
  }

  @Test(
    "an authorization left uncaptured lapses: AUTHORIZATION_EXPIRED voids it and a capture is refused; captured and voided ones never lapse",
    arguments: SandboxPlacement.allCases)
  func uncapturedHoldsLapse(_ placement: SandboxPlacement) async throws {
    // Long enough for the capture and void below to come first on a loaded machine.
    let hold = Duration.seconds(4)
    try await PaymentHarness.run(placement, authorizationHold: hold) { h in
      let voided = try await h.authorize()
      _ = try await h.payments.voidPayment(.with { $0.paymentId = voided.paymentId; $0.reason = "stock reservation failed" }, options: h.orders)
      let captured = try await h.authorize()
      #expect(try await h.capture(captured.paymentId).status == .captured)
      let before = Date()
      let lapsing = try await h.authorize()
      #expect(lapsing.status == .authorized)
      // The expiry the service shows is the provider's hold.
      let expires = try #require(lapsing.authorizationExpireTime).date
      #expect(abs(expires.timeIntervalSince(before) - 4) < 2)

      // Holds lapse in the order they were taken: once this one has, the others' time passed too.
      #expect(try await eventually(within: .seconds(30)) { try await h.get(lapsing.paymentId).status == .voided })
      let lapsed = try await h.get(lapsing.paymentId)
      #expect(lapsed.authorizationExpireTime == nil)
      #expect(try await Self.providerEvents(of: lapsing.paymentId, in: h) == ["AUTHORIZATION_EXPIRED"])
      #expect(h.sandbox.charges.first { $0.id == lapsing.providerPaymentId }?.status == .voided)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.capture(lapsing.paymentId) }

      #expect(try await h.get(captured.paymentId).status == .captured)
      #expect(try await h.get(voided.paymentId).status == .voided)
      #expect(try await Self.providerEvents(of: captured.paymentId, in: h).isEmpty)
      #expect(try await Self.providerEvents(of: voided.paymentId, in: h).isEmpty)
    }
  }

  @Test("the hold is a setting: authorization-hold-seconds, a positive number of seconds")
  func holdSetting() throws {
    #expect(try PaymentService.Configuration(settings: [:]).authorizationHold == 7 * 24 * 3600)
    #expect(try PaymentService.Configuration(settings: ["authorization-hold-seconds": "60"]).authorizationHold == 60)
    for bad in ["0", "-5", "1.5", "a week"] {
      #expect {
        try PaymentService.Configuration(settings: ["authorization-hold-seconds": bad])
      } throws: { error in
        (error as? CommerceError)?.code == .invalidArgument && "\(error)".contains("authorization-hold-seconds")
      }
    }
  }
}
