import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumGateway
import Foundation
import Messages
import NIOHTTP1
import RPC
import TestSupport
import Testing

/// The JSON members of one line or body.
func jsonObject(_ text: String) throws -> [String: Any] {
  try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite("API gateway, HTTP/JSON face: POST /v1/{Service}/{Method}, streams as NDJSON or server-sent events, grpc-gateway's status mapping")
struct GatewayHTTPTests {
  @Test("a customer registers, logs in, checks out and watches the order over HTTP/JSON")
  func journeyOverHTTP() async throws {
    try await GatewayFixture.run { f in
      let product = try await f.product(stock: 3)
      let email = "web-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      let registered = try await f.http.send(
        "/v1/AuthService/RegisterUser", body: #"{"email": "\#(email)", "password": "correct horse battery", "displayName": "Web"}"#)
      #expect(registered.status == 200, "\(registered.body)")
      let login = try await f.http.send("/v1/emporium.commerce.v1.AuthService/Login", body: #"{"email": "\#(email)", "password": "correct horse battery"}"#)
      #expect(login.status == 200)
      let token = try #require((try jsonObject(login.body)["tokens"] as? [String: Any])?["accessToken"] as? String)
      let bearer = [("Authorization", "Bearer \(token)")]
      let checkout = try await f.http.send(
        "/v1/OrderService/Checkout",
        body: """
          {"lines": {"lines": [{"productId": "\(product)", "quantity": 1}]},
           "shippingAddress": {"recipientName": "Web Buyer", "addressLines": ["1 Main St"], "locality": "Springfield",
                               "administrativeArea": "IL", "postalCode": "62701", "regionCode": "US"},
           "paymentMethod": {"testCard": {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2040, "cvc": "123"}},
           "idempotencyKey": "\(UUID().uuidString)"}
          """, headers: bearer)
      #expect(checkout.status == 200, "\(checkout.body)")
      let order = try #require(try jsonObject(checkout.body)["order"] as? [String: Any])
      let orderID = try #require(order["orderId"] as? String)
      #expect(order["status"] as? String == "ORDER_STATUS_CONFIRMED")
      // WatchOrder as newline-delimited JSON, read while it is open: the order now, then its
      // cancellation (made over HTTP too), then the end.
      let statuses = try await f.http.exchange("/v1/OrderService/WatchOrder", body: #"{"orderId": "\#(orderID)"}"#, headers: bearer) {
        status, headers, parts in
        #expect(status == 200)
        #expect(headers.first(name: "Content-Type") == "application/x-ndjson")
        var lines = LineReader(parts)
        var statuses: [String] = []
        while let line = try await lines.next() {
          let result = try #require(try jsonObject(line)["result"] as? [String: Any])
          statuses.append(try #require((result["order"] as? [String: Any])?["status"] as? String))
          if statuses.count == 1 {
            let cancelled = try await f.http.send(
              "/v1/OrderService/CancelOrder", body: #"{"orderId": "\#(orderID)", "reason": "CANCEL_REASON_CUSTOMER_REQUESTED"}"#,
              headers: bearer)
            #expect(cancelled.status == 200, "\(cancelled.body)")
          }
        }
        return statuses
      }
      #expect(statuses == ["ORDER_STATUS_CONFIRMED", "ORDER_STATUS_CANCELLED"])
      // The same stream as server-sent events (the order is final: one event, then the end).
      let events = try await f.http.send(
        "/v1/OrderService/WatchOrder", body: #"{"orderId": "\#(orderID)"}"#, headers: bearer + [("Accept", "text/event-stream")])
      #expect(events.headers.first(name: "Content-Type") == "text/event-stream")
      #expect(events.body.hasPrefix("data: {\"order\":"))
      #expect(events.body.hasSuffix("\n\n"))
      #expect(events.body.contains("ORDER_STATUS_CANCELLED"))
    }
  }

  @Test("failures are google.rpc.Status in JSON with grpc-gateway's HTTP status: bad JSON names the field, limits say when to retry")
  func failures() async throws {
    try await GatewayFixture.run(configure: { $0.perPrincipal = .init(perSecond: 0.01, burst: 2) }) { f in
      let unknown = try await f.http.send("/v1/CatalogService/Nope", body: "{}")
      #expect(unknown.status == 501)
      #expect(try jsonObject(unknown.body)["code"] as? Int == Int(RPCStatusCode.unimplemented.rawValue))
      let malformed = try await f.http.send("/v1/CatalogService/SearchProducts", body: #"{"query": "#)
      #expect(malformed.status == 400)
      let badField = try await f.http.send("/v1/CatalogService/SearchProducts", body: #"{"pageSize": "many"}"#)
      #expect(badField.status == 400)
      let status = try jsonObject(badField.body)
      #expect(status["code"] as? Int == 3)
      let details = try #require(status["details"] as? [[String: Any]])
      let violations = try #require((details.first?["badRequest"] as? [String: Any])?["fieldViolations"] as? [[String: Any]])
      #expect(violations.first?["field"] as? String == "pageSize")
      let unknownField = try await f.http.send("/v1/CatalogService/SearchProducts", body: #"{"colour": "red"}"#)
      #expect(unknownField.status == 400 && unknownField.body.contains("colour"))
      // No token where one is needed: 401; a customer on an admin method: 403.
      #expect(try await f.http.send("/v1/AuthService/WhoAmI", body: "{}").status == 401)
      let customer = try await f.customer()
      let bearer = [("Authorization", "Bearer \(customer)")]
      #expect(try await f.http.send("/v1/AdminService/ListUsers", body: "{}", headers: bearer).status == 403)
      // A service's NOT_FOUND, with its ErrorInfo.
      let missing = try await f.http.send("/v1/CatalogService/GetProduct", body: #"{"productId": "\#(UUID().uuidString)"}"#)
      #expect(missing.status == 404, "\(missing.body)")
      // The per-principal limit (burst 2, the customer has used 1): 429 with Retry-After.
      _ = try await f.http.send("/v1/AuthService/WhoAmI", body: "{}", headers: bearer)
      let limited = try await f.http.send("/v1/AuthService/WhoAmI", body: "{}", headers: bearer)
      #expect(limited.status == 429)
      #expect(Int(limited.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
      #expect(limited.body.contains("quotaFailure"))
    }
  }

  @Test("GET / serves the storefront page")
  func page() async throws {
    try await GatewayFixture.run { f in
      let page = try await f.http.send("/", method: .GET)
      #expect(page.status == 200)
      #expect(page.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
      #expect(page.body.contains("<title>Emporium"))
    }
  }

  @Test("status codes map to HTTP as grpc-gateway maps them")
  func statusMapping() {
    let expected: [RPCStatusCode: Int] = [
      .ok: 200, .cancelled: 499, .unknown: 500, .invalidArgument: 400, .deadlineExceeded: 504, .notFound: 404,
      .alreadyExists: 409, .permissionDenied: 403, .resourceExhausted: 429, .failedPrecondition: 400, .aborted: 409,
      .outOfRange: 400, .unimplemented: 501, .internal: 500, .unavailable: 503, .dataLoss: 500, .unauthenticated: 401,
    ]
    for (code, status) in expected { #expect(GatewayHTTP.httpStatusCode(of: code) == status, "\(code)") }
  }
}
