public import CommerceAPI
public import Messages
public import SwiftProtobufPeer

/// The representative messages as ``CodecFixture``s, built and checked once per process.
public enum CodecFixtures {
  /// ``SampleMessages/checkoutRequest()``: nested messages, oneofs, short strings.
  public static let checkoutRequest = CodecFixture(
    name: "CheckoutRequest", ours: SampleMessages.checkoutRequest(),
    peer: Emporium_Commerce_V1_CheckoutRequest.self)

  /// ``SampleMessages/searchProductsResponse()``: a large response, mostly repeated messages
  /// with strings.
  public static let searchProductsResponse = CodecFixture(
    name: "SearchProductsResponse", ours: SampleMessages.searchProductsResponse(),
    peer: Emporium_Commerce_V1_SearchProductsResponse.self)

  /// ``SampleMessages/echoRequest()``: a 40-byte message, where fixed per-call costs dominate.
  public static let echoRequest = CodecFixture(
    name: "EchoRequest", ours: SampleMessages.echoRequest(), peer: Emporium_Rpc_V1_EchoRequest.self)
}
