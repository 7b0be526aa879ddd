import NIOCore
import Testing

@testable import RPC

@Suite("Metadata keys and values")
struct MetadataTests {
  @Test("keys are found whatever their case, and stored lower-case")
  func keysIgnoreCase() {
    var metadata = Metadata()
    metadata.add("Authorization", "Bearer a")
    metadata.add("x-on-behalf-of", "b")
    #expect(metadata.entries.map(\.key) == ["authorization", "x-on-behalf-of"])
    #expect(metadata["authorization"] == "Bearer a")
    #expect(metadata["AUTHORIZATION"] == "Bearer a")
    #expect(metadata["X-On-Behalf-Of"] == "b")
    metadata.remove("X-ON-BEHALF-OF")
    #expect(metadata["x-on-behalf-of"] == nil)
  }

  @Test("text values are printable ASCII, checked the same on contiguous and other bytes")
  func textValidation() {
    let long = String(repeating: "eyJhbGciOiJFZERTQSJ9.", count: 20)
    for (value, valid) in [(long, true), ("", true), (" ~", true), (long + "\u{7F}", false), ("\t" + long, false), (long + "é", false)] {
      #expect(Metadata.isValidText(value.utf8) == valid)
      #expect(Metadata.isValidText(ByteBuffer(string: value).readableBytesView) == valid)
      #expect(Metadata.isValidText(Array(value.utf8).lazy.map { $0 }) == valid)
    }
  }
}
