#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One reusable block per thread for the first chunk of every ``ProtoArena``.
///
/// Encoding and decoding are synchronous, so an arena never outlives the call on its thread:
/// the block is taken at the start and given back at the end. Reusing it makes a message whose
/// C structs fit in it cost no heap allocation on the C side. (Swift's temporary allocations
/// live on the stack only up to 1 KiB on Linux, too small for most messages.) A nested take on
/// the same thread finds the block in use and gets nil; the block is freed when its thread ends.
enum ArenaScratch {
  /// Usable bytes per block.
  static let blockBytes = 16 << 10
  private static let header = 16

  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    let created = pthread_key_create(&key) { block in free(block) }
    precondition(created == 0, "pthread_key_create failed")
    return key
  }()

  /// This thread's block, or nil when it is already in use.
  @inline(__always)
  static func take() -> UnsafeMutableRawPointer? {
    var block = pthread_getspecific(key)
    if block == nil {
      guard let fresh = malloc(header + blockBytes) else { return nil }
      fresh.storeBytes(of: false, as: Bool.self)
      pthread_setspecific(key, fresh)
      block = fresh
    }
    guard let block, !block.load(as: Bool.self) else { return nil }
    block.storeBytes(of: true, as: Bool.self)
    return block + header
  }

  @inline(__always)
  static func giveBack(_ usable: UnsafeMutableRawPointer) {
    (usable - header).storeBytes(of: false, as: Bool.self)
  }
}
