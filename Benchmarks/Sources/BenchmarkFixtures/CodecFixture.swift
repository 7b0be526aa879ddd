public import Messages
public import NIOCore
public import SwiftProtobuf

/// One message in two representations with the same logical content: our `Messages` value
/// (protobuf-c bindings) and swift-protobuf's generated value, plus its encoding.
///
/// The peer is not built by hand: it is decoded by swift-protobuf from our encoding, so both
/// sides hold exactly the same data. ``init(name:ours:peer:)`` checks that each side decodes the
/// other's encoding to an equal value and that both encodings have the same size, and stops the
/// program when they do not (a benchmark of two different messages would measure nothing).
public struct CodecFixture<Ours: ProtoMessage, Peer: SwiftProtobuf.Message & Equatable>: Sendable {
  /// A short name for reports, for example "CheckoutRequest".
  public let name: String
  /// Our value.
  public let ours: Ours
  /// swift-protobuf's value, equal in content to ``ours``.
  public let peer: Peer
  /// The encoding (ours; swift-protobuf's has the same size and decodes to equal values).
  public let bytes: [UInt8]
  /// ``bytes`` in a `ByteBuffer`, for decoding with our API without a copy per call.
  public let buffer: ByteBuffer

  /// Encodes `ours`, decodes the bytes as `peer`, and checks that the two agree.
  public init(name: String, ours: Ours, peer: Peer.Type) {
    self.name = name
    self.ours = ours
    do {
      var buffer = ByteBuffer()
      try ours.encode(into: &buffer)
      self.buffer = buffer
      self.bytes = Array(buffer.readableBytesView)
      self.peer = try Peer(serializedBytes: bytes)

      // Each side decodes the other's encoding to the same value.
      let peerBytes: [UInt8] = try self.peer.serializedBytes()
      let oursFromPeer = try Ours(serializedBytes: peerBytes)
      precondition(oursFromPeer == ours, "\(name): ours decodes swift-protobuf's encoding differently")
      let peerFromOurs = try Peer(serializedBytes: bytes)
      precondition(peerFromOurs == self.peer, "\(name): swift-protobuf decodes our encoding differently")
      let oursFromOurs = try Ours(decoding: buffer)
      precondition(oursFromOurs == ours, "\(name): our encoding does not round-trip")
      precondition(
        peerBytes.count == bytes.count,
        "\(name): encodings differ in size (ours \(bytes.count), swift-protobuf \(peerBytes.count))")
    } catch {
      fatalError("\(name): sample does not encode or decode: \(error)")
    }
  }
}
