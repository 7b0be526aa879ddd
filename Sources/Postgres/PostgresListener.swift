import Foundation
import Synchronization

/// LISTEN/NOTIFY for a pool: one connection of its own, shared by every subscription, that is
/// re-established (with back-off) whenever it breaks and then LISTENs to every channel again.
///
/// Notifications arrive on the connection's I/O thread and are handed to each subscriber's
/// `AsyncStream` (which never blocks).
final class PostgresListener: Sendable {
  private struct State {
    var subscribers: [String: [UInt64: AsyncStream<PostgresNotification>.Continuation]] = [:]
    var connection: PostgresConnection?
    /// Tasks waiting for a connection.
    var connectionWaiters: [UInt64: CheckedContinuation<PostgresConnection, any Error>] = [:]
    var nextID: UInt64 = 1
    var runner: Task<Void, Never>?
    var closed = false
    /// Signalled when the current connection closes.
    var lostSignal: CheckedContinuation<Void, Never>?
    /// The last LISTEN or UNLISTEN asked for: the next one waits for it (``inOrder(_:)``).
    var lastCommand: Task<Void, Never>?
  }

  private let configuration: PostgresPool.Configuration
  private let loop: PostgresEventLoop
  private let state = Mutex(State())

  init(configuration: PostgresPool.Configuration, loop: PostgresEventLoop) {
    self.configuration = configuration
    self.loop = loop
  }

  /// Subscribes to `channel`; returns once `LISTEN` is in effect on the server.
  func subscribe(channel: String) async throws -> PostgresNotificationSequence {
    let quoted = try Self.quoteIdentifier(channel)
    let (stream, continuation) = AsyncStream.makeStream(
      of: PostgresNotification.self, bufferingPolicy: .bufferingNewest(10_000))
    let id = try self.state.withLock { state -> UInt64 in
      guard !state.closed else {
        throw PostgresError.client(.poolClosed, "The pool is closed.")
      }
      let id = state.nextID
      state.nextID += 1
      state.subscribers[channel, default: [:]][id] = continuation
      if state.runner == nil {
        state.runner = Task { await self.run() }
      }
      return id
    }
    continuation.onTermination = { [weak self] _ in
      self?.unsubscribe(channel: channel, id: id)
    }
    do {
      // LISTEN is idempotent, so racing with the runner's re-LISTEN after a reconnect is fine.
      // If the connection breaks in between, the runner LISTENs again on the next one.
      try await inOrder {
        while true {
          let connection = try await self.currentConnection()
          do {
            try await connection.query("LISTEN \(quoted)")
            return
          } catch let error as PostgresError
            where error.code == .connectionClosed || error.code == .connectionUnavailable
          {
            continue
          }
        }
      }
    } catch {
      continuation.finish()
      throw error
    }
    return PostgresNotificationSequence(stream: stream)
  }

  /// Ends every sequence and closes the connection.
  func close() async {
    let (runner, connection, waiters, subscribers, signal) = self.state.withLock { state in
      state.closed = true
      defer {
        state.connectionWaiters = [:]
        state.subscribers = [:]
        state.lostSignal = nil
      }
      return (
        state.runner, state.connection, state.connectionWaiters, state.subscribers,
        state.lostSignal
      )
    }
    runner?.cancel()
    for waiter in waiters.values {
      waiter.resume(throwing: PostgresError.client(.poolClosed, "The pool is closed."))
    }
    for continuation in subscribers.values.flatMap(\.values) {
      continuation.finish()
    }
    signal?.resume()
    await connection?.close()
    await runner?.value
  }

  // MARK: - Internals

  /// Keeps a connection open while the listener is open: connect, LISTEN to every channel,
  /// wait until the connection breaks, back off, repeat.
  private func run() async {
    var failures = 0
    while !Task.isCancelled {
      do {
        let connection = try await PostgresConnection.connect(
          self.configuration.connection,
          loop: self.loop,
          notificationHandler: { [weak self] notification in self?.deliver(notification) },
          closeHandler: { [weak self] _ in self?.connectionLost() },
          observer: nil)
        let channels = self.state.withLock { Array($0.subscribers.keys) }
        for channel in channels {
          try await connection.query("LISTEN \(try Self.quoteIdentifier(channel))")
        }
        failures = 0
        let (waiters, closed) = self.state.withLock { state in
          state.connection = connection
          defer { state.connectionWaiters = [:] }
          return (state.connectionWaiters, state.closed)
        }
        if closed {
          await connection.close()
          return
        }
        for waiter in waiters.values {
          waiter.resume(returning: connection)
        }
        await withCheckedContinuation { (signal: CheckedContinuation<Void, Never>) in
          let alreadyLost = self.state.withLock { state -> Bool in
            if state.closed || connection.isClosed {
              return true
            }
            state.lostSignal = signal
            return false
          }
          if alreadyLost {
            signal.resume()
          }
        }
        self.state.withLock { state in
          if state.connection === connection {
            state.connection = nil
          }
        }
        await connection.close()
      } catch {
        failures += 1
        try? await Task.sleep(
          for: Backoff.delay(
            attempt: failures, initial: self.configuration.reconnectInitialDelay,
            maximum: self.configuration.reconnectMaximumDelay))
      }
    }
  }

  private func connectionLost() {
    let signal = self.state.withLock { state in
      state.connection = nil
      defer { state.lostSignal = nil }
      return state.lostSignal
    }
    signal?.resume()
  }

  private func currentConnection() async throws -> PostgresConnection {
    let id = self.state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    let timeout = Task { [weak self] in
      try? await Task.sleep(for: self?.configuration.acquireTimeout ?? .zero)
      guard !Task.isCancelled else { return }
      self?.failWaiter(
        id,
        PostgresError.client(
          .acquireTimeout, "The LISTEN connection could not be established in time."))
    }
    defer { timeout.cancel() }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        enum Now {
          case connection(PostgresConnection)
          case error(any Error)
          case wait
        }
        let now = self.state.withLock { state -> Now in
          if state.closed { return .error(PostgresError.client(.poolClosed, "The pool is closed.")) }
          if Task.isCancelled { return .error(CancellationError()) }
          if let connection = state.connection, !connection.isClosed { return .connection(connection) }
          state.connectionWaiters[id] = continuation
          return .wait
        }
        switch now {
        case .connection(let connection): continuation.resume(returning: connection)
        case .error(let error): continuation.resume(throwing: error)
        case .wait: break
        }
      }
    } onCancel: {
      self.failWaiter(id, CancellationError())
    }
  }

  private func failWaiter(_ id: UInt64, _ error: any Error) {
    let waiter = self.state.withLock { $0.connectionWaiters.removeValue(forKey: id) }
    waiter?.resume(throwing: error)
  }

  private func deliver(_ notification: PostgresNotification) {
    let continuations = self.state.withLock { state in
      state.subscribers[notification.channel].map { Array($0.values) } ?? []
    }
    for continuation in continuations {
      continuation.yield(notification)
    }
  }

  private func unsubscribe(channel: String, id: UInt64) {
    let last = self.state.withLock { state -> Bool in
      state.subscribers[channel]?[id] = nil
      guard state.subscribers[channel]?.isEmpty == true else { return false }
      state.subscribers[channel] = nil
      return !state.closed
    }
    guard last, let quoted = try? Self.quoteIdentifier(channel) else { return }
    Task {
      try? await self.inOrder {
        // A subscription that came meanwhile keeps the channel: its LISTEN is queued behind
        // this, and unlistening now would leave it deaf.
        let connection = self.state.withLock { state in
          state.subscribers[channel] == nil && !state.closed ? state.connection : nil
        }
        try await connection?.query("UNLISTEN \(quoted)")
      }
    }
  }

  /// Runs `command` (a LISTEN or an UNLISTEN) after every command asked for before it has
  /// finished, so that the server sees them in the order the subscriptions came and went: an
  /// UNLISTEN of a stream that ended can never land after the LISTEN of one that started later.
  private func inOrder(_ command: @escaping @Sendable () async throws -> Void) async throws {
    let task = self.state.withLock { state -> Task<Result<Void, any Error>, Never> in
      let previous = state.lastCommand
      let task = Task { () -> Result<Void, any Error> in
        await previous?.value
        do {
          try await command()
          return .success(())
        } catch {
          return .failure(error)
        }
      }
      state.lastCommand = Task { _ = await task.value }
      return task
    }
    try await task.value.get()
  }

  /// `name` as a quoted SQL identifier: in double quotes, inner double quotes doubled. LISTEN
  /// takes an identifier, not a value, so it cannot be a parameter; quoting makes any text
  /// (without NUL) exactly one identifier.
  static func quoteIdentifier(_ name: String) throws -> String {
    guard !name.isEmpty, name.utf8.count <= 63, !name.utf8.contains(0) else {
      // The server silently truncates longer names, which would make two names one.
      throw PostgresError.client(
        .invalidArgument, "A channel or schema name must be 1 to 63 bytes without NUL.")
    }
    return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
}
