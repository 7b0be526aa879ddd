public import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that keeps every record, for assertions on levels and metadata.
public struct CapturingLogHandler: LogHandler {
  public struct Record: Sendable {
    public var level: Logger.Level
    public var message: String
    public var metadata: Logger.Metadata
    /// The error the record carried, if any, as `String(reflecting:)` renders it.
    public var error: String?

    /// Everything the record says, as one line (to search logs for what must not be there).
    public var text: String { "\(level) \(message) \(metadata) \(error ?? "")" }
  }

  public final class Store: Sendable {
    private let records = NIOLockedValueBox<[Record]>([])
    public init() {}
    public func append(_ record: Record) { records.withLockedValue { $0.append(record) } }
    public var all: [Record] { records.withLockedValue { $0 } }
  }

  public let store: Store
  public var logLevel: Logger.Level
  public var metadata: Logger.Metadata = [:]

  public init(store: Store, level: Logger.Level) {
    self.store = store
    self.logLevel = level
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var merged = metadata
    if let extra = event.metadata { merged.merge(extra) { $1 } }
    store.append(
      Record(level: event.level, message: "\(event.message)", metadata: merged, error: event.error.map { String(reflecting: $0) }))
  }

  /// A logger writing to a new store.
  public static func logger(level: Logger.Level) -> (Logger, Store) {
    let store = Store()
    return (Logger(label: "test") { _ in CapturingLogHandler(store: store, level: level) }, store)
  }
}
