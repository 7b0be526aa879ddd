/// A value that cannot be converted between JSON and protobuf: where (a path of JSON names
/// such as `items[2].price`) and why, naming the valid choices when there are some.
struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The path to the offending value; empty for the message itself.
  var path: String
  var message: String

  init(_ message: String, path: String = "") {
    self.message = message
    self.path = path
  }

  var description: String { path.isEmpty ? message : "\(path): \(message)" }

  /// The same error, located under `component` (a field name or `[index]`).
  func under(_ component: String) -> CodecError {
    let joined =
      if path.isEmpty { component } else if path.hasPrefix("[") { component + path } else { component + "." + path }
    return CodecError(message, path: joined)
  }
}
