import Messages
import NIOCore
import RPCTestSupport
import Testing

@testable import RPC

@Suite("Connection compression streams")
struct WireCompressionTests {
  @Test("zstd contexts are created on first use: the compressor by the first batch, the decompressor by the first compressed bytes")
  func contextsAreCreatedOnFirstUse() throws {
    var outbound = OutboundStream()
    var inbound = InboundStream()
    try outbound.startCompressing(level: 1, windowLog: 17)
    try inbound.startDecompressing(windowLogMax: 17)
    // (#expect cannot take a property of a non-copyable value: read it into a Bool first.)
    var created = (outbound.isCompressing && !outbound.hasCompressor, inbound.isDecompressing && !inbound.hasDecompressor)
    #expect(created.0 && created.1)

    // What a reader passes on at the switch to compression is often nothing at all.
    try inbound.inflate(ByteBuffer(), allocator: ByteBufferAllocator()) { _ in Issue.record("no bytes expected") }
    created.1 = inbound.hasDecompressor
    #expect(!created.1)

    var received = ByteBuffer()
    for text in ["first batch", "second batch"] {
      let sealed = try outbound.seal(ByteBuffer(string: text), allocator: ByteBufferAllocator())
      created.0 = outbound.hasCompressor
      #expect(created.0)
      #expect(sealed != ByteBuffer(string: text))
      try inbound.inflate(sealed, allocator: ByteBufferAllocator()) { plain in
        var plain = plain
        received.writeBuffer(&plain)
      }
      created.1 = inbound.hasDecompressor
      #expect(created.1)
    }
    #expect(String(buffer: received) == "first batchsecond batch")
  }

  @Test("parameters out of range still fail when compression starts, before any context exists")
  func parametersAreCheckedAtTheStart() {
    var outbound = OutboundStream()
    var inbound = InboundStream()
    #expect(throws: ZstdError.self) { try outbound.startCompressing(level: 1, windowLog: 40) }
    #expect(throws: ZstdError.self) { try inbound.startDecompressing(windowLogMax: 40) }
    let started = outbound.isCompressing || inbound.isDecompressing
    #expect(!started)
  }

  @Test("a zstd connection that carries no call holds no zstd context on either side; one call creates them and round-trips")
  func idleConnectionHoldsNoContexts() async throws {
    try await withServer { server, port in
      try await withConnection(port: port, compression: .zstd) { connection in
        #expect(try await connection.compression == .zstd)
        let serverHandler = try #require(server.core.connections.all.first)
        let client = try await connection.handler.eventLoop.submit { connection.handler.zstdContexts }.get()
        var serverSide = try await serverHandler.eventLoop.submit { serverHandler.zstdContexts }.get()
        #expect(!client.compressor && !client.decompressor)
        #expect(!serverSide.compressor && !serverSide.decompressor)

        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "compressed" })
        #expect(response.message == "compressed")
        let afterCall = try await connection.handler.eventLoop.submit { connection.handler.zstdContexts }.get()
        serverSide = try await serverHandler.eventLoop.submit { serverHandler.zstdContexts }.get()
        #expect(afterCall.compressor && afterCall.decompressor)
        #expect(serverSide.compressor && serverSide.decompressor)
      }
    }
  }
}
