// The commerce contract: messages, service protocols and client stubs generated from
// proto/emporium/commerce/v1 (under Generated/, `make generate`), and the few written helpers
// the contract's conventions call for.

extension CommerceV1.ErrorReason {
  /// The ErrorInfo.reason string of this value, as common.proto defines it: the value name
  /// without the "ERROR_REASON_" prefix, for example "INSUFFICIENT_STOCK".
  public var reason: String {
    let name = Self.protoValueNames[rawValue] ?? "ERROR_REASON_UNSPECIFIED"
    return String(name.dropFirst("ERROR_REASON_".count))
  }

  /// The ErrorInfo domain of every commerce reason.
  public static let domain = "commerce.emporium"
}
