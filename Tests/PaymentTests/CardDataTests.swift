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

/// Raw card numbers are never stored: only brand, last four digits and expiry.
@Suite("PaymentService card data")
struct CardDataTests {
  @Test("No table of schema payments holds a card number, in text or in bytes")
  func noCardNumbers() async throws {
    try await PaymentHarness.run(withOrders: true) { h in
      let numbers = ["4242424242424242", "4000000000000002", "4000000000009995", "4000000000003220", "5555555555554444"]
      var paymentIDs: [String] = []
      for number in numbers {
        paymentIDs.append(try await h.authorize(PaymentHarness.card(number)).paymentId)
      }
      paymentIDs.append(try await h.authorize(.with { $0.method = .cardToken("tok_sandbox_6011111111111117") }).paymentId)
      _ = try await h.capture(paymentIDs[0])
      _ = try await h.refund(paymentIDs[0], amount: TestApp.usd(100))
      await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card("4242424242424241")) }
      // The asynchronous card settled through the webhook and the relay.
      #expect(try await eventually { try await h.get(paymentIDs[3]).status == .authorized })

      let columns = try await h.pool.query(
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'payments' AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb')
        """
      ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: String.self)) }
      #expect(columns.count > 20)
      for number in numbers + ["6011111111111117", "4242424242424241"] {
        for (table, column, type) in columns {
          let test =
            type == "bytea"
            ? "position(convert_to($1, 'UTF8') in \(column)) > 0" : "\(column)::text LIKE '%' || $1 || '%'"
          let hits = try await h.pool.query("SELECT count(*) FROM payments.\(table) WHERE \(test)", [number]).first!
            .decode(0, as: Int64.self)
          #expect(hits == 0, "\(table).\(column) holds a card number")
        }
      }
      let stored = try await h.get(paymentIDs[0])
      #expect(stored.method == .with { $0.brand = .visa; $0.lastFour = "4242"; $0.expMonth = 12; $0.expYear = 2040 })
      #expect(try await h.get(paymentIDs[5]).method?.brand == .discover)
    }
  }
}
