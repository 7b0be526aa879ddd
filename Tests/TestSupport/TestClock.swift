public import Foundation
import Synchronization

/// A wall clock that tests move by hand, for code that takes its time from an injected
/// `() -> Date` (token expiry, throttling windows), so no test waits for time to pass.
public final class TestClock: Sendable {
  private let current: Mutex<Date>

  public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }

  /// The time now.
  public var now: Date { current.withLock { $0 } }

  /// Moves the clock forward by `seconds`.
  public func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
