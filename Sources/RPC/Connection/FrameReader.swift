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
  private var inbound: InboundStream
  /// Received bytes not decoded yet (a read whose decompression was cut at its budget).
  private var pending: ByteBuffer?
  private let windowLogMax: Int32
  /// Frame bytes read so far, after decompression.
  private(set) var plainBytesRead = 0

  /// Whether the zstd decompression context exists (it is created with the first compressed
  /// bytes).
  var hasDecompressor: Bool { inbound.hasDecompressor }

  /// - Parameters:
  ///   - settings: this side's own settings (the limits it enforces on what it reads).
  ///   - inflationLimit: how far the peer's compressed stream may inflate; nil for no limit.
  init(role: FrameDecoder.Role, settings: ConnectionSettings, inflationLimit: InflationLimit? = nil) {
    decoder = FrameDecoder(
      role: role, maxFrameSize: settings.maxFrameSize, maxHeaderSize: settings.maxHeaderSize,
      metadataTableSize: settings.metadataTableSize)
    inbound = InboundStream(limit: inflationLimit)
    windowLogMax = Int32(settings.zstdWindowLogMax)
  }

  /// Decodes every complete frame in `bytes` (and in what came before), calling `handle` for each.
  mutating func read(
    _ bytes: ByteBuffer, allocator: ByteBufferAllocator, _ handle: (Frame) throws -> Next
  ) throws {
    _ = try read(bytes, budget: .max, allocator: allocator, handle)
  }

  /// Decodes the frames in `bytes` (after any backlog), calling `handle` for each, until about
  /// `budget` bytes were decompressed. Returns true when bytes are left for
  /// ``resume(budget:allocator:_:)``, which the caller runs later so that one peer's
  /// decompression cannot hold the event loop.
  mutating func read(
    _ bytes: ByteBuffer, budget: Int, allocator: ByteBufferAllocator, _ handle: (Frame) throws -> Next
  ) throws -> Bool {
    append(bytes)
    return try resume(budget: budget, allocator: allocator, handle)
  }

  /// Adds received bytes to the backlog without decoding anything.
  mutating func append(_ bytes: ByteBuffer) {
    if pending == nil {
      pending = bytes
    } else {
      var bytes = bytes
      pending!.writeBuffer(&bytes)
    }
  }

  /// Continues decoding the backlog; returns true while bytes are left.
  mutating func resume(
    budget: Int, allocator: ByteBufferAllocator, _ handle: (Frame) throws -> Next
  ) throws -> Bool {
    while var input = pending {
      pending = nil
      var next = Next.proceed
      let more = try inbound.inflate(&input, budget: budget, allocator: allocator) { plain in
        plainBytesRead += plain.readableBytes
        decoder.append(plain)
        while case .proceed = next, let frame = try decoder.next() {
          next = try handle(frame)
        }
        return next == .proceed
      }
      switch next {
      case .stop:
        return false
      case .switchToCompressed:
        // The switch happens in the plain phase, so `input` was consumed whole; what the decoder
        // has not used yet is the start of the compressed stream.
        try inbound.startDecompressing(windowLogMax: windowLogMax)
        pending = decoder.takeBuffered()
      case .proceed:
        if more {
          pending = input
          return true
        }
      }
    }
    return false
  }
}
