import PostgresEmbedded
import Synchronization

/// Collects the progress events a launcher reports.
final class ProgressRecorder: Sendable {
  private let recorded = Mutex<[EmbeddedPostgres.Progress]>([])

  var events: [EmbeddedPostgres.Progress] {
    self.recorded.withLock { $0 }
  }

  /// A callback for ``EmbeddedPostgres/Configuration/progress``.
  var callback: @Sendable (EmbeddedPostgres.Progress) -> Void {
    { event in self.recorded.withLock { $0.append(event) } }
  }
}
