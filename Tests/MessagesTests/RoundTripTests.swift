import Messages
import NIOCore
import Testing

@Suite("Round trips through protobuf-c")
struct RoundTripTests {
  private func roundTrip<M: ProtoMessage>(_ message: M) throws -> M {
    var buffer = ByteBuffer()
    try message.encode(into: &buffer)
    return try M(decoding: buffer)
  }

  private static func item(_ name: String, _ values: [Int32] = []) -> TestingV1.Item {
    .with {
      $0.name = name
      $0.values = values
    }
  }

  private static func everyField() -> TestingV1.AllTypes {
    .with {
      $0.fDouble = -1.5e300
      $0.fFloat = 3.25
      $0.fInt32 = .min
      $0.fInt64 = .min
      $0.fUint32 = .max
      $0.fUint64 = .max
      $0.fSint32 = -123_456
      $0.fSint64 = .min
      $0.fFixed32 = 0xDEAD_BEEF
      $0.fFixed64 = .max
      $0.fSfixed32 = -7
      $0.fSfixed64 = .min
      $0.fBool = true
      $0.fString = "Grüße, 世界 🛒"
      $0.fBytes = [0, 1, 0xFF, 0, 0x80]
      $0.fItem = item("nested", [1, -1, .max])
      $0.fColor = .darkGreen
      $0.fTime = .with {
        $0.seconds = 1_795_000_000
        $0.nanos = 999_999_999
      }
      $0.rDouble = [0, -0.25, .infinity, -.infinity, .greatestFiniteMagnitude]
      $0.rFloat = [1, -1, .leastNonzeroMagnitude]
      $0.rInt32 = [0, -1, .max, .min]
      $0.rInt64 = [0, -1, .max, .min]
      $0.rUint32 = [0, 1, .max]
      $0.rUint64 = [0, 1, .max]
      $0.rSint32 = [-1, 1, .min, .max]
      $0.rSint64 = [-1, 1, .min, .max]
      $0.rFixed32 = [0, .max]
      $0.rFixed64 = [0, .max]
      $0.rSfixed32 = [.min, .max]
      $0.rSfixed64 = [.min, .max]
      $0.rBool = [true, false, true]
      $0.rString = ["", "a", "ü", String(repeating: "long ", count: 100)]
      $0.rBytes = [[], [0], [1, 2, 3]]
      $0.rItem = [item("a"), TestingV1.Item(), item("c", [3])]
      $0.rColor = [.red, .negative, .unspecified, .unrecognized(42)]
      $0.mStringInt64 = ["one": 1, "": -1, "max": .max]
      $0.mInt32Item = [1: item("x"), -5: TestingV1.Item(), 7: item("y", [9])]
      $0.mBoolString = [true: "yes", false: ""]
      $0.mUint64Color = [.max: .red, 0: .unrecognized(-9)]
      $0.mStringBytes = ["k": [0, 0, 0], "empty": []]
      $0.choice = .oItem(item("chosen"))
    }
  }

  @Test("every field kind survives encode and decode")
  func everyFieldKind() throws {
    let message = Self.everyField()
    #expect(try roundTrip(message) == message)
  }

  @Test("each oneof member round-trips, and an empty member keeps its presence")
  func oneofMembers() throws {
    let choices: [TestingV1.AllTypes.Choice] = [
      .oText(""), .oText("text"), .oItem(TestingV1.Item()), .oItem(Self.item("i")), .oNumber(0),
      .oNumber(.min), .oColor(.unspecified), .oColor(.unrecognized(77)), .oBytes([]), .oBytes([0, 9]),
    ]
    for choice in choices {
      var message = TestingV1.AllTypes()
      message.choice = choice
      let decoded = try roundTrip(message)
      #expect(decoded.choice == choice, "\(choice)")
    }
    #expect(try roundTrip(TestingV1.AllTypes()).choice == nil)
  }

  @Test("a default message encodes to zero bytes and decodes back to the default")
  func defaults() throws {
    var buffer = ByteBuffer()
    try TestingV1.AllTypes().encode(into: &buffer)
    #expect(buffer.readableBytes == 0)
    #expect(try TestingV1.AllTypes(decoding: buffer) == TestingV1.AllTypes())
  }

  @Test("encoding matches the protobuf wire format byte for byte")
  func knownBytes() throws {
    // Item{name: "a", values: [1, 150]}: field 1 string, field 2 packed varints.
    let bytes = try Self.item("a", [1, 150]).serializedBytes()
    #expect(bytes == [0x0A, 0x01, 0x61, 0x12, 0x03, 0x01, 0x96, 0x01])
    // sint32 -1 zig-zags to 1; a negative int32 takes ten bytes; enum -1 likewise.
    var message = TestingV1.AllTypes()
    message.fSint32 = -1
    #expect(try message.serializedBytes() == [0x38, 0x01])
    message = TestingV1.AllTypes()
    message.fInt32 = -1
    #expect(try message.serializedBytes() == [0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    // Decoding accepts unpacked repeated scalars too, as every proto3 parser must.
    let unpacked: [UInt8] = [0x10, 0x05, 0x10, 0x06]
    #expect(try TestingV1.Item(serializedBytes: unpacked).values == [5, 6])
  }

  @Test("encode appends to what the buffer already holds")
  func appends() throws {
    var buffer = ByteBuffer(bytes: [0xAA, 0xBB])
    try Self.item("z").encode(into: &buffer)
    #expect(buffer.readBytes(length: 2) == [0xAA, 0xBB])
    #expect(try TestingV1.Item(decoding: buffer) == Self.item("z"))
  }

  @Test("a recursive message round-trips at any depth within the limit")
  func recursion() throws {
    var node = TestingV1.Node()
    node.label = "leaf"
    for level in 0..<60 {
      var parent = TestingV1.Node()
      parent.label = "level \(level)"
      if level.isMultiple(of: 3) {
        parent.child = node
      } else if level.isMultiple(of: 3 - 1) {
        parent.link = .linked(node)
      } else {
        parent.children = [node, TestingV1.Node()]
      }
      node = parent
    }
    #expect(try roundTrip(node) == node)
  }

  @Test("unknown fields are kept and encoded again")
  func unknownFields() throws {
    // Item's field 1, then fields 99 (varint), 100 (length-delimited), 101 (fixed32): unknown.
    let bytes: [UInt8] = [0x0A, 0x01, 0x61, 0x98, 0x06, 0x2A, 0xA2, 0x06, 0x02, 0x68, 0x69, 0xAD, 0x06, 1, 2, 3, 4]
    let item = try TestingV1.Item(serializedBytes: bytes)
    #expect(item.name == "a")
    #expect(item.unknownFields.fields.map(\.number) == [99, 100, 101])
    #expect(item.unknownFields.fields[1].data == [0x02, 0x68, 0x69])  // length prefix, then content
    #expect(try item.serializedBytes() == bytes)
  }

  @Test("enum numbers unknown to the schema survive as .unrecognized")
  func unrecognizedEnum() throws {
    let bytes: [UInt8] = [0x88, 0x01, 0x09]  // f_color (17) = 9
    let message = try TestingV1.AllTypes(serializedBytes: bytes)
    #expect(message.fColor == .unrecognized(9))
    #expect(try message.serializedBytes() == bytes)
    #expect(TestingV1.AllTypes.Color(rawValue: -1) == .negative)
    #expect(TestingV1.AllTypes.Color.protoValueNames[2] == "COLOR_DARK_GREEN")
  }

  @Test("a string holding U+0000 is refused on encode and the buffer is left untouched")
  func nulInString() throws {
    var buffer = ByteBuffer(bytes: [1, 2, 3])
    let message = Self.item("a\u{0}b")
    #expect {
      try message.encode(into: &buffer)
    } throws: { error in
      (error as? ProtoError)?.code == .stringContainsNUL
    }
    #expect(buffer.readableBytes == 3)
  }

  @Test("a string field that is not UTF-8 is refused on decode")
  func invalidUTF8() {
    #expect {
      try TestingV1.Item(serializedBytes: [0x0A, 0x02, 0xC3, 0x28])
    } throws: { error in
      (error as? ProtoError)?.code == .invalidUTF8
    }
  }
}
