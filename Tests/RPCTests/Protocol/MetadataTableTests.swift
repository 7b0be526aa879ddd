import Messages
import NIOCore
import RPCTestSupport
import Synchronization
import Testing

@testable import RPC

/// The metadata table (docs/PROTOCOL.md §7.1): credentials stored once per connection and named
/// by slot afterwards.
@Suite("Metadata table")
struct MetadataTableTests {
  static let path = "/emporium.rpc.v1.EchoService/Echo"

  static func metadata(token: String, requestID: String = "r1") -> Metadata {
    var metadata = Metadata()
    metadata.add("authorization", "Bearer " + token)
    metadata.add("x-request-id", requestID)
    return metadata
  }

  /// Encodes one call opening with `table` and returns its bytes.
  static func open(
    _ id: UInt32, _ metadata: Metadata, table: inout MetadataTableEncoder, headerLimit: Int = 1 << 14
  ) -> ByteBuffer {
    var buffer = ByteBuffer()
    FrameEncoder.writeCallOpen(
      callID: id, path: path, timeoutMicroseconds: nil, metadata: metadata, table: &table, headerLimit: headerLimit,
      into: &buffer)
    return buffer
  }

  static func decode(_ buffer: ByteBuffer, with decoder: inout FrameDecoder) throws -> Metadata? {
    decoder.append(buffer)
    guard case .callOpen(_, let open)? = try decoder.next() else { return nil }
    return open.metadata
  }

  @Test("a credential is stored with the first call and named by slot after; the server reads the same metadata every time")
  func storedThenNamed() throws {
    var table = MetadataTableEncoder()
    table.size = 2
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14, metadataTableSize: 2)
    let token = String(repeating: "t", count: 300)
    let first = Self.open(1, Self.metadata(token: token), table: &table)
    let second = Self.open(3, Self.metadata(token: token, requestID: "r2"), table: &table)
    #expect(try Self.decode(first, with: &decoder) == Self.metadata(token: token))
    #expect(try Self.decode(second, with: &decoder) == Self.metadata(token: token, requestID: "r2"))
    // The second opening names the slot (3 bytes) instead of carrying the 300-byte token.
    #expect(first.readableBytes - second.readableBytes == 1 + 13 + 4 + 307 - 3)
    // A short value, and keys that are not credentials, are always sent as they are.
    var short = Metadata()
    short.add("authorization", "Bearer x")
    short.add("x-request-id", String(repeating: "r", count: 100))
    #expect(table.use(key: "authorization", value: "Bearer x") == .literal)
    #expect(table.use(key: "x-request-id", value: String(repeating: "r", count: 100)) == .literal)
  }

  @Test("once the table is full the oldest slot is replaced, on both sides alike")
  func replacesTheOldest() throws {
    var table = MetadataTableEncoder()
    table.size = 2
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14, metadataTableSize: 2)
    let tokens = (0..<4).map { String(repeating: "\($0)", count: 40) }
    // Slots 0 and 1 fill with 0 and 1; 0 is named; then each new value replaces the oldest:
    // 2 → slot 0, 0 → slot 1, 1 → slot 0, 2 → slot 1, 3 → slot 0, and 3 is named.
    let sequence = [0, 1, 0, 2, 0, 1, 2, 3, 3]
    var id: UInt32 = 1
    for index in sequence {
      let metadata = Self.metadata(token: tokens[index])
      #expect(try Self.decode(Self.open(id, metadata, table: &table), with: &decoder) == metadata)
      id += 2
    }
    var probe = table
    #expect(probe.use(key: "authorization", value: "Bearer " + tokens[3]) == .reference(0))
    #expect(probe.use(key: "authorization", value: "Bearer " + tokens[2]) == .reference(1))
  }

  @Test("a slot never filled, or table entries sent to a server that announced no table, end the connection")
  func misuseIsAProtocolError() throws {
    var table = MetadataTableEncoder()
    table.size = 4
    let stored = Self.open(1, Self.metadata(token: String(repeating: "a", count: 32)), table: &table)
    let named = Self.open(3, Self.metadata(token: String(repeating: "a", count: 32)), table: &table)

    // The server never saw the opening that stored the entry.
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14, metadataTableSize: 4)
    decoder.append(named)
    #expect { try decoder.next() } throws: { ($0 as? ProtocolViolation)?.message == "metadata table slot 0 is empty" }

    // No table announced: neither form is accepted.
    for frame in [stored, named] {
      var plain = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14)
      plain.append(frame)
      #expect { try plain.next() } throws: { ($0 as? ProtocolViolation)?.code == .protocolError }
    }

    // METADATA_TABLE_SIZE is announced within 0...256.
    #expect(throws: ProtocolViolation.self) { try ConnectionSettings.decode([(0x8, 257)]) }
    #expect(try ConnectionSettings.decode([(0x8, 16)]).metadataTableSize == 16)
    #expect(try ConnectionSettings.decode([]).metadataTableSize == 0)
  }

  @Test("an opening too large for the server is sent without the table, so skipping it leaves the table as it was")
  func oversizedOpeningsLeaveTheTableAlone() throws {
    var table = MetadataTableEncoder()
    table.size = 4
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 200, metadataTableSize: 4)
    let token = String(repeating: "z", count: 300)
    let oversized = Self.open(1, Self.metadata(token: token), table: &table, headerLimit: 200)
    decoder.append(oversized)
    guard case .oversizedHeaders(callID: 1, _)? = try decoder.next() else {
      Issue.record("the opening was not skipped")
      return
    }
    // Nothing was stored: the next opening with the same token that fits stores it first.
    let small = Self.metadata(token: String(repeating: "y", count: 40))
    #expect(try Self.decode(Self.open(3, small, table: &table, headerLimit: 200), with: &decoder) == small)
    #expect(try Self.decode(Self.open(5, small, table: &table, headerLimit: 200), with: &decoder) == small)
  }

  @Test("over a real connection every call's handler sees its token, and later calls send fewer bytes", arguments: ["none", "zstd"])
  func endToEnd(_ compression: String) async throws {
    let seen = Mutex<[String]>([])
    struct Record: ServerInterceptor {
      let seen: @Sendable (String) -> Void
      func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        seen(context.metadata["authorization"] ?? "")
        try await next(context)
      }
    }
    let token = "Bearer " + String(repeating: "k", count: 400)
    let other = "Bearer " + String(repeating: "m", count: 400)
    try await withServer(interceptors: [Record { value in seen.withLock { $0.append(value) } }]) { _, port in
      try await withConnection(port: port, compression: compression == "none" ? .none : .zstd) { connection in
        let client = RpcV1.EchoService.Client(connection)
        var sizes: [Int] = []
        for value in [token, token, token, other, token] {
          let before = await connection.statistics().plainBytesSent
          _ = try await client.echo(.with { $0.message = "hi" }, options: CallOptions(metadata: ["authorization": value]))
          sizes.append(await connection.statistics().plainBytesSent - before)
        }
        #expect(seen.withLock { $0 } == [token, token, token, other, token])
        // The token's 400 bytes travel with the first call only; the other token once too.
        #expect(sizes[1] == sizes[2] && sizes[0] - sizes[1] >= 400 && sizes[3] == sizes[0] && sizes[4] == sizes[1])
      }
    }
  }
}
