import CommerceAPI
import Messages
import NIOCore
import ProtoJSON
import Testing

@Suite("JSONMessageCodec: JSON ⇄ protobuf by message name, from a generated registry")
struct JSONMessageCodecTests {
  static let codec = JSONMessageCodec(schema: SchemaCatalog(registry: .commerceAPI))
  static let checkoutRequest = "emporium.commerce.v1.CheckoutRequest"
  static let checkoutResponse = "emporium.commerce.v1.CheckoutResponse"

  @Test("a checkout request goes from JSON to the generated type's bytes, and back to JSON")
  func checkoutRequest() throws {
    let json = """
      {
        "lines": {"lines": [{"productId": "p-1", "quantity": 2}, {"product_id": "p-2", "quantity": "1"}]},
        "shippingAddress": {
          "recipientName": "Ada Lovelace", "addressLines": ["12 St James's Square", "Flat 3"],
          "locality": "London", "postalCode": "SW1Y 4JH", "regionCode": "GB"
        },
        "paymentMethod": {"testCard": {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"}},
        "shippingSpeed": "SHIPPING_SPEED_EXPRESS",
        "expectedTotal": {"amountMinor": "2599", "currency": "EUR"},
        "idempotencyKey": "checkout-1"
      }
      """
    let bytes = try Self.codec.encode(json: json, messageType: Self.checkoutRequest)
    let request = try CommerceV1.CheckoutRequest(decoding: bytes)
    #expect(
      request.itemsSource
        == .lines(.with {
          $0.lines = [
            .with {
              $0.productId = "p-1"
              $0.quantity = 2
            },
            .with {
              $0.productId = "p-2"
              $0.quantity = 1
            },
          ]
        }))
    #expect(request.shippingAddress?.recipientName == "Ada Lovelace")
    #expect(request.shippingAddress?.addressLines == ["12 St James's Square", "Flat 3"])
    #expect(request.shippingAddress?.regionCode == "GB")
    #expect(request.billingAddress == nil)
    #expect(
      request.paymentMethod?.method
        == .testCard(.with {
          $0.number = "4242424242424242"
          $0.expMonth = 12
          $0.expYear = 2030
          $0.cvc = "123"
        }))
    #expect(request.shippingSpeed == .express)
    #expect(request.expectedTotal == .with {
      $0.amountMinor = 2599
      $0.currency = "EUR"
    })
    #expect(request.idempotencyKey == "checkout-1")
    // The same text as UTF-8 bytes (an HTTP body) gives the same bytes.
    #expect(try Self.codec.encode(json: Array(json.utf8), messageType: Self.checkoutRequest) == bytes)

    #expect(
      try Self.codec.json(from: bytes, messageType: Self.checkoutRequest)
        == #"{"lines":{"lines":[{"productId":"p-1","quantity":2},{"productId":"p-2","quantity":1}]},"shippingAddress":{"recipientName":"Ada Lovelace","addressLines":["12 St James's Square","Flat 3"],"locality":"London","postalCode":"SW1Y 4JH","regionCode":"GB"},"paymentMethod":{"testCard":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}},"shippingSpeed":"SHIPPING_SPEED_EXPRESS","expectedTotal":{"amountMinor":"2599","currency":"EUR"},"idempotencyKey":"checkout-1"}"#
    )
  }

  @Test("a checkout response encoded by protobuf-c becomes JSON with timestamps, money and enum names, and encodes back the same")
  func checkoutResponse() throws {
    let eur = { (amount: Int64) in
      CommerceV1.Money.with {
        $0.amountMinor = amount
        $0.currency = "EUR"
      }
    }
    let response = CommerceV1.CheckoutResponse.with {
      $0.order = .with {
        $0.orderId = "o-1"
        $0.customerId = "c-1"
        $0.status = .confirmed
        $0.lines = [
          .with {
            $0.orderLineId = "l-1"
            $0.productId = "p-1"
            $0.sellerId = "s-1"
            $0.title = "Teapot"
            $0.unitPrice = eur(1299)
            $0.quantity = 2
            $0.lineTotal = eur(2598)
          }
        ]
        $0.totals = .with { $0.total = eur(2598) }
        $0.shippingSpeed = .standard
        $0.paymentStatus = .authorized
        $0.statusHistory = [
          .with {
            $0.status = .pending
            $0.changeTime = .with { $0.seconds = 1_714_559_400 }
            $0.note = "checkout started"
          }
        ]
        $0.createTime = .with {
          $0.seconds = 1_714_559_400
          $0.nanos = 500_000_000
        }
        $0.version = 3
      }
    }
    let json = try Self.codec.json(from: ByteBuffer(bytes: try response.serializedBytes()), messageType: Self.checkoutResponse)
    #expect(
      json
        == #"{"order":{"orderId":"o-1","customerId":"c-1","status":"ORDER_STATUS_CONFIRMED","lines":[{"orderLineId":"l-1","productId":"p-1","sellerId":"s-1","title":"Teapot","unitPrice":{"amountMinor":"1299","currency":"EUR"},"quantity":2,"lineTotal":{"amountMinor":"2598","currency":"EUR"}}],"totals":{"total":{"amountMinor":"2598","currency":"EUR"}},"shippingSpeed":"SHIPPING_SPEED_STANDARD","paymentStatus":"PAYMENT_STATUS_AUTHORIZED","statusHistory":[{"status":"ORDER_STATUS_PENDING","changeTime":"2024-05-01T10:30:00Z","note":"checkout started"}],"createTime":"2024-05-01T10:30:00.500Z","version":"3"}}"#
    )
    let again = try Self.codec.encode(json: json, messageType: Self.checkoutResponse)
    #expect(try CommerceV1.CheckoutResponse(decoding: again) == response)
  }

  @Test("compact JSON is one line whatever the strings hold (newline-delimited streams); indented JSON spans lines")
  func layouts() throws {
    let change = CommerceV1.OrderStatusChange.with {
      $0.status = .pending
      $0.note = "line one\nline two"
    }
    let bytes = ByteBuffer(bytes: try change.serializedBytes())
    let type = "emporium.commerce.v1.OrderStatusChange"
    let compact = try Self.codec.json(from: bytes, messageType: type)
    #expect(compact == #"{"status":"ORDER_STATUS_PENDING","note":"line one\nline two"}"#)
    #expect(!compact.contains("\n"))
    #expect(
      try Self.codec.json(from: bytes, messageType: type, layout: .indented) == """
        {
          "status": "ORDER_STATUS_PENDING",
          "note": "line one\\nline two"
        }
        """)
  }

  @Test("with emitDefaultValues, fields at their zero value are written too")
  func defaultValues() throws {
    let codec = JSONMessageCodec(schema: Self.codec.schema, emitDefaultValues: true)
    #expect(try codec.json(from: ByteBuffer(), messageType: "emporium.commerce.v1.Money") == #"{"amountMinor":"0","currency":""}"#)
    #expect(try Self.codec.json(from: ByteBuffer(), messageType: "emporium.commerce.v1.Money") == "{}")
  }

  @Test(
    "JSON that does not fit the type is an error naming the path of the offending value",
    arguments: [
      (
        #"{"lines": {"lines": [{"productId": "p-1", "qty": 2}]}}"#, "lines.lines[0]",
        "unknown field 'qty' in emporium.commerce.v1.CheckoutLine; valid fields: productId, quantity"
      ),
      (
        #"{"shippingSpeed": "WARP"}"#, "shippingSpeed",
        "unknown value 'WARP' for enum emporium.commerce.v1.ShippingSpeed; valid values: SHIPPING_SPEED_UNSPECIFIED, SHIPPING_SPEED_STANDARD, SHIPPING_SPEED_EXPRESS, SHIPPING_SPEED_OVERNIGHT"
      ),
      (#"{"expectedTotal": {"amountMinor": "12.5"}}"#, "expectedTotal.amountMinor", "12.5 is not an integer (int64)"),
      (
        #"{"shippingAddress": {"addressLines": ["a", 7]}}"#, "shippingAddress.addressLines[1]",
        "expected a string, got a number"
      ),
      (
        #"{"cart": {}, "lines": {}}"#, "",
        "oneof 'items_source' has more than one member set: 'cart' and 'lines'; set at most one of cart, lines"
      ),
      (#"{"idempotencyKey": "k",}"#, "", "invalid JSON at line 1, column 24: expected a member name in double quotes"),
    ])
  func invalidRequests(json: String, path: String, message: String) {
    let error = #expect(throws: ProtoJSONError.self) {
      try Self.codec.encode(json: json, messageType: Self.checkoutRequest)
    }
    #expect(error?.path == path)
    #expect(error?.message == message)
    #expect(error?.description == (path.isEmpty ? message : "\(path): \(message)"))
  }

  @Test("text that is not UTF-8, an unknown message type and bytes that are not the type's encoding are errors")
  func otherErrors() {
    #expect(throws: ProtoJSONError("invalid JSON: the text is not valid UTF-8")) {
      try Self.codec.encode(json: [0x7B, 0xFF, 0x7D] as [UInt8], messageType: Self.checkoutRequest)
    }
    #expect(throws: ProtoJSONError("no message type 'emporium.commerce.v1.Nope' in the registry")) {
      try Self.codec.encode(json: "{}", messageType: "emporium.commerce.v1.Nope")
    }
    // order (field 1) claims 5 bytes and has none.
    #expect(throws: ProtoJSONError("truncated length-delimited field", path: "order")) {
      try Self.codec.json(from: ByteBuffer(bytes: [0x0A, 0x05]), messageType: Self.checkoutResponse)
    }
  }
}
