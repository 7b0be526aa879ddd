import Foundation
import Synchronization

/// Writes to a file handle (standard output or error), unbuffered, one write per call.
final class FileOutput: TextOutput {
  private let handle: FileHandle
  private let lock = Mutex(())

  init(_ handle: FileHandle) {
    self.handle = handle
  }

  func write(_ text: String) {
    lock.withLock { _ in handle.write(Data(text.utf8)) }
  }
}
