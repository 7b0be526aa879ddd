/// How ``JSONMessageCodec`` lays out the JSON it writes.
public enum JSONLayout: Hashable, Sendable {
  /// One line without spaces (`{"a":1,"b":[true]}`). Strings escape line breaks, so the text
  /// never holds a newline: one message per line makes a newline-delimited JSON stream.
  case compact
  /// Members and elements on lines of their own, indented by two spaces per level, as
  /// `rpcctl call --pretty` prints them.
  case indented
}
