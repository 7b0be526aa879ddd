import EmporiumSeed
import Foundation
import Synchronization

/// Shows `emporium seed`'s progress on standard error: a bar redrawn in place on a terminal,
/// otherwise plain lines (each step, and every tenth of a long one).
final class SeedProgressDisplay: Sendable {
  private let isTerminal: Bool
  private let started: ContinuousClock.Instant
  /// The last line drawn on the terminal and the last tenth reported in plain mode.
  private let state = Mutex<(drawn: Bool, step: String, tenth: Int)>((false, "", -1))

  init(isTerminal: Bool, started: ContinuousClock.Instant) {
    self.isTerminal = isTerminal
    self.started = started
  }

  static func seconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.1fs", Double(seconds) + Double(attoseconds) / 1e18)
  }

  func show(_ progress: Seeder.Progress) {
    let (step, done, total): (String, Int, Int) =
      switch progress {
      case .migrating: ("migrating schemas", 0, 0)
      case .accounts(let done, let total): ("accounts", done, total)
      case .products(let done, let total): ("products", done, total)
      case .searchIndex(let done, let total): ("search index", done, total)
      case .finishing: ("swapping in the index", 0, 0)
      case .stock(let done, let total): ("stock", done, total)
      case .finished: ("done", 0, 0)
      }
    let elapsed = Self.seconds(started.duration(to: .now))
    if isTerminal {
      var line = step.padding(toLength: 22, withPad: " ", startingAt: 0)
      if total > 0 {
        let width = 30
        let filled = min(width, done * width / total)
        line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
        line += "\(done * 100 / total)% \(done)/\(total) "
      }
      line += elapsed
      state.withLock { $0.drawn = true }
      write("\r\u{1B}[2K" + line)
    } else {
      let tenth = total > 0 ? done * 10 / total : -1
      let report = state.withLock { state -> Bool in
        guard state.step != step || tenth > state.tenth else { return false }
        state.step = step
        state.tenth = tenth
        return true
      }
      guard report else { return }
      write("seed: \(step)" + (total > 0 ? " \(done)/\(total)" : "") + " (\(elapsed))\n")
    }
  }

  /// Ends the display (clears the bar) and prints `message`, if any, on standard output.
  func finish(_ message: String?) {
    let drawn = state.withLock { $0.drawn }
    if isTerminal && drawn { write("\r\u{1B}[2K") }
    if let message { FileHandle.standardOutput.write(Data((message + "\n").utf8)) }
  }

  private func write(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
