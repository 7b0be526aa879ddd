import Messages
import Testing

@testable import ProtoJSON

@Suite("proto3 JSON: well-known types")
struct WellKnownTypeMappingTests {
  @Test(
    "Timestamp is an RFC 3339 string in UTC with 0, 3, 6 or 9 fractional digits",
    arguments: [
      ("1972-01-01T10:00:20.021Z", "1972-01-01T10:00:20.021Z", Int64(63_108_020), Int32(21_000_000)),
      ("2024-05-01T12:30:00+02:00", "2024-05-01T10:30:00Z", 1_714_559_400, 0),
      ("2024-05-01t10:30:00.5z", "2024-05-01T10:30:00.500Z", 1_714_559_400, 500_000_000),
      ("1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z", -1, 999_999_999),
      ("1970-01-01T00:00:00.000001Z", "1970-01-01T00:00:00.000001Z", 0, 1_000),
      ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", -62_135_596_800, 0),
      ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", 253_402_300_799, 0),
      ("2000-02-29T00:00:00-01:30", "2000-02-29T01:30:00Z", 951_787_800, 0),
    ])
  func timestamps(input: String, output: String, seconds: Int64, nanos: Int32) async throws {
    let codec = try await Codec.allTypes()
    let message = try codec.compiled(#"{"fTime": "\#(input)"}"#)
    #expect(message.fTime?.seconds == seconds)
    #expect(message.fTime?.nanos == nanos)
    #expect(try codec.json(of: message) == #"{"fTime":"\#(output)"}"#)
  }

  @Test(
    "malformed or out-of-range timestamps are rejected",
    arguments: [
      "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-05-01 12:30:00Z", "2024-05-01T12:30:00",
      "2024-05-01T12:30:00.Z", "2024-05-01T12:30:00.1234567890Z", "2024-05-01T24:00:00Z", "0000-12-31T00:00:00Z",
      "9999-12-31T23:59:59-01:00",
    ])
  func badTimestamps(input: String) async throws {
    let codec = try await Codec.allTypes()
    let error = try #require(codec.error(#"{"fTime": "\#(input)"}"#))
    #expect(error.hasPrefix("fTime: "), "\(error)")
    #expect(codec.error(#"{"fTime": 0}"#) == "fTime: expected an RFC 3339 string for google.protobuf.Timestamp, got a number")
  }

  @Test("Duration is seconds with an s suffix and 0, 3, 6 or 9 fractional digits")
  func durations() async throws {
    let catalog = try await TestSchemas.catalog(for: "emporium.rpc.v1.EchoRequest")
    let codec = Codec(catalog: catalog, typeName: "emporium.rpc.v1.EchoRequest")
    let cases: [(String, String, Int64, Int32)] = [
      ("1.5s", "1.500s", 1, 500_000_000), ("3s", "3s", 3, 0), ("-0.25s", "-0.250s", 0, -250_000_000),
      ("-2.000000001s", "-2.000000001s", -2, -1), ("0.000010s", "0.000010s", 0, 10_000), ("0s", "0s", 0, 0),
      ("315576000000s", "315576000000s", 315_576_000_000, 0),
    ]
    for (input, output, seconds, nanos) in cases {
      let bytes = try codec.encode(#"{"responseDelay": "\#(input)"}"#)
      let request = try RpcV1.EchoRequest(serializedBytes: bytes)
      #expect(request.responseDelay?.seconds == seconds, "\(input)")
      #expect(request.responseDelay?.nanos == nanos, "\(input)")
      #expect(try codec.decode(bytes) == #"{"responseDelay":"\#(output)"}"#)
    }
    for bad in ["1.5", "s", "1.s", "+1s", "1.0000000001s", "315576000001s", "1e3s", " 1s"] {
      #expect(codec.error(#"{"responseDelay": "\#(bad)"}"#)?.hasPrefix("responseDelay: ") == true, "\(bad)")
    }
  }

  @Test("Struct, Value, ListValue, wrappers and FieldMask use their special forms")
  func dynamicWellKnownTypes() throws {
    let catalog = Self.wellKnownCatalog
    let codec = Codec(catalog: catalog, typeName: "test.Holder")
    let json = #"{"s":{"a":[1,"x",null,true,{"b":{}}],"c":-2.5},"v":null,"w":"5","m":"fooBar,a.bC","b":"","l":[{}]}"#
    #expect(try codec.roundTrip(json) == json)
    #expect(try codec.roundTrip(#"{"v":{"k":[]}}"#) == #"{"v":{"k":[]}}"#)
    #expect(try codec.roundTrip(#"{"w":0}"#) == #"{"w":"0"}"#)
    #expect(try codec.roundTrip(#"{"v":"NaN"}"#) == #"{"v":"NaN"}"#)  // a string Value, not a number
    #expect(codec.error(#"{"s":[1]}"#) == "s: expected an object for google.protobuf.Struct, got an array")
    // FieldMask paths travel in snake_case.
    let message = try ProtoJSONDecoder(catalog: catalog).decode(text: #"{"m":"fooBar,a.bC"}"#, as: "test.Holder")
    guard case .single(.message(let mask))? = message.fields[4], case .list(let paths)? = mask.fields[1] else {
      Issue.record("no field mask in \(message)")
      return
    }
    #expect(paths == [.string("foo_bar"), .string("a.b_c")])
  }

  /// google.protobuf.Struct and friends as a newer server would describe them.
  static var wellKnownCatalog: SchemaCatalog {
    let value = MessageType(
      fullName: "google.protobuf.Value",
      fields: [
        MessageField(name: "null_value", number: 1, kind: .enumeration, typeName: "google.protobuf.NullValue", oneofName: "kind"),
        MessageField(name: "number_value", number: 2, kind: .double, oneofName: "kind"),
        MessageField(name: "string_value", number: 3, kind: .string, oneofName: "kind"),
        MessageField(name: "bool_value", number: 4, kind: .bool, oneofName: "kind"),
        MessageField(name: "struct_value", number: 5, kind: .message, typeName: "google.protobuf.Struct", oneofName: "kind"),
        MessageField(name: "list_value", number: 6, kind: .message, typeName: "google.protobuf.ListValue", oneofName: "kind"),
      ])
    let structure = MessageType(
      fullName: "google.protobuf.Struct",
      fields: [
        MessageField(name: "fields", number: 1, label: .map, kind: .message, typeName: "google.protobuf.Value", mapKeyKind: .string)
      ])
    let list = MessageType(
      fullName: "google.protobuf.ListValue",
      fields: [MessageField(name: "values", number: 1, label: .repeated, kind: .message, typeName: "google.protobuf.Value")])
    let int64Value = MessageType(fullName: "google.protobuf.Int64Value", fields: [MessageField(name: "value", number: 1, kind: .int64)])
    let bytesValue = MessageType(fullName: "google.protobuf.BytesValue", fields: [MessageField(name: "value", number: 1, kind: .bytes)])
    let mask = MessageType(
      fullName: "google.protobuf.FieldMask", fields: [MessageField(name: "paths", number: 1, label: .repeated, kind: .string)])
    let holder = MessageType(
      fullName: "test.Holder",
      fields: [
        MessageField(name: "s", number: 1, kind: .message, typeName: "google.protobuf.Struct"),
        MessageField(name: "v", number: 2, kind: .message, typeName: "google.protobuf.Value"),
        MessageField(name: "w", number: 3, kind: .message, typeName: "google.protobuf.Int64Value"),
        MessageField(name: "m", number: 4, kind: .message, typeName: "google.protobuf.FieldMask"),
        MessageField(name: "b", number: 5, kind: .message, typeName: "google.protobuf.BytesValue"),
        MessageField(name: "l", number: 6, kind: .message, typeName: "google.protobuf.ListValue"),
      ])
    let null = EnumType(fullName: "google.protobuf.NullValue", values: [.init(name: "NULL_VALUE", number: 0)])
    return SchemaCatalog(messages: [value, structure, list, int64Value, bytesValue, mask, holder], enums: [null])
  }
}
