import Messages
import Testing

@testable import ProtoJSON

@Suite("proto3 JSON: messages, lists, maps and field names")
struct MessageMappingTests {
  @Test("maps with string, integer, boolean and unsigned keys; written sorted by key")
  func maps() async throws {
    let codec = try await Codec.allTypes()
    let json = """
      {"mInt32Item":{"2":{"values":[1,2]},"-1":{"name":"neg"}},"mBoolString":{"true":"yes","false":"no"},\
      "mUint64Color":{"18446744073709551615":"COLOR_RED"},"mStringInt64":{"b":"2","a":1},"mStringBytes":{"k":"AQI="}}
      """
    let message = try codec.compiled(json)
    #expect(message.mInt32Item == [2: .with { $0.values = [1, 2] }, -1: .with { $0.name = "neg" }])
    #expect(message.mBoolString == [true: "yes", false: "no"])
    #expect(message.mUint64Color == [UInt64.max: .red])
    #expect(message.mStringInt64 == ["a": 1, "b": 2])
    #expect(message.mStringBytes == ["k": [1, 2]])
    #expect(
      try codec.json(of: message)
        == #"{"mStringInt64":{"a":"1","b":"2"},"mInt32Item":{"-1":{"name":"neg"},"2":{"values":[1,2]}},"mBoolString":{"false":"no","true":"yes"},"mUint64Color":{"18446744073709551615":"COLOR_RED"},"mStringBytes":{"k":"AQI="}}"#
    )
  }

  @Test("map keys must parse as the key type; a key may not repeat")
  func badMapKeys() async throws {
    let codec = try await Codec.allTypes()
    #expect(codec.error(#"{"mBoolString": {"yes": "a"}}"#) == #"mBoolString["yes"]: map key 'yes' is not true or false"#)
    #expect(codec.error(#"{"mInt32Item": {"x": {}}}"#) == #"mInt32Item["x"]: 'x' is not an integer (int32)"#)
    #expect(codec.error(#"{"mInt32Item": {"1": {}, "1.0": {}}}"#) == #"mInt32Item["1.0"]: map key appears twice"#)
    #expect(codec.error(#"{"mStringInt64": {"a": null}}"#) == #"mStringInt64["a"]: null is not allowed as a map value"#)
  }

  @Test("nested and repeated messages, with the path of a bad value in the error")
  func nestedMessages() async throws {
    let codec = try await Codec.allTypes()
    let json = #"{"fItem":{"name":"n","values":[1,-2]},"rItem":[{"name":"a"},{},{"values":[3]}]}"#
    #expect(try codec.roundTrip(json) == json)
    let message = try codec.compiled(json)
    #expect(message.fItem == .with {
      $0.name = "n"
      $0.values = [1, -2]
    })
    #expect(message.rItem.count == 3)
    #expect(codec.error(#"{"rItem":[{},{"values":[1,"x"]}]}"#) == "rItem[1].values[1]: 'x' is not an integer (int32)")
    #expect(codec.error(#"{"rInt32":[1,null]}"#) == "rInt32[1]: null is not allowed in a list")
  }

  @Test("original proto names are accepted; output uses lowerCamelCase JSON names")
  func originalNames() async throws {
    let codec = try await Codec.allTypes()
    #expect(
      try codec.roundTrip(#"{"f_int32":1,"r_string":["a"],"m_string_int64":{"k":"5"},"o_text":"x","f_item":{"name":"i"}}"#)
        == #"{"fInt32":1,"fItem":{"name":"i"},"rString":["a"],"mStringInt64":{"k":"5"},"oText":"x"}"#)
    #expect(codec.error(#"{"fInt32":1,"f_int32":2}"#) == "field 'f_int32' appears twice (as 'fInt32' and 'f_int32')")
    #expect(codec.error(#"{"fInt32":1,"fInt32":2}"#) == "field 'fInt32' appears twice")
  }

  @Test("an unknown field is an error that names it and lists the valid field names")
  func unknownField() async throws {
    let codec = try await Codec.allTypes()
    let error = try #require(codec.error(#"{"fInt33": 1}"#))
    #expect(error.hasPrefix("unknown field 'fInt33' in emporium.testing.v1.AllTypes (did you mean 'fInt32'?); valid fields: fDouble, fFloat, fInt32, fInt64,"))
    #expect(error.hasSuffix("oNumber, oColor, oBytes"))
    #expect(codec.error(#"{"fItem": {"label": "x"}}"#) == "fItem: unknown field 'label' in emporium.testing.v1.Item; valid fields: name, values")
  }

  @Test("zero values of fields without presence are omitted on output and on the wire")
  func defaultsOmitted() async throws {
    let codec = try await Codec.allTypes()
    let zeros = """
      {"fDouble":0,"fInt32":0,"fInt64":"0","fString":"","fBool":false,"fBytes":"","fColor":"COLOR_UNSPECIFIED",\
      "rInt32":[],"mStringInt64":{},"fItem":null,"fTime":null}
      """
    #expect(try codec.encode(zeros).isEmpty)
    #expect(try codec.roundTrip(zeros) == "{}")
    // Messages have presence: an empty one is kept.
    #expect(try codec.roundTrip(#"{"fItem":{}}"#) == #"{"fItem":{}}"#)
    // -0.0 is not the zero value (its bits differ), as in protobuf.
    #expect(try codec.roundTrip(#"{"fDouble":-0.0}"#) == #"{"fDouble":-0}"#)
  }

  @Test("--emit-defaults writes zero values of fields without presence, never unset messages or oneofs")
  func emitDefaults() async throws {
    var codec = try await Codec.allTypes()
    codec.emitDefaults = true
    let output = try codec.roundTrip("{}")
    for expected in [
      #""fDouble":0"#, #""fInt32":0"#, #""fInt64":"0""#, #""fUint64":"0""#, #""fBool":false"#, #""fString":"""#,
      #""fBytes":"""#, #""fColor":"COLOR_UNSPECIFIED""#, #""rInt32":[]"#, #""mStringInt64":{}"#,
    ] {
      #expect(output.contains(expected), "\(expected) in \(output)")
    }
    for absent in ["fItem", "fTime", "oText", "oItem", "oNumber"] {
      #expect(!output.contains("\"\(absent)\""), "\(absent) in \(output)")
    }
  }

  @Test("decoding accepts unpacked repeated numbers, skips unknown fields and rejects truncated input")
  func wireDecoding() async throws {
    let codec = try await Codec.allTypes()
    // r_int32 (23) unpacked: tag 23<<3|0 = 184 = 0xB8 0x01.
    #expect(try codec.decode([0xB8, 0x01, 0x05, 0xB8, 0x01, 0x06]) == #"{"rInt32":[5,6]}"#)
    // Field 99 (varint) is unknown to the schema.
    #expect(try codec.decode([0x98, 0x06, 0x01, 0x18, 0x07]) == #"{"fInt32":7}"#)
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x72, 0x05, 0x61]) }  // f_string claims 5 bytes, has 1
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x18]) }  // f_int32 without its value
  }

  @Test("what protobuf-c encodes decodes to the same JSON the encoder started from")
  func fromCompiledBindings() async throws {
    let codec = try await Codec.allTypes()
    var message = TestingV1.AllTypes()
    message.fSint64 = -1
    message.rUint32 = [1, 4_294_967_295]
    message.rSfixed64 = [Int64.min]
    message.rBool = [true, false]
    message.mInt32Item = [7: .with { $0.name = "seven" }]
    message.fTime = .with {
      $0.seconds = 1_700_000_000
      $0.nanos = 5_000
    }
    let json = try codec.json(of: message)
    #expect(
      json
        == #"{"fSint64":"-1","fTime":"2023-11-14T22:13:20.000005Z","rUint32":[1,4294967295],"rSfixed64":["-9223372036854775808"],"rBool":[true,false],"mInt32Item":{"7":{"name":"seven"}}}"#
    )
    #expect(try codec.compiled(json) == message)
  }

  @Test("a JSON value that is not an object cannot be a message")
  func topLevelMustBeObject() async throws {
    let codec = try await Codec.allTypes()
    #expect(codec.error("[1]") == "expected an object for emporium.testing.v1.AllTypes, got an array")
    #expect(codec.error("{") == "invalid JSON at line 1, column 2: expected a member name in double quotes")
  }
}
