/// A notification delivered by PostgreSQL's `NOTIFY` (or `pg_notify`) to a channel this process
/// listens on.
public struct PostgresNotification: Sendable, Hashable {
  /// The channel name.
  public var channel: String
  /// The payload ("" when none was given).
  public var payload: String
  /// The process id of the server backend that sent the notification.
  public var senderProcessID: Int32

  /// Creates a notification.
  public init(channel: String, payload: String, senderProcessID: Int32) {
    self.channel = channel
    self.payload = payload
    self.senderProcessID = senderProcessID
  }
}
