public import CommerceAPI
public import Messages

extension SampleMessages {
  /// A "buy now" checkout of five explicit lines, shipped express to one address and billed to
  /// another, paid with a tokenized card, with the total the customer agreed to and an
  /// idempotency key: 521 bytes on the wire.
  public static func checkoutRequest() -> CommerceV1.CheckoutRequest {
    CommerceV1.CheckoutRequest.with { request in
      request.itemsSource = .lines(
        .with { lines in
          lines.lines = (0..<5).map { index in
            CommerceV1.CheckoutLine.with {
              $0.productId = identifier(1_000 + UInt64(index))
              $0.quantity = Int32([1, 2, 1, 3, 1][index])
            }
          }
        })
      request.shippingAddress = .with {
        $0.recipientName = "Margarethe Oyelaran-Lindqvist"
        $0.organization = "Northwind Traders GmbH"
        $0.addressLines = ["Friedrichstraße 123", "Aufgang B, 4. OG"]
        $0.locality = "Berlin"
        $0.administrativeArea = "BE"
        $0.postalCode = "10117"
        $0.regionCode = "DE"
        $0.phoneNumber = "+4930901820"
      }
      request.billingAddress = .with {
        $0.recipientName = "Margarethe Oyelaran-Lindqvist"
        $0.addressLines = ["Kastanienallee 7"]
        $0.locality = "Potsdam"
        $0.administrativeArea = "BB"
        $0.postalCode = "14471"
        $0.regionCode = "DE"
        $0.phoneNumber = "+4933112345678"
      }
      request.paymentMethod = .with { $0.method = .cardToken("tok_1Q9vGz2eZvKYlo2C8hT4xWbE") }
      request.shippingSpeed = .express
      request.expectedTotal = .with {
        $0.amountMinor = 18_947
        $0.currency = "EUR"
      }
      request.idempotencyKey = identifier(42)
    }
  }
}
