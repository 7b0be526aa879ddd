public import RPC

/// Where a process finds the services it does not host, as `emporium serve --peers` gives it:
/// `NAME=ADDRESS[|ADDRESS...]` entries separated by commas, an address being `HOST:PORT`
/// (`[IPv6]:PORT` for IPv6 literals). One address whose host is a name (not a numeric address)
/// is resolved through DNS, every address it has being an endpoint, asked again every
/// `RPCClientPool.Configuration.resolveInterval`; otherwise the addresses are a static list.
public struct PeerMap: Sendable {
  /// One peer's addresses.
  public struct Peer: Sendable, Equatable {
    public var endpoints: [Endpoint]
    /// Whether the endpoints are found through DNS (one named host).
    public var usesDNS: Bool { endpoints.count == 1 && !Self.isNumeric(endpoints[0].host) }

    public var resolver: any EndpointResolver {
      usesDNS ? DNSEndpoints(host: endpoints[0].host, port: endpoints[0].port) : StaticEndpoints(endpoints)
    }

    /// An IPv6 literal (it has colons) or a dotted IPv4 address.
    static func isNumeric(_ host: String) -> Bool {
      if host.contains(":") { return true }
      let parts = host.split(separator: ".", omittingEmptySubsequences: false)
      return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
  }

  /// A mistake in a peer map, naming the entry.
  public struct ParseError: Error, CustomStringConvertible, Equatable {
    public var description: String
  }

  public private(set) var peers: [String: Peer] = [:]

  public init() {}

  /// Parses `text` (see the type's documentation); entries add to those already parsed.
  public mutating func parse(_ text: String) throws(ParseError) {
    for entry in text.split(separator: ",", omittingEmptySubsequences: true) {
      guard let equals = entry.firstIndex(of: "=") else {
        throw ParseError(description: "peer '\(entry)': expected NAME=HOST:PORT")
      }
      let name = String(entry[..<equals])
      guard !name.isEmpty, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }) else {
        throw ParseError(description: "peer '\(entry)': '\(name)' is not a service name")
      }
      guard peers[name] == nil else { throw ParseError(description: "peer '\(name)' is given twice") }
      var endpoints: [Endpoint] = []
      for address in entry[entry.index(after: equals)...].split(separator: "|", omittingEmptySubsequences: false) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
          (1...65535).contains(port)
        else { throw ParseError(description: "peer '\(name)': '\(address)' is not HOST:PORT") }
        var host = address[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw ParseError(description: "peer '\(name)': '\(address)' has no host") }
        endpoints.append(Endpoint(host: String(host), port: port))
      }
      peers[name] = Peer(endpoints: endpoints)
    }
  }

  /// The resolvers for ``EmporiumApp/Configuration/remotePeers``.
  public var resolvers: [String: any EndpointResolver] { peers.mapValues(\.resolver) }
}
