import Messages
import Testing

@testable import ProtoJSON

@Suite("wire codec against protobuf-c")
struct WireCodecTests {
  @Test("the dynamic encoder writes the same bytes as protobuf-c (field order, packing, varints, zigzag, fixed widths)")
  func sameBytesAsProtobufC() async throws {
    let codec = try await Codec.allTypes()
    let json = """
      {"fDouble":-1.25,"fFloat":3.5,"fInt32":-1,"fInt64":"-2","fUint32":300,"fUint64":"18446744073709551615","fSint32":-64,\
      "fSint64":"9223372036854775807","fFixed32":1,"fFixed64":"2","fSfixed32":-3,"fSfixed64":"-4","fBool":true,"fString":"✓",\
      "fBytes":"AP8=","fItem":{"name":"n","values":[-1,0,1]},"fColor":"COLOR_NEGATIVE","fTime":"2001-09-09T01:46:40.500Z",\
      "rDouble":[1,2],"rInt32":[1,-1,300],"rSint64":["-1","1"],"rFixed32":[7],"rBool":[true,false,true],"rString":["a",""],\
      "rBytes":["AQ=="],"rItem":[{"name":"x"},{}],"rColor":["COLOR_RED","COLOR_NEGATIVE"],"oItem":{"values":[5]}}
      """
    let compiled = try codec.compiled(json)
    #expect(try codec.encode(json) == compiled.serializedBytes())
    #expect(try codec.json(of: compiled) == json)
  }

  @Test("negative int32 values take ten bytes, as the protobuf spec requires")
  func negativeInt32() async throws {
    let codec = try await Codec.allTypes()
    #expect(try codec.encode(#"{"fInt32": -1}"#) == [0x18] + Array(repeating: 0xFF, count: 9) + [0x01])
    #expect(try codec.encode(#"{"fSint32": -1}"#) == [0x38, 0x01])
    #expect(try codec.encode(#"{"rInt32": [1, 2]}"#) == [0xBA, 0x01, 0x02, 0x01, 0x02])  // packed
  }

  @Test("an overlong varint, a bad wire type and groups are rejected")
  func malformedInput() async throws {
    let codec = try await Codec.allTypes()
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x18] + Array(repeating: 0xFF, count: 10) + [0x01]) }
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x1A, 0x00]) }  // f_int32 as length-delimited
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x0B]) }  // a group start
    #expect(throws: ProtoJSONError.self) { try codec.decode([0x00]) }  // field number 0
  }

  @Test("messages nested deeper than the limit are rejected, not recursed into")
  func depthLimit() async throws {
    let catalog = try await TestSchemas.catalog(for: "emporium.testing.v1.Node")
    let codec = Codec(catalog: catalog, typeName: "emporium.testing.v1.Node")
    var bytes: [UInt8] = []
    for _ in 0..<200 {  // child = 2, length-delimited
      var writer = WireWriter()
      writer.appendTag(2, .lengthDelimited)
      writer.appendLengthDelimited(bytes)
      bytes = writer.bytes
    }
    #expect(throws: ProtoJSONError.self) { try codec.decode(bytes) }
    #expect(try codec.roundTrip(#"{"child":{"child":{"label":"deep"}},"linked":{"note":"n"}}"#) == #"{"child":{"child":{"label":"deep"}},"linked":{"note":"n"}}"#)
  }

  @Test("singular message fields that repeat on the wire merge")
  func messagesMerge() async throws {
    let codec = try await Codec.allTypes()
    let first = try codec.encode(#"{"fItem": {"name": "a", "values": [1]}}"#)
    let second = try codec.encode(#"{"fItem": {"values": [2]}}"#)
    #expect(try codec.decode(first + second) == #"{"fItem":{"name":"a","values":[1,2]}}"#)
  }
}
