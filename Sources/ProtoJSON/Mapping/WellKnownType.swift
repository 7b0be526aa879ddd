import Messages

/// The google.protobuf types whose proto3 JSON form is not a plain object.
///
/// Timestamp (RFC 3339 string), Duration (`"1.5s"`), the wrappers (`Int64Value`...: the
/// wrapped value itself), FieldMask (`"a.b,cD"`), Struct (any JSON object), ListValue (any
/// array) and Value (any JSON value). `Any` is not special-cased: it is written as an ordinary
/// object with `typeUrl` and base64 `value`.
enum WellKnownType: Hashable, Sendable {
  case timestamp, duration, wrapper, fieldMask, structure, listValue, value

  static let valueMessage = "google.protobuf.Value"
  static let nullValueEnum = "google.protobuf.NullValue"
  private static let structMessage = "google.protobuf.Struct"
  private static let listValueMessage = "google.protobuf.ListValue"

  init?(typeName: String) {
    switch typeName {
    case "google.protobuf.Timestamp": self = .timestamp
    case "google.protobuf.Duration": self = .duration
    case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
      self = .wrapper
    case "google.protobuf.FieldMask": self = .fieldMask
    case Self.structMessage: self = .structure
    case Self.listValueMessage: self = .listValue
    case Self.valueMessage: self = .value
    default: return nil
    }
  }

  // MARK: JSON → message

  func decode(_ json: JSONValue, type: MessageType, using decoder: ProtoJSONDecoder) throws(ProtoJSONError) -> DynamicMessage {
    var message = DynamicMessage(typeName: type.fullName)
    switch self {
    case .timestamp:
      guard case .string(let text) = json else { throw expected("an RFC 3339 string", json, type) }
      let (seconds, nanos) = try TimestampText.parse(text)
      message.setSecondsAndNanos(seconds, nanos)
    case .duration:
      guard case .string(let text) = json else { throw expected("a duration string such as \"1.5s\"", json, type) }
      let (seconds, nanos) = try DurationText.parse(text)
      message.setSecondsAndNanos(seconds, nanos)
    case .wrapper:
      guard let field = type.field(number: 1) else { throw ProtoJSONError("\(type.fullName) has no value field") }
      let value = try decoder.decodeValue(json, kind: field.kind, typeName: field.typeName)
      if !value.isZero { message.fields[1] = .single(value) }
    case .fieldMask:
      guard case .string(let text) = json else { throw expected("a comma-separated string of paths", json, type) }
      let paths = text.split(separator: ",").map { path in
        path.split(separator: ".", omittingEmptySubsequences: false).map { Self.snakeCase(String($0)) }.joined(separator: ".")
      }
      if !paths.isEmpty { message.fields[1] = .list(paths.map(ProtoValue.string)) }
    case .structure:
      guard case .object = json else { throw expected("an object", json, type) }
      return try decoder.decodeMessage(.object([JSONMember("fields", json)]), type: type, special: false)
    case .listValue:
      guard case .array = json else { throw expected("an array", json, type) }
      return try decoder.decodeMessage(.object([JSONMember("values", json)]), type: type, special: false)
    case .value:
      switch json {
      case .null: message.fields[1] = .single(.enumNumber(0))
      case .number(let text):
        guard let number = NumberText.double(text), number.isFinite else { throw ProtoJSONError("\(text) is out of range") }
        message.fields[2] = .single(.double(number))
      case .string(let text): message.fields[3] = .single(.string(text))
      case .bool(let flag): message.fields[4] = .single(.bool(flag))
      case .object:
        message.fields[5] = .single(.message(try decoder.decodeMessage(json, type: try decoder.catalog.message(Self.structMessage))))
      case .array:
        message.fields[6] = .single(
          .message(try decoder.decodeMessage(json, type: try decoder.catalog.message(Self.listValueMessage))))
      }
    }
    return message
  }

  // MARK: message → JSON

  func encode(_ message: DynamicMessage, type: MessageType, using encoder: ProtoJSONEncoder) throws(ProtoJSONError) -> JSONValue {
    switch self {
    case .timestamp:
      let (seconds, nanos) = message.secondsAndNanos
      return .string(try TimestampText.format(seconds: seconds, nanos: nanos))
    case .duration:
      let (seconds, nanos) = message.secondsAndNanos
      return .string(try DurationText.format(seconds: seconds, nanos: nanos))
    case .wrapper:
      guard let field = type.field(number: 1) else { throw ProtoJSONError("\(type.fullName) has no value field") }
      var value = ProtoValue.zero(of: field.kind, typeName: field.typeName)
      if case .single(let set)? = message.fields[1] { value = set }
      return try encoder.encodeValue(value, kind: field.kind, typeName: field.typeName)
    case .fieldMask:
      guard case .list(let paths)? = message.fields[1] else { return .string("") }
      let texts = paths.compactMap { path -> String? in
        guard case .string(let text) = path else { return nil }
        return text.split(separator: ".", omittingEmptySubsequences: false).map { ProtoFieldSchema.jsonName(of: String($0)) }
          .joined(separator: ".")
      }
      return .string(texts.joined(separator: ","))
    case .structure:
      let inner = try ProtoJSONEncoder(catalog: encoder.catalog).encodeFields(message, type: type)
      return inner.first?.value ?? .object([])
    case .listValue:
      let inner = try ProtoJSONEncoder(catalog: encoder.catalog).encodeFields(message, type: type)
      return inner.first?.value ?? .array([])
    case .value:
      for number: Int32 in 1...6 {
        guard case .single(let value)? = message.fields[number], let field = type.field(number: number) else { continue }
        if number == 1 { return .null }
        return try encoder.encodeValue(value, kind: field.kind, typeName: field.typeName)
      }
      return .null
    }
  }

  // MARK: Helpers

  private func expected(_ form: String, _ json: JSONValue, _ type: MessageType) -> ProtoJSONError {
    ProtoJSONError("expected \(form) for \(type.fullName), got \(json.typeDescription)")
  }

  /// `fooBar` → `foo_bar` (FieldMask paths).
  private static func snakeCase(_ name: String) -> String {
    var result = ""
    for character in name {
      if character.isUppercase {
        result += "_" + character.lowercased()
      } else {
        result.append(character)
      }
    }
    return result
  }
}

extension DynamicMessage {
  /// Timestamp and Duration: field 1 (seconds) and 2 (nanos).
  fileprivate var secondsAndNanos: (Int64, Int32) {
    var seconds: Int64 = 0
    var nanos: Int32 = 0
    if case .single(.signed(let value))? = fields[1] { seconds = value }
    if case .single(.signed(let value))? = fields[2] { nanos = Int32(truncatingIfNeeded: value) }
    return (seconds, nanos)
  }

  fileprivate mutating func setSecondsAndNanos(_ seconds: Int64, _ nanos: Int32) {
    if seconds != 0 { fields[1] = .single(.signed(seconds)) }
    if nanos != 0 { fields[2] = .single(.signed(Int64(nanos))) }
  }
}
