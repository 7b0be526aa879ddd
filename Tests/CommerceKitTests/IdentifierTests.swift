import CommerceKit
import Foundation
import Testing

@Suite struct IdentifierTests {
  @Test func anIDInEitherCaseReadsAsTheUUIDItNames() {
    for _ in 0..<500 {
      let uuid = UUID()
      #expect(UUID(id: uuid.uuidString) == uuid)
      #expect(UUID(id: uuid.lowercasedString) == uuid)
    }
    #expect(UUID(id: "00000000-0000-0000-0000-000000000000") == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
    #expect(
      UUID(id: "ffffffff-FFFF-ffff-FFFF-ffffffffffff")
        == UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)))
    #expect(UUID(id: "01234567-89ab-cdef-0123-456789ABCDEF")?.uuidString == "01234567-89AB-CDEF-0123-456789ABCDEF")
  }

  @Test func anythingButTheThirtySixCharacterFormIsNoID() {
    let valid = "01234567-89ab-cdef-0123-456789abcdef"
    #expect(UUID(id: valid) != nil)
    for invalid in [
      "", String(valid.dropLast()), valid + "0", "{" + valid.dropFirst().dropLast() + "}",
      "0123456789ab-cdef-0123-456789abcdef0", "01234567-89ab-cdef-0123-456789abcdeg", "01234567-89ab-cdef-0123_456789abcdef",
      "+1234567-89ab-cdef-0123-456789abcdef", "01234567-+9ab-cdef-0123-456789abcdef", " 1234567-89ab-cdef-0123-456789abcdef",
      "0x234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdé",
    ] {
      #expect(UUID(id: invalid) == nil, "\(invalid)")
    }
  }
}
