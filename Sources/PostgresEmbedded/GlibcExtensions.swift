import Foundation

/// glibc's `posix_spawn` extensions that Swift's Glibc module does not import (they are declared
/// only under `_GNU_SOURCE`), looked up by name at run time.
enum GlibcExtensions {
  /// `POSIX_SPAWN_SETSID` (glibc 2.26+): the child calls `setsid()`.
  static let spawnSetSessionID: Int32 = 0x80

  private typealias AddCloseFrom =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  private typealias AddChangeDirectory =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

  private static let closeFrom: AddCloseFrom? = Self.symbol(
    "posix_spawn_file_actions_addclosefrom_np",
    as: AddCloseFrom.self
  )
  private static let changeDirectory: AddChangeDirectory? = Self.symbol(
    "posix_spawn_file_actions_addchdir_np",
    as: AddChangeDirectory.self
  )

  /// Adds "close every descriptor from `lowest` up" (glibc 2.34+; skipped on older glibc, where
  /// only descriptors marked close-on-exec stay out of the child).
  static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
    _ = Self.closeFrom?(&actions, lowest)
  }

  /// Adds "change to `directory`" (glibc 2.29+; skipped on older glibc).
  static func addChangeDirectory(_ actions: inout posix_spawn_file_actions_t, _ directory: String) {
    _ = directory.withCString { Self.changeDirectory?(&actions, $0) }
  }

  private static func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let process = dlopen(nil, RTLD_NOW), let address = dlsym(process, name) else {
      return nil
    }
    return unsafeBitCast(address, to: type)
  }
}
