import Messages
import Testing

@testable import ProtoJSON

@Suite("proto3 JSON: scalar kinds")
struct ScalarMappingTests {
  @Test("every scalar kind round-trips, 64-bit integers as strings, and protobuf-c reads the same values")
  func everyScalarKind() async throws {
    let codec = try await Codec.allTypes()
    let json = """
      {"fDouble":1.5,"fFloat":0.25,"fInt32":-42,"fInt64":"-9223372036854775808","fUint32":4294967295,\
      "fUint64":"18446744073709551615","fSint32":-2147483648,"fSint64":"-5","fFixed32":7,\
      "fFixed64":"18446744073709551615","fSfixed32":-7,"fSfixed64":"-9223372036854775807","fBool":true,\
      "fString":"h\u{e9}llo \\"q\\"\\n","fBytes":"AAEC/w==","fColor":"COLOR_DARK_GREEN"}
      """
    #expect(try codec.roundTrip(json) == json)
    let message = try codec.compiled(json)
    #expect(message.fDouble == 1.5)
    #expect(message.fFloat == 0.25)
    #expect(message.fInt32 == -42)
    #expect(message.fInt64 == Int64.min)
    #expect(message.fUint32 == UInt32.max)
    #expect(message.fUint64 == UInt64.max)
    #expect(message.fSint32 == Int32.min)
    #expect(message.fSint64 == -5)
    #expect(message.fFixed32 == 7)
    #expect(message.fFixed64 == UInt64.max)
    #expect(message.fSfixed32 == -7)
    #expect(message.fSfixed64 == -Int64.max)
    #expect(message.fBool)
    #expect(message.fString == "héllo \"q\"\n")
    #expect(message.fBytes == [0, 1, 2, 255])
    #expect(message.fColor == .darkGreen)
  }

  @Test("64-bit integers given as JSON numbers keep every digit")
  func sixtyFourBitNumbersKeepPrecision() async throws {
    let codec = try await Codec.allTypes()
    // 2^53 + 1 is not representable as a Double.
    let message = try codec.compiled(#"{"fInt64": 9007199254740993, "fUint64": 18446744073709551615, "rInt64": [-1, "2"]}"#)
    #expect(message.fInt64 == 9_007_199_254_740_993)
    #expect(message.fUint64 == UInt64.max)
    #expect(message.rInt64 == [-1, 2])
    #expect(try codec.json(of: message) == #"{"fInt64":"9007199254740993","fUint64":"18446744073709551615","rInt64":["-1","2"]}"#)
  }

  @Test("integers may be strings or written with a fraction or exponent when integral")
  func integerForms() async throws {
    let codec = try await Codec.allTypes()
    let message = try codec.compiled(#"{"fInt32": "12", "fUint32": 1e3, "fInt64": "1.0e2", "fSint32": -0.0, "fFixed32": 2.50e1}"#)
    #expect(message.fInt32 == 12)
    #expect(message.fUint32 == 1000)
    #expect(message.fInt64 == 100)
    #expect(message.fSint32 == 0)
    #expect(message.fFixed32 == 25)
  }

  @Test(
    "integers out of range or not integral are rejected with the field and the range",
    arguments: [
      (#"{"fInt32": 2147483648}"#, "fInt32: 2147483648 is out of range for int32"),
      (#"{"fInt32": -2147483649}"#, "fInt32: -2147483649 is out of range for int32"),
      (#"{"fUint32": -1}"#, "fUint32: -1 is out of range for uint32"),
      (#"{"fUint64": "18446744073709551616"}"#, "fUint64: 18446744073709551616 is out of range for uint64"),
      (#"{"fInt64": "9223372036854775808"}"#, "fInt64: 9223372036854775808 is out of range for int64"),
      (#"{"fInt32": 1.5}"#, "fInt32: 1.5 is not an integer (int32)"),
      (#"{"fInt32": "12abc"}"#, "fInt32: '12abc' is not an integer (int32)"),
      (#"{"fInt32": true}"#, "fInt32: expected an integer (number or string) for int32, got a boolean"),
    ])
  func integerErrors(json: String, message: String) async throws {
    let codec = try await Codec.allTypes()
    #expect(codec.error(json)?.hasPrefix(message) == true, "\(codec.error(json) ?? "no error")")
  }

  @Test("floats accept NaN, Infinity and -Infinity as strings and write them back the same way")
  func specialFloatingPointValues() async throws {
    let codec = try await Codec.allTypes()
    let json = #"{"fDouble":"NaN","fFloat":"-Infinity","rDouble":["Infinity",-0.5,1e-7],"rFloat":[3,"0.1"]}"#
    let message = try codec.compiled(json)
    #expect(message.fDouble.isNaN)
    #expect(message.fFloat == -.infinity)
    #expect(message.rDouble == [.infinity, -0.5, 1e-7])
    #expect(message.rFloat == [3, 0.1])
    #expect(try codec.roundTrip(json) == #"{"fDouble":"NaN","fFloat":"-Infinity","rDouble":["Infinity",-0.5,1e-07],"rFloat":[3,0.1]}"#)
  }

  @Test("a float beyond float's range is rejected; a double beyond double's too")
  func floatingPointRange() async throws {
    let codec = try await Codec.allTypes()
    #expect(codec.error(#"{"fFloat": 1e39}"#) == "fFloat: 1e+39 is out of range for float")
    #expect(codec.error(#"{"fDouble": 1e400}"#) == "fDouble: 1e400 is out of range for double")
    #expect(codec.error(#"{"fDouble": "nan"}"#) == "fDouble: 'nan' is not a number (double)")
  }

  @Test("bytes accept standard and URL-safe base64, padded or not, and are written standard and padded")
  func bytesBase64() async throws {
    let codec = try await Codec.allTypes()
    for input in ["+/8=", "+/8", "-_8=", "-_8"] {
      let message = try codec.compiled(#"{"fBytes": "\#(input)"}"#)
      #expect(message.fBytes == [0xFB, 0xFF], "\(input)")
      #expect(try codec.json(of: message) == #"{"fBytes":"+/8="}"#)
    }
    #expect(try codec.compiled(#"{"rBytes": ["", "YQ==", "YWI", "YWJj"]}"#).rBytes == [[], [0x61], [0x61, 0x62], [0x61, 0x62, 0x63]])
    #expect(codec.error(#"{"fBytes": "a!b="}"#) == "fBytes: 'a!b=' is not valid base64")
    #expect(codec.error(#"{"fBytes": "abcde"}"#) == "fBytes: 'abcde' is not valid base64")
  }

  @Test("strings and booleans must have their JSON types")
  func typeMismatches() async throws {
    let codec = try await Codec.allTypes()
    #expect(codec.error(#"{"fString": 5}"#) == "fString: expected a string, got a number")
    #expect(codec.error(#"{"fBool": "true"}"#) == "fBool: expected true or false, got a string")
    #expect(codec.error(#"{"fItem": []}"#) == "fItem: expected an object for emporium.testing.v1.Item, got an array")
    #expect(codec.error(#"{"rInt32": 5}"#) == "rInt32: expected an array for repeated field 'r_int32', got a number")
  }
}
