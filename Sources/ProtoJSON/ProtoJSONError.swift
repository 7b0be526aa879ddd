/// A value that cannot be converted between JSON and protobuf: where it is and why.
///
/// ``path`` locates the offending value by JSON names, list indexes and map keys
/// (`lines.lines[2].quantity`, `labels["color"]`); it is empty when the problem is the message
/// itself, such as JSON that does not parse. ``message`` says what is wrong in words a client
/// can act on, naming the valid choices where there are some (the fields of a message, the
/// values of an enum, the range of a number). ``description`` joins the two
/// (`lines.lines[2].quantity: 'x' is not an integer (int32)`), which is what a gateway can
/// return as the message of an INVALID_ARGUMENT status.
public struct ProtoJSONError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The path to the offending value; empty for the message itself.
  public var path: String
  /// What is wrong, without the path.
  public var message: String

  public init(_ message: String, path: String = "") {
    self.message = message
    self.path = path
  }

  /// `path: message`, or the message alone when the path is empty.
  public var description: String { path.isEmpty ? message : "\(path): \(message)" }

  /// The same error, located under `component` (a field name or `[index]`).
  func under(_ component: String) -> ProtoJSONError {
    let joined =
      if path.isEmpty { component } else if path.hasPrefix("[") { component + path } else { component + "." + path }
    return ProtoJSONError(message, path: joined)
  }
}
