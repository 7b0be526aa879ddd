#if canImport(Glibc)
import Glibc
#endif

/// This process's allocation counts, when libEchoBenchMallocCounter.so is preloaded
/// (LD_PRELOAD); nil otherwise. The counter's functions are looked up with
/// `dlsym(RTLD_DEFAULT, ...)`, so this executable never links the interposer itself.
struct MallocCounts: Codable, Sendable {
  /// malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign calls.
  var allocations: UInt64
  /// free calls with a non-null pointer.
  var frees: UInt64
  /// Heap bytes allocated and not freed (0 unless ECHO_BENCH_MALLOC_BYTES was set at start-up).
  var liveBytes: Int64

  private typealias Counter = @convention(c) () -> UInt64
  private typealias Bytes = @convention(c) () -> Int64

  private static let functions: (allocations: Counter, frees: Counter, bytes: Bytes)? = {
    // RTLD_DEFAULT is ((void *) 0) in glibc.
    guard let allocations = dlsym(nil, "echo_bench_malloc_count"), let frees = dlsym(nil, "echo_bench_free_count"),
      let bytes = dlsym(nil, "echo_bench_live_bytes")
    else { return nil }
    return (
      unsafeBitCast(allocations, to: Counter.self), unsafeBitCast(frees, to: Counter.self),
      unsafeBitCast(bytes, to: Bytes.self)
    )
  }()

  init(allocations: UInt64, frees: UInt64, liveBytes: Int64) {
    self.allocations = allocations
    self.frees = frees
    self.liveBytes = liveBytes
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    allocations = try container.decode(UInt64.self, forKey: .allocations)
    frees = try container.decode(UInt64.self, forKey: .frees)
    liveBytes = try container.decodeIfPresent(Int64.self, forKey: .liveBytes) ?? 0  // absent in older files
  }

  /// The counts now, or nil when the interposer is not loaded.
  static func current() -> MallocCounts? {
    guard let functions else { return nil }
    return MallocCounts(allocations: functions.allocations(), frees: functions.frees(), liveBytes: functions.bytes())
  }

  static func - (lhs: MallocCounts, rhs: MallocCounts) -> MallocCounts {
    MallocCounts(
      allocations: lhs.allocations &- rhs.allocations, frees: lhs.frees &- rhs.frees,
      liveBytes: lhs.liveBytes - rhs.liveBytes)
  }
}
