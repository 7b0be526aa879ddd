public import NIOCore

/// Converts messages between JSON text in the proto3 JSON mapping and protobuf wire bytes, by
/// the messages' full names, without compiled types: what an HTTP gateway needs to forward a
/// JSON request as a method's protobuf request and its protobuf responses back as JSON.
///
/// ```swift
/// let codec = JSONMessageCodec(schema: SchemaCatalog(registry: .commerceAPI))
/// let request = try codec.encode(json: body, messageType: "emporium.commerce.v1.CheckoutRequest")
/// let text = try codec.json(from: response, messageType: "emporium.commerce.v1.CheckoutResponse")
/// ```
///
/// The mapping (docs/RPCCTL.md, "The JSON mapping"): JSON names on output (`createTime`),
/// JSON or original names on input; 64-bit integers as strings; enums by name; bytes as base64;
/// `google.protobuf.Timestamp` as RFC 3339 and `Duration` as `"1.5s"`; fields in field-number
/// order and map entries sorted by key, so output is deterministic. Unknown JSON fields are
/// errors; unknown protobuf fields are skipped.
///
/// A value type with no mutable shared state: one codec serves any number of concurrent calls.
public struct JSONMessageCodec: Sendable {
  /// The types the codec converts.
  public let schema: SchemaCatalog
  /// Whether JSON output also holds the fields without presence that are at their zero value
  /// (`0`, `""`, `false`, `[]`, `{}`, the zero enum value); unset messages and oneofs are never
  /// written.
  public var emitsDefaultValues: Bool

  /// - Parameters:
  ///   - schema: the message and enum types to convert.
  ///   - emitDefaultValues: see ``emitsDefaultValues``.
  public init(schema: SchemaCatalog, emitDefaultValues: Bool = false) {
    self.schema = schema
    self.emitsDefaultValues = emitDefaultValues
  }

  // MARK: JSON → protobuf

  /// The protobuf encoding of a message given as JSON text.
  ///
  /// - Parameters:
  ///   - json: one JSON value, UTF-8 (an HTTP body: `buffer.readableBytesView`); whitespace
  ///     around it is allowed.
  ///   - messageType: the message's full name (`emporium.commerce.v1.CheckoutRequest`).
  /// - Throws: ``ProtoJSONError`` when the text is not valid UTF-8 or JSON, or does not fit the
  ///   type (unknown field, wrong JSON type, bad enum name, number out of range, two members
  ///   of a oneof...), with the path of the offending value; or when the catalog holds no such
  ///   type.
  public func encode(json: some Collection<UInt8>, messageType: String) throws(ProtoJSONError) -> ByteBuffer {
    guard let text = String(validating: json, as: UTF8.self) else {
      throw ProtoJSONError("invalid JSON: the text is not valid UTF-8")
    }
    return try encode(json: text, messageType: messageType)
  }

  /// The protobuf encoding of a message given as JSON text.
  ///
  /// - Throws: ``ProtoJSONError``, as the UTF-8 form of `encode(json:messageType:)` does.
  public func encode(json: String, messageType: String) throws(ProtoJSONError) -> ByteBuffer {
    try wireBytes(of: try ProtoJSONDecoder(catalog: schema).decode(text: json, as: messageType))
  }

  /// The protobuf encoding of a parsed JSON value (rpcctl parses request streams itself).
  package func encode(_ json: JSONValue, messageType: String) throws(ProtoJSONError) -> ByteBuffer {
    try wireBytes(of: try ProtoJSONDecoder(catalog: schema).decode(json, as: messageType))
  }

  private func wireBytes(of message: DynamicMessage) throws(ProtoJSONError) -> ByteBuffer {
    ByteBuffer(bytes: try WireEncoder(catalog: schema).encode(message))
  }

  // MARK: protobuf → JSON

  /// A message's protobuf encoding (the buffer's readable bytes) as JSON text.
  ///
  /// - Parameters:
  ///   - bytes: the message's wire bytes, as an RPC call delivers them.
  ///   - messageType: the message's full name (`emporium.commerce.v1.CheckoutResponse`).
  ///   - layout: ``JSONLayout/compact`` (one line; for newline-delimited streams) or
  ///     ``JSONLayout/indented``.
  /// - Throws: ``ProtoJSONError`` when the bytes are not a valid encoding of the type
  ///   (truncated, wrong wire types, invalid UTF-8 in a string, nested too deep), or a
  ///   Timestamp or Duration is out of its JSON range; or when the catalog holds no such type.
  public func json(from bytes: ByteBuffer, messageType: String, layout: JSONLayout = .compact) throws(ProtoJSONError)
    -> String
  {
    try json(from: bytes.readableBytesView, messageType: messageType, layout: layout)
  }

  /// A message's protobuf encoding as JSON text.
  ///
  /// - Throws: ``ProtoJSONError``, as the `ByteBuffer` form of `json(from:messageType:layout:)` does.
  public func json(from bytes: some Collection<UInt8>, messageType: String, layout: JSONLayout = .compact)
    throws(ProtoJSONError) -> String
  {
    let message = try WireDecoder(catalog: schema).decode(Array(bytes), as: messageType)
    let json = try ProtoJSONEncoder(catalog: schema, emitDefaults: emitsDefaultValues).encode(message)
    return JSONWriter.write(json, pretty: layout == .indented)
  }
}
