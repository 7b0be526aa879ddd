#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import NIOCore
import NIOPosix

/// One server address a pool connects to.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where a pool learns its endpoints: asked once when the pool starts, then every `refresh`
/// interval. A failed or empty answer keeps the endpoints already known.
public protocol EndpointResolver: Sendable {
  func resolve() async throws -> [Endpoint]
}

/// A fixed list of endpoints.
public struct StaticEndpoints: EndpointResolver {
  public let endpoints: [Endpoint]

  public init(_ endpoints: [Endpoint]) { self.endpoints = endpoints }

  public func resolve() async throws -> [Endpoint] { endpoints }
}

/// Every address a DNS name resolves to (A and AAAA records, through the system resolver,
/// on NIO's blocking-I/O thread pool), each with `port`.
public struct DNSEndpoints: EndpointResolver {
  public let host: String
  public let port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public func resolve() async throws -> [Endpoint] {
    let host = self.host
    let port = self.port
    return try await NIOThreadPool.singleton.runIfActive {
      try Self.lookUp(host: host).map { Endpoint(host: $0, port: port) }
    }
  }

  /// getaddrinfo: the numeric addresses of `host`, in the resolver's order, without duplicates.
  static func lookUp(host: String) throws -> [String] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Glibc)
      hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #else
      hints.ai_socktype = SOCK_STREAM
    #endif
    var list: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host, nil, &hints, &list)
    guard status == 0 else {
      throw RPCError(
        code: .unavailable, message: "could not resolve \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { freeaddrinfo(list) }
    var addresses: [String] = []
    var entry = list
    while let info = entry?.pointee {
      entry = info.ai_next
      guard let address = info.ai_addr else { continue }
      // NIO's SocketAddress formats the address (inet_ntop), so no member of the C socket
      // address structs is named here.
      let formatted: String?
      switch Int32(address.pointee.sa_family) {
      case AF_INET:
        formatted = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee).ipAddress }
      case AF_INET6:
        formatted = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee).ipAddress }
      default:
        formatted = nil
      }
      guard let string = formatted else { continue }
      if !addresses.contains(string) { addresses.append(string) }
    }
    return addresses
  }
}
