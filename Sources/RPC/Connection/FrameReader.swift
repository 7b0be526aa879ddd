import NIOCore

/// The receiving side of one connection: bytes from the socket, through the inflater once the
/// peer's stream is compressed, into frames. Both connection handlers read with it.
struct FrameReader: ~Copyable {
  /// What to do after a frame.
  enum Next {
    /// Go on with the next frame.
    case proceed
    /// Stop reading (the connection is closing).
    case stop
    /// Every byte after this frame is compressed: the rest goes through the inflater.
    case switchToCompressed
  }

  private var decoder: FrameDecoder
  private var inbound = InboundStream()
  private let windowLogMax: Int32
  /// Frame bytes read so far, after decompression.
  private(set) var plainBytesRead = 0

  /// Whether the zstd decompression context exists (it is created with the first compressed
  /// bytes).
  var hasDecompressor: Bool { inbound.hasDecompressor }

  /// - Parameter settings: this side's own settings (the limits it enforces on what it reads).
  init(role: FrameDecoder.Role, settings: ConnectionSettings) {
    decoder = FrameDecoder(role: role, maxFrameSize: settings.maxFrameSize, maxHeaderSize: settings.maxHeaderSize)
    windowLogMax = Int32(settings.zstdWindowLogMax)
  }

  /// Decodes every complete frame in `bytes` (and in what came before), calling `handle` for each.
  mutating func read(
    _ bytes: ByteBuffer, allocator: ByteBufferAllocator, _ handle: (Frame) throws -> Next
  ) throws {
    var pending: ByteBuffer? = bytes
    while let input = pending {
      pending = nil
      var next = Next.proceed
      try inbound.inflate(input, allocator: allocator) { plain in
        guard case .proceed = next else { return }
        plainBytesRead += plain.readableBytes
        decoder.append(plain)
        while case .proceed = next, let frame = try decoder.next() {
          next = try handle(frame)
        }
      }
      if case .switchToCompressed = next {
        // The switch happens in the plain phase, so `input` was consumed whole; what the decoder
        // has not used yet is the start of the compressed stream.
        try inbound.startDecompressing(windowLogMax: windowLogMax)
        pending = decoder.takeBuffered()
      }
    }
  }
}
