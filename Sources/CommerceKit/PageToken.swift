import CommerceAPI
import Crypto
import Foundation

/// Opaque keyset page tokens, as common.proto describes them: a token encodes the position
/// after the last item returned and is bound to the request's other parameters. A token used
/// with different parameters, or that is not a token at all, fails with INVALID_ARGUMENT
/// (reason INVALID_PAGE_TOKEN). Tokens do not expire.
///
/// The position is whatever the list sorts by (for example `[createTime, id]`), as strings. A
/// token is base64url of JSON `{"p": position, "b": binding}`, where the binding is the first 16
/// bytes of SHA-256 over the method name and the parameters, so a token of one list cannot be
/// replayed against another. Clients must not parse it.
///
/// ```swift
/// let binding = PageToken.binding("ListAccounts", [role, status, prefix])
/// let after = try PageToken.position(request.pageToken, binding: binding, field: "page_token")
/// ... WHERE (create_time, id) < ($1, $2) ...
/// response.nextPageToken = PageToken.make([lastTime, lastID], binding: binding)
/// ```
public enum PageToken {
  /// The binding of a list's parameters (everything but the page size and token).
  public static func binding(_ method: String, _ parameters: [String]) -> String {
    var hasher = SHA256()
    hasher.update(data: Data(method.utf8))
    for parameter in parameters {
      hasher.update(data: Data([0]))
      hasher.update(data: Data(parameter.utf8))
    }
    return Data(hasher.finalize().prefix(16)).base64EncodedString()
  }

  /// A token for the position after `position`.
  public static func make(_ position: [String], binding: String) -> String {
    let data = (try? JSONEncoder().encode(Body(p: position, b: binding))) ?? Data()
    return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  /// The position a token encodes; nil for an empty token (the first page). Throws
  /// INVALID_ARGUMENT (INVALID_PAGE_TOKEN) for a malformed token or one bound to other
  /// parameters, and when the position has not `count` parts.
  public static func position(_ token: String, binding: String, count: Int, field: String = "page_token") throws(CommerceError)
    -> [String]?
  {
    guard !token.isEmpty else { return nil }
    var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    guard token.utf8.count <= 4096, let data = Data(base64Encoded: base64),
      let body = try? JSONDecoder().decode(Body.self, from: data), body.p.count == count
    else {
      throw .invalidArgument(field: field, "is not a page token of this list", reason: .invalidPageToken)
    }
    guard body.b == binding else {
      throw .invalidArgument(field: field, "belongs to a request with other parameters", reason: .invalidPageToken)
    }
    return body.p
  }

  /// The page size a list uses: `default` for 0, at most `maximum`; INVALID_ARGUMENT when
  /// negative (common.proto).
  public static func pageSize(_ requested: Int32, default defaultSize: Int, maximum: Int, field: String = "page_size") throws(CommerceError)
    -> Int
  {
    guard requested >= 0 else { throw .invalidArgument(field: field, "must not be negative") }
    return requested == 0 ? defaultSize : min(Int(requested), maximum)
  }

  private struct Body: Codable {
    var p: [String]
    var b: String
  }
}
