import CommercePayments
import Foundation
public import NIOHTTP1

/// One HTTP request to the sandbox, read in full.
public struct SandboxHTTPRequest: Sendable {
  public var method: HTTPMethod
  /// The path without the query.
  public var path: String
  /// The query's parameters (the last value of each name).
  public var query: [String: String]
  public var headers: HTTPHeaders
  public var body: [UInt8]

  public init(method: HTTPMethod, target: String, headers: HTTPHeaders = [:], body: [UInt8] = []) {
    self.method = method
    let components = URLComponents(string: target)
    self.path = components?.path ?? target
    var query: [String: String] = [:]
    for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
    self.query = query
    self.headers = headers
    self.body = body
  }
}

/// The sandbox's answer: a status and a JSON body.
public struct SandboxHTTPResponse: Sendable {
  public var status: HTTPResponseStatus
  public var body: [UInt8]

  public init(status: HTTPResponseStatus, body: [UInt8]) {
    self.status = status
    self.body = body
  }

  static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> SandboxHTTPResponse {
    SandboxHTTPResponse(status: status, body: ProviderWire.encode(value))
  }

  static func error(_ status: HTTPResponseStatus, _ type: String, _ message: String, param: String? = nil) -> SandboxHTTPResponse {
    json(ProviderWire.ErrorBody(type: type, message: message, param: param), status: status)
  }
}
