import ArgumentParser

/// `echo-bench malloc-check`: checks that the allocation counter is preloaded and counts (it
/// must see at least 10,000 allocations for 10,000 `UnsafeMutableRawPointer.allocate` calls).
struct MallocCheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "malloc-check", abstract: "Checks that libEchoBenchMallocCounter.so is preloaded and counting.")

  func run() throws {
    guard let before = MallocCounts.current() else {
      print("malloc-check: the counter is not loaded (LD_PRELOAD=.../libEchoBenchMallocCounter.so)")
      throw ExitCode(2)
    }
    for size in 0..<10_000 {
      let pointer = UnsafeMutableRawPointer.allocate(byteCount: 64 + size % 512, alignment: 8)
      pointer.storeBytes(of: size, as: Int.self)
      pointer.deallocate()
    }
    let delta = MallocCounts.current()! - before
    print("malloc-check: \(delta.allocations) allocations and \(delta.frees) frees for 10000 allocate/deallocate pairs")
    guard delta.allocations >= 10_000, delta.frees >= 10_000 else { throw ExitCode(1) }
  }
}
