import CommerceAPI
import CommerceKit
import Foundation

/// The carriers a deployment books, and which delivery partners work for each: the `carriers`
/// setting of the service (docs/SHIPPING.md).
///
/// The setting is a comma-separated list of carriers, each a carrier id optionally followed by
/// `:` and the user ids of its DELIVERY_PARTNER users separated by `|`, for example
/// `acme-express:5f0c...|9a1b...,parcel-post`. A carrier's integration calls as the service
/// identity `delivery-partner-<carrier_id>` and needs no listing. Without the setting the
/// carriers are ``defaultCarrierIDs``, with no partner users.
struct Carriers: Sendable, Equatable {
  /// The carriers by id, each with its partner users' ids.
  private(set) var partners: [String: Set<String>]

  static let defaultCarrierIDs = ["acme-express", "parcel-post", "swift-freight"]

  init(partners: [String: Set<String>]) {
    self.partners = partners
  }

  /// The default carriers.
  static var standard: Carriers { Carriers(partners: Dictionary(uniqueKeysWithValues: defaultCarrierIDs.map { ($0, []) })) }

  /// The carriers a `carriers` setting names; INVALID_ARGUMENT naming the setting when it is
  /// malformed.
  init(setting: String) throws(CommerceError) {
    var partners: [String: Set<String>] = [:]
    for entry in setting.split(separator: ",", omittingEmptySubsequences: true) {
      let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      let id = parts[0].trimmingCharacters(in: .whitespaces)
      guard Self.isCarrierID(id) else {
        throw .invalidArgument(field: "carriers", "'\(id)' is not a carrier id (1 to 40 of a-z, 0-9 and '-')")
      }
      let users = parts.count > 1 ? parts[1].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } : []
      guard parts.count == 1 || !users.isEmpty, users.allSatisfy({ !$0.isEmpty && $0.count <= 64 }) else {
        throw .invalidArgument(field: "carriers", "carrier '\(id)' lists an empty or overlong partner user id")
      }
      partners[id, default: []].formUnion(users)
    }
    guard !partners.isEmpty else { throw .invalidArgument(field: "carriers", "names no carrier") }
    self.partners = partners
  }

  static func isCarrierID(_ id: String) -> Bool {
    guard (1...40).contains(id.utf8.count), let first = id.utf8.first, first != UInt8(ascii: "-") else { return false }
    return id.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
  }

  func contains(_ carrierID: String) -> Bool { partners[carrierID] != nil }

  /// The service identity a carrier's integration calls as.
  static func serviceIdentity(of carrierID: String) -> String { "delivery-partner-" + carrierID }

  /// Whether `principal` reports for `carrierID`: the carrier's service identity, or a
  /// DELIVERY_PARTNER user the carrier lists.
  func isPartner(_ principal: Principal, of carrierID: String) -> Bool {
    switch principal.kind {
    case .service: principal.subject == Self.serviceIdentity(of: carrierID)
    case .user: principal.has(.deliveryPartner) && (partners[carrierID]?.contains(principal.subject) ?? false)
    }
  }

  /// A new tracking number as the carrier assigns one: the carrier's initials and 12 random
  /// digits, for example "AE482913075561".
  static func trackingNumber(for carrierID: String) -> String {
    let initials = carrierID.split(separator: "-").compactMap(\.first).map { String($0).uppercased() }.joined()
    let digits = (0..<12).map { _ in String(Int.random(in: 0...9)) }.joined()
    return String(initials.prefix(4)) + digits
  }
}
