import Benchmark
import BenchmarkFixtures
import Messages
import NIOCore
import SwiftProtobuf

/// Registers the six codec benchmarks of one message: encode, decode and encode+decode, each
/// with our bindings ("ours") and with swift-protobuf, named `Message.codec.operation` (no
/// spaces: package-benchmark looks threshold files up by the unmodified name).
///
/// Like for like: swift-protobuf's `serializedBytes()` allocates a new `[UInt8]` per call, so
/// our encode writes into a new `ByteBuffer` per call too (what a caller framing one message
/// does), rather than into one buffer reused across iterations. Decoding reads bytes built once,
/// outside the measured loop: a `ByteBuffer` for ours, a `[UInt8]` for swift-protobuf; neither
/// is copied per call.
func registerCodecBenchmarks<Ours: ProtoMessage, Peer: SwiftProtobuf.Message & Equatable>(
  _ fixture: CodecFixture<Ours, Peer>
) {
  let name = fixture.name

  Benchmark("\(name).ours.encode") { benchmark in
    for _ in benchmark.scaledIterations {
      var buffer = ByteBuffer()
      try fixture.ours.encode(into: &buffer)
      blackHole(buffer)
    }
  }
  Benchmark("\(name).ours.decode") { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try Ours(decoding: fixture.buffer))
    }
  }
  Benchmark("\(name).ours.encode+decode") { benchmark in
    for _ in benchmark.scaledIterations {
      var buffer = ByteBuffer()
      try fixture.ours.encode(into: &buffer)
      blackHole(try Ours(decoding: buffer))
    }
  }

  Benchmark("\(name).swift-protobuf.encode") { benchmark in
    for _ in benchmark.scaledIterations {
      let bytes: [UInt8] = try fixture.peer.serializedBytes()
      blackHole(bytes)
    }
  }
  Benchmark("\(name).swift-protobuf.decode") { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try Peer(serializedBytes: fixture.bytes))
    }
  }
  Benchmark("\(name).swift-protobuf.encode+decode") { benchmark in
    for _ in benchmark.scaledIterations {
      let bytes: [UInt8] = try fixture.peer.serializedBytes()
      blackHole(try Peer(serializedBytes: bytes))
    }
  }
}
