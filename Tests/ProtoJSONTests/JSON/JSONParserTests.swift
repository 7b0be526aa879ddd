import Testing

@testable import ProtoJSON

@Suite("JSON parser and writer")
struct JSONParserTests {
  @Test("numbers keep their text; strings decode escapes and surrogate pairs")
  func values() throws {
    let value = try JSONParser.parse(#" {"a": [1, -0.5e+3, 18446744073709551616], "b": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "c": null, "d": true} "#)
    #expect(
      value
        == .object([
          JSONMember("a", .array([.number("1"), .number("-0.5e+3"), .number("18446744073709551616")])),
          JSONMember("b", .string("x\"\\/\u{08}\u{0C}\n\r\té😀")),
          JSONMember("c", .null),
          JSONMember("d", .bool(true)),
        ]))
  }

  @Test(
    "invalid JSON is rejected with the line and column",
    arguments: [
      ("{\"a\": 01}", "invalid JSON at line 1, column 8: leading zeros are not allowed in numbers"),
      ("{\"a\": 1,}", "invalid JSON at line 1, column 9: expected a member name in double quotes"),
      ("{\n  \"a\": tru\n}", "invalid JSON at line 2, column 8: unexpected characters; did you mean 'true'?"),
      ("[1 2]", "invalid JSON at line 1, column 4: expected ',' or ']' in array"),
      ("\"a\tb\"", "invalid JSON at line 1, column 3: control character 0x9 in string; escape it"),
      ("\"\\ud800\"", "invalid JSON at line 1, column 8: unpaired surrogate \\ud800"),
      ("{'a': 1}", "invalid JSON at line 1, column 2: expected a member name in double quotes"),
      ("1.", "invalid JSON at line 1, column 3: expected a digit after '.'"),
      ("", "invalid JSON at line 1, column 1: no value"),
    ])
  func syntaxErrors(text: String, message: String) {
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    do {
      _ = try JSONParser.parse(text)
    } catch {
      #expect(error.description == message)
    }
  }

  @Test("nesting deeper than the limit is rejected instead of exhausting the stack")
  func depthLimit() throws {
    let ok = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
    _ = try JSONParser.parse(ok)
    let deep = String(repeating: "[", count: 100_000)
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
  }

  @Test("a text may hold several values separated by whitespace")
  func severalValues() throws {
    var parser = JSONParser("{\"a\":1}\n{}  [] 3")
    #expect(try parser.parseAll() == [.object([JSONMember("a", .number("1"))]), .object([]), .array([]), .number("3")])
    var glued = JSONParser("{}{}")
    #expect(throws: JSONSyntaxError.self) { try glued.parseAll() }
  }

  @Test("the writer escapes what JSON requires and writes compact or indented text")
  func writer() throws {
    let value = JSONValue.object([
      JSONMember("s", .string("q\"\\\n\u{01}\u{7F}é")), JSONMember("a", .array([.number("1"), .object([])])),
      JSONMember("e", .array([])),
    ])
    #expect(JSONWriter.write(value) == #"{"s":"q\"\\\n\u0001\u007fé","a":[1,{}],"e":[]}"#)
    #expect(JSONWriter.write(value, pretty: true) == """
      {
        "s": "q\\"\\\\\\n\\u0001\\u007fé",
        "a": [
          1,
          {}
        ],
        "e": []
      }
      """)
    #expect(try JSONParser.parse(JSONWriter.write(value)) == value)
  }
}
