/// The notifications sent to one channel, from ``PostgresPool/notifications(channel:)``.
///
/// Ends when the consuming task is cancelled or the pool closes. Buffers up to 10,000
/// notifications the consumer has not taken yet, then drops the oldest.
public struct PostgresNotificationSequence: AsyncSequence, Sendable {
  /// Each element is one notification.
  public typealias Element = PostgresNotification

  let stream: AsyncStream<PostgresNotification>

  /// Iterates the notifications.
  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: AsyncStream<PostgresNotification>.AsyncIterator

    /// The next notification, or nil once the sequence has ended.
    public mutating func next() async -> PostgresNotification? {
      await self.base.next(isolation: #isolation)
    }

    /// The next notification, or nil once the sequence has ended.
    public mutating func next(isolation actor: isolated (any Actor)?) async -> PostgresNotification? {
      await self.base.next(isolation: actor)
    }
  }

  /// Makes the iterator; iterate once.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(base: self.stream.makeAsyncIterator())
  }
}
