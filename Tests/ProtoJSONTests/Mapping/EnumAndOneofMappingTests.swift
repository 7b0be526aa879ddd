import Messages
import Testing

@testable import ProtoJSON

@Suite("proto3 JSON: enums and oneofs")
struct EnumAndOneofMappingTests {
  @Test("enums are read by name or number and written by name; unknown numbers stay numbers")
  func enumForms() async throws {
    let codec = try await Codec.allTypes()
    let message = try codec.compiled(#"{"fColor": 1, "rColor": ["COLOR_NEGATIVE", -1, 2, 7]}"#)
    #expect(message.fColor == .red)
    #expect(message.rColor == [.negative, .negative, .darkGreen, .unrecognized(7)])
    #expect(try codec.json(of: message) == #"{"fColor":"COLOR_RED","rColor":["COLOR_NEGATIVE","COLOR_NEGATIVE","COLOR_DARK_GREEN",7]}"#)
  }

  @Test("an unknown enum name is an error that names it and lists the valid values")
  func unknownEnumName() async throws {
    let codec = try await Codec.allTypes()
    let error = try #require(codec.error(#"{"fColor": "COLOR_BLUE"}"#))
    #expect(
      error
        == "fColor: unknown value 'COLOR_BLUE' for enum emporium.testing.v1.AllTypes.Color; valid values: COLOR_UNSPECIFIED, COLOR_RED, COLOR_DARK_GREEN, COLOR_NEGATIVE"
    )
    #expect(codec.error(#"{"mUint64Color": {"1": "GREEN"}}"#)?.hasPrefix(#"mUint64Color["1"]: unknown value 'GREEN'"#) == true)
    #expect(codec.error(#"{"fColor": "COLOR_REDD"}"#)?.contains("(did you mean 'COLOR_RED'?)") == true)
    #expect(codec.error(#"{"fColor": 1.5}"#)?.contains("is not a valid enum number") == true)
  }

  @Test("two members of one oneof are an error naming both")
  func twoOneofMembers() async throws {
    let codec = try await Codec.allTypes()
    #expect(
      codec.error(#"{"oText": "a", "oNumber": "1"}"#)
        == "oneof 'choice' has more than one member set: 'oText' and 'oNumber'; set at most one of oText, oItem, oNumber, oColor, oBytes"
    )
    #expect(codec.error(#"{"o_item": {}, "oColor": "COLOR_RED"}"#)?.contains("'o_item' and 'oColor'") == true)
  }

  @Test("a oneof member set to its zero value is kept; null means not set")
  func oneofPresence() async throws {
    let codec = try await Codec.allTypes()
    #expect(try codec.compiled(#"{"oText": ""}"#).choice == .oText(""))
    #expect(try codec.roundTrip(#"{"oText": ""}"#) == #"{"oText":""}"#)
    #expect(try codec.roundTrip(#"{"oNumber": 0}"#) == #"{"oNumber":"0"}"#)
    #expect(try codec.roundTrip(#"{"oColor": "COLOR_UNSPECIFIED"}"#) == #"{"oColor":"COLOR_UNSPECIFIED"}"#)
    #expect(try codec.roundTrip(#"{"oItem": {}}"#) == #"{"oItem":{}}"#)
    #expect(try codec.compiled(#"{"oText": null, "oNumber": "3"}"#).choice == .oNumber(3))
    #expect(try codec.json(of: .with { $0.choice = .oBytes([1]) }) == #"{"oBytes":"AQ=="}"#)
  }

  @Test("the last oneof member on the wire wins")
  func lastOneofMemberWins() async throws {
    let codec = try await Codec.allTypes()
    let text = try codec.encode(#"{"oText": "first"}"#)
    let number = try codec.encode(#"{"oNumber": "9"}"#)
    #expect(try codec.decode(text + number) == #"{"oNumber":"9"}"#)
    #expect(try codec.decode(number + text) == #"{"oText":"first"}"#)
  }
}
