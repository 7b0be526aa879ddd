import Synchronization

/// A value behind a lock, as a class so that escaping closures and child tasks can share it
/// (a `Mutex` itself is non-copyable and cannot be captured).
final class LockedBox<Value: Sendable>: Sendable {
  private let mutex: Mutex<Value>

  init(_ value: Value) { mutex = Mutex(value) }

  func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
    try mutex.withLock { value in try body(&value) }
  }
}
