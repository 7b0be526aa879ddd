import CLibPQ
import Foundation
import Synchronization

/// The part of a ``PostgresConnection`` that drives libpq: it owns the `PGconn`, connects it,
/// sends queued requests as the ``PipelineStateMachine`` plans them, reads results, resumes
/// callers, and sends the cancel requests (and resends the requests they hit by mistake) that
/// the ``CancelStateMachine`` asks for.
///
/// Its ``PostgresEventLoop`` thread connects, waits for the socket and reads results. A caller
/// that queues a statement while nobody else is using the driver sends it itself
/// (``PostgresConnection``'s `enqueue`), with libpq's non-blocking calls only, which saves
/// waking the I/O thread for every statement; the I/O thread is woken by the server's answer.
///
/// `@unchecked Sendable`: every property is read and written only while ``lock`` is held (libpq
/// needs one thread at a time per `PGconn`, not always the same one). Other threads hand it work
/// through the connection's ``PostgresConnection/inbox``.
final class ConnectionDriver: @unchecked Sendable {
  /// Held while any method below runs.
  let lock = Mutex<Void>(())

  private enum Phase {
    case new
    case connecting(PostgresPollingStatusType, deadline: ContinuousClock.Instant)
    case ready
    case closed
  }

  private struct Sent {
    var request: ConnectionRequest
    /// The caller was resumed early (cancelled or timed out); the result is dropped.
    var abandoned = false
  }

  private let connection: PostgresConnection
  private var pg: OpaquePointer?
  private var phase = Phase.new {
    didSet { self.publish() }
  }
  private var machine: PipelineStateMachine
  private var pending = FIFO<ConnectionRequest>()
  /// Requests sent again after a cancel meant for another request hit them; they go first.
  private var resend: [ConnectionRequest] = []
  private var sent: [UInt64: Sent] = [:]
  /// When to send `PQcancel`, and which cancelled requests to send again.
  private var cancels = CancelStateMachine()
  /// Cancel requests whose `PQcancel` has returned (the server has signalled the backend).
  private let cancelsFinished = Atomic<Int>(0)
  private var keptResult: PostgresResult?
  private var needsFlush = false {
    didSet {
      if self.needsFlush != oldValue { self.publish() }
    }
  }
  private var deadlineCount = 0 {
    didSet {
      if (self.deadlineCount > 0) != (oldValue > 0) { self.publish() }
    }
  }

  /// What the loop thread reads without taking ``lock`` on every iteration: the socket and
  /// events to poll for (`fd << 16 | events`, or -1), whether ``nextDeadline`` may be non-nil,
  /// and whether the driver is finished. Updated whenever the state they derive from changes.
  let publishedInterest = Atomic<Int64>(-1)
  let publishedHasTimers = Atomic<Bool>(false)
  let publishedFinished = Atomic<Bool>(false)
  /// True once the loop watches this driver (in its list of drivers). Loop-thread only.
  var isWatched = false
  /// Callers to resume, collected while ``lock`` is held and resumed after it is released (by
  /// ``takeCompletions(into:)``'s caller), so that woken tasks never wait for the lock.
  private var completions: [Completion] = []
  /// Scratch storage for the commands of the request being sent.
  private var commands: [PipelineStateMachine.Command] = []
  /// Storage traded with the inbox's request array in ``service()``.
  private var spareRequests: [ConnectionRequest] = []
  /// Scratch buffers for libpq's parameter arrays, reused between statements.
  private var formats: [Int32] = []

  /// What a COPY's writer handed over and libpq has not taken yet.
  private struct CopyInput {
    var chunks = FIFO<([UInt8], ConnectionRequest.Continuation)>()
    /// Set once the writer is done: nil to finish, else the reason to fail the COPY.
    var end: String??
  }

  /// COPY data waiting for its request (queued, or being copied), by request id.
  private var copyInputs: [UInt64: CopyInput] = [:]
  /// The request whose COPY data is being sent: the server asked for it and `PQputCopyEnd` has
  /// not been called yet. No results are read meanwhile (libpq would only repeat `COPY_IN`).
  private var copying: UInt64?

  init(connection: PostgresConnection) {
    self.connection = connection
    self.machine = PipelineStateMachine(
      statementCacheCapacity: connection.configuration.statementCacheCapacity)
  }

  var isFinished: Bool {
    if case .closed = self.phase { return true }
    return false
  }

  var isReady: Bool {
    if case .ready = self.phase { return true }
    return false
  }

  /// True when the loop thread must look at the driver again after someone else serviced it:
  /// output is waiting for the socket to drain, a deadline needs its timer, or it closed.
  var needsLoopAttention: Bool {
    self.needsFlush || self.deadlineCount > 0 || !self.isReady
  }

  private func publish() {
    let interest = self.pollInterest.map { Int64($0.fd) << 16 | Int64(UInt16(bitPattern: $0.events)) } ?? -1
    self.publishedInterest.store(interest, ordering: .releasing)
    var timers = self.deadlineCount > 0
    if case .connecting = self.phase {
      timers = true
    }
    self.publishedHasTimers.store(timers, ordering: .releasing)
    self.publishedFinished.store(self.isFinished, ordering: .releasing)
  }

  /// The socket and events to poll for, if any.
  var pollInterest: (fd: Int32, events: Int16)? {
    guard let pg = self.pg else { return nil }
    let fd = PQsocket(pg)
    guard fd >= 0 else { return nil }
    switch self.phase {
    case .connecting(let status, _):
      return (fd, Int16(status == PGRES_POLLING_READING ? POLLIN : POLLOUT))
    case .ready:
      return (fd, Int16(POLLIN | (self.needsFlush ? POLLOUT : 0)))
    case .new, .closed:
      return nil
    }
  }

  /// The earliest instant at which ``checkDeadlines(now:)`` has something to do.
  var nextDeadline: ContinuousClock.Instant? {
    if case .connecting(_, let deadline) = self.phase {
      return deadline
    }
    guard self.deadlineCount > 0 else { return nil }
    var earliest: ContinuousClock.Instant?
    for request in self.pending.elements {
      if let deadline = request.deadline, earliest.map({ deadline < $0 }) ?? true {
        earliest = deadline
      }
    }
    for entry in self.sent.values where !entry.abandoned {
      if let deadline = entry.request.deadline, earliest.map({ deadline < $0 }) ?? true {
        earliest = deadline
      }
    }
    return earliest
  }

  // MARK: - Work from other threads

  typealias Completion = (ConnectionRequest.Continuation, Result<PostgresRows, any Error>)

  /// Moves the callers to resume now to `completed`; call with ``lock`` held, resume them
  /// after releasing it. Both arrays keep their storage, so steady traffic allocates nothing
  /// here.
  func takeCompletions(into completed: inout [Completion]) {
    guard !self.completions.isEmpty else { return }
    completed.append(contentsOf: self.completions)
    self.completions.removeAll(keepingCapacity: true)
  }

  /// Resumes callers collected by ``takeCompletions(into:)`` and empties `completions`,
  /// keeping its storage.
  static func resume(_ completions: inout [Completion]) {
    for (continuation, result) in completions {
      continuation.resume(with: result)
    }
    completions.removeAll(keepingCapacity: true)
  }

  /// Takes what callers queued and acts on it.
  func service() {
    // The inbox's array and ours trade storage, so neither is copied or reallocated.
    var requests = self.spareRequests
    self.spareRequests = []
    defer {
      requests.removeAll(keepingCapacity: true)
      self.spareRequests = requests
    }
    let (cancels, closeRequested, copyMessages) = self.connection.inbox.withLock { inbox in
      defer {
        inbox.cancels.removeAll()
        inbox.copyMessages.removeAll()
        inbox.scheduled = false
      }
      swap(&requests, &inbox.requests)
      return (inbox.cancels, inbox.closeRequested, inbox.copyMessages)
    }
    if closeRequested {
      for request in requests {
        self.pending.append(request)
      }
      for (id, message) in copyMessages {
        self.receiveCopyMessage(id, message)
      }
      self.shutDown(
        sentError: PostgresError.client(
          .connectionClosed, "The connection was closed with the statement in flight."),
        pendingError: PostgresError.client(
          .connectionUnavailable, "The connection was closed before the statement was sent."),
        closeError: nil)
      return
    }
    if case .new = self.phase {
      self.startConnecting()
    }
    for request in requests {
      if request.deadline != nil {
        self.deadlineCount += 1
      }
      self.pending.append(request)
    }
    for (id, message) in copyMessages {
      self.receiveCopyMessage(id, message)
    }
    for cancel in cancels {
      self.cancel(cancel.id, error: cancel.error ?? CancellationError(), cancelOnServer: true)
    }
    if case .ready = self.phase {
      self.sendPending()
      self.pumpCopy()
    }
  }

  // MARK: - Connecting

  private func startConnecting() {
    let deadline = ContinuousClock.now.advanced(by: self.connection.configuration.connectTimeout)
    guard let pg = PQconnectStart(self.connection.configuration.url) else {
      self.failConnecting("libpq could not allocate a connection.")
      return
    }
    self.pg = pg
    guard PQstatus(pg) != CONNECTION_BAD else {
      self.failConnecting(self.libpqMessage())
      return
    }
    self.phase = .connecting(PGRES_POLLING_WRITING, deadline: deadline)
  }

  private func advanceConnecting() {
    guard let pg = self.pg, case .connecting(_, let deadline) = self.phase else { return }
    let status = PQconnectPoll(pg)
    switch status {
    case PGRES_POLLING_OK:
      self.finishConnecting()
    case PGRES_POLLING_FAILED:
      self.failConnecting(self.libpqMessage())
    default:
      self.phase = .connecting(status, deadline: deadline)
    }
  }

  private func finishConnecting() {
    guard let pg = self.pg else { return }
    guard PQsetnonblocking(pg, 1) == 0, PQenterPipelineMode(pg) == 1 else {
      self.failConnecting("Could not enter non-blocking pipeline mode: \(self.libpqMessage())")
      return
    }
    // libpq's default prints notices to standard error; the driver has no use for them.
    PQsetNoticeReceiver(pg, { _, _ in }, nil)
    let processID = PQbackendPID(pg)
    self.phase = .ready
    let waiter = self.connection.inbox.withLock { inbox in
      inbox.backendProcessID = processID
      defer { inbox.connectWaiter = nil }
      return inbox.connectWaiter
    }
    waiter?.resume()
    self.sendPending()
  }

  private func failConnecting(_ message: String) {
    let error = PostgresError.client(.connectionFailed, "Could not connect: \(message)")
    self.shutDown(
      sentError: error, pendingError: error, closeError: error)
  }

  // MARK: - Sending

  private func sendPending() {
    guard let pg = self.pg, case .ready = self.phase else { return }
    var sentAny = false
    // libpq (before 17) flushes at every sync point, so each request would be a TCP segment of
    // its own, each waking the server. Corked, the kernel sends the requests queued here together
    // when the cork comes off, at the end of this function.
    let socket = PQsocket(pg)
    let corked = self.pending.count + self.resend.count > 1 && socket >= 0 && Self.setCork(socket, true)
    defer {
      if corked {
        _ = Self.setCork(socket, false)
      }
    }
    while true {
      let fromResend = !self.resend.isEmpty
      guard let request = fromResend ? self.resend.first : self.pending.first else { break }
      // A transaction's statement waits for a cancel in flight to finish (the cancel thread
      // wakes the driver): it could not be sent again if the cancel stopped it instead.
      if self.cancels.mustHoldBack(
        isShared: request.isShared, cancelsFinished: self.cancelsFinished.load(ordering: .acquiring))
      {
        break
      }
      switch request.payload {
      case .extended(let statements, let resultIndex):
        guard self.machine.canSendExtended else { break }
        self.commands.removeAll(keepingCapacity: true)
        self.machine.plan(
          request.id, statements: statements.lazy.map(\.key), resultIndex: resultIndex,
          into: &self.commands)
        guard self.perform(self.commands, statements: statements, on: pg) else {
          self.takeNext(fromResend: fromResend)
          self.record(request)
          self.connectionLost("Could not queue a statement: \(self.libpqMessage())")
          return
        }
      case .simple(let sql), .copy(let sql):
        guard self.machine.canSendSimple else { break }
        if case .copy = request.payload {
          _ = self.machine.planCopy(request.id)
        } else {
          _ = self.machine.planSimple(request.id)
        }
        guard PQexitPipelineMode(pg) == 1, PQsendQuery(pg, sql) == 1 else {
          self.takeNext(fromResend: fromResend)
          self.record(request)
          self.connectionLost("Could not send a script: \(self.libpqMessage())")
          return
        }
      }
      if case .extended = request.payload, !self.machine.canSendExtended {
        break
      }
      self.takeNext(fromResend: fromResend)
      self.record(request)
      sentAny = true
      if case .extended = request.payload {
      } else {
        break
      }
    }
    if sentAny {
      self.flush()
    }
  }

  /// Sets `TCP_CORK` on `socket`; false if that failed (the socket is then left as it was).
  private static func setCork(_ socket: Int32, _ on: Bool) -> Bool {
    var value: Int32 = on ? 1 : 0
    return setsockopt(
      socket, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
  }

  private func takeNext(fromResend: Bool) {
    if fromResend {
      self.resend.removeFirst()
    } else {
      _ = self.pending.popFirst()
    }
  }

  private func record(_ request: ConnectionRequest) {
    self.sent[request.id] = Sent(request: request)
    self.cancels.sent(request.id, cancelsFinished: self.cancelsFinished.load(ordering: .acquiring))
  }

  /// Makes the libpq calls for one request; false when libpq refused one.
  private func perform(
    _ commands: [PipelineStateMachine.Command],
    statements: [PostgresStatement],
    on pg: OpaquePointer
  ) -> Bool {
    for command in commands {
      let ok: Bool
      switch command {
      // `withCString` rather than passing a `String` where libpq wants `const char *`: the
      // implicit conversion copies a small string (every statement name) to the heap.
      case .prepare(let name, let index):
        let statement = statements[index]
        ok = statement.bindings.types.withUnsafeBufferPointer { types in
          name.withCString { name in
            PQsendPrepare(pg, name, statement.sql, Int32(types.count), types.baseAddress) == 1
          }
        }
      case .executePrepared(let name, let index):
        ok = self.withParameters(statements[index].bindings) { count, values, lengths, formats in
          name.withCString { name in
            PQsendQueryPrepared(pg, name, count, values, lengths, formats, 1) == 1
          }
        }
      case .executeUnnamed(let index):
        let statement = statements[index]
        ok = statement.bindings.types.withUnsafeBufferPointer { types in
          self.withParameters(statement.bindings) { count, values, lengths, formats in
            PQsendQueryParams(
              pg, statement.sql, count, types.baseAddress, values, lengths, formats, 1) == 1
          }
        }
      case .sync:
        ok = PQpipelineSync(pg) == 1
      case .simpleQuery:
        ok = false  // handled by the caller
      }
      if !ok {
        return false
      }
    }
    return true
  }

  /// Calls `body` with libpq's parameter arrays for `bindings` (all binary format).
  private func withParameters(
    _ bindings: PostgresBindings,
    _ body: (
      Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?
    ) -> Bool
  ) -> Bool {
    let count = bindings.count
    if count == 0 {
      return body(0, nil, nil, nil)
    }
    if self.formats.count < count {
      self.formats = [Int32](repeating: 1, count: max(count, 16))
    }
    return self.formats.withUnsafeBufferPointer { formats in
      // Any non-null pointer does for an empty value (libpq reads zero bytes); null is NULL.
      let empty = UnsafeRawPointer(formats.baseAddress!).assumingMemoryBound(to: CChar.self)
      return bindings.bytes.withUnsafeBufferPointer { bytes in
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { values in
          var offset = 0
          for (index, length) in bindings.lengths.enumerated() {
            if length < 0 {
              values[index] = nil
            } else if length == 0 {
              values[index] = empty
            } else {
              values[index] =
                UnsafeRawPointer(bytes.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
              offset += Int(length)
            }
          }
          return bindings.lengths.withUnsafeBufferPointer { lengths in
            body(Int32(count), UnsafePointer(values.baseAddress), lengths.baseAddress, formats.baseAddress)
          }
        }
      }
    }
  }

  private func flush() {
    guard let pg = self.pg else { return }
    switch PQflush(pg) {
    case 0:
      self.needsFlush = false
    case 1:
      self.needsFlush = true
    default:
      self.connectionLost("Could not send: \(self.libpqMessage())")
    }
  }

  // MARK: - Receiving

  /// The socket is readable or writable (or has an error).
  func socketReady(readable: Bool, writable: Bool) {
    switch self.phase {
    case .connecting:
      self.advanceConnecting()
    case .ready:
      if writable && self.needsFlush {
        self.flush()
      }
      if case .ready = self.phase {
        self.pumpCopy()
      }
      if readable, case .ready = self.phase {
        self.readResults()
      }
      if case .ready = self.phase, !self.pending.isEmpty || !self.resend.isEmpty {
        self.sendPending()
      }
      if case .ready = self.phase, self.needsFlush {
        self.flush()
      }
    case .new, .closed:
      break
    }
  }

  private func readResults() {
    guard let pg = self.pg else { return }
    guard PQconsumeInput(pg) == 1 else {
      self.connectionLost(self.libpqMessage())
      return
    }
    // While COPY data is being sent, libpq keeps what the server says (an early error) for
    // after `PQputCopyEnd`; consuming the input above keeps the socket from polling readable.
    while self.copying == nil, self.machine.inFlightCount > 0, PQisBusy(pg) == 0 {
      let result = PQgetResult(pg)
      let event: PipelineStateMachine.Event
      if let result {
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
          event = .success
        case PGRES_PIPELINE_SYNC:
          event = .sync
        case PGRES_PIPELINE_ABORTED:
          event = .aborted
        case PGRES_COPY_IN:
          event = .copyIn
        case PGRES_COPY_OUT, PGRES_COPY_BOTH:
          PQclear(result)
          self.connectionLost("COPY TO STDOUT is not supported by this driver.")
          return
        default:
          event = .failure(self.error(from: result))
        }
      } else {
        event = .end
      }
      switch self.machine.receive(event) {
      case .none:
        if let result { PQclear(result) }
      case .keepResult:
        self.keptResult = result.map(PostgresResult.init)
      case .complete(let id, let error, let enterPipelineMode):
        if let result { PQclear(result) }
        if enterPipelineMode {
          guard PQenterPipelineMode(pg) == 1 else {
            self.complete(id, error: error)
            self.connectionLost("Could not re-enter pipeline mode: \(self.libpqMessage())")
            return
          }
        }
        self.complete(id, error: error)
      case .startCopy(let id):
        if let result { PQclear(result) }
        self.copying = id
        self.sendCopyData()
      case .protocolViolation(let reason):
        if let result { PQclear(result) }
        self.connectionLost("The driver lost track of the pipeline (\(reason)).")
        return
      }
    }
    while let notification = PQnotifies(pg) {
      let event = PostgresNotification(
        channel: String(cString: notification.pointee.relname),
        payload: notification.pointee.extra.map { String(cString: $0) } ?? "",
        senderProcessID: notification.pointee.be_pid)
      PQfreemem(notification)
      self.connection.notificationHandler?(event)
    }
    if PQstatus(pg) == CONNECTION_BAD {
      self.connectionLost(self.libpqMessage())
    }
  }

  private func complete(_ id: UInt64, error: PostgresError?) {
    let result = self.keptResult
    self.keptResult = nil
    if self.copying == id {
      self.copying = nil
    }
    self.dropCopyInput(id, error: error ?? CopyEndedError())
    let entry = self.sent.removeValue(forKey: id)
    if let entry, entry.request.deadline != nil {
      self.deadlineCount -= 1
    }
    let outcome: CancelStateMachine.Outcome =
      if let error, error.sqlState == SQLState.queryCanceled {
        error.message.contains("statement timeout") ? .statementTimeout : .cancelled
      } else {
        .other
      }
    let (verdict, action) = self.cancels.completed(
      id, outcome: outcome, abandoned: entry?.abandoned ?? true,
      isShared: entry?.request.isShared ?? false, retried: entry?.request.retried ?? false,
      head: self.machine.head)
    defer { self.act(action) }
    guard let entry, !entry.abandoned else { return }
    if verdict == .resend {
      // A cancel this driver sent for another statement reached this one instead; it ran in
      // its own implicit transaction, which was rolled back, so it is safe to send again.
      var again = entry.request
      again.retried = true
      if again.deadline != nil {
        self.deadlineCount += 1
      }
      self.resend.append(again)
      return
    }
    guard var error else {
      if case .simple = entry.request.payload {
        self.completions.append((entry.request.continuation, .success(PostgresRows(nil))))
      } else {
        self.completions.append((entry.request.continuation, .success(PostgresRows(result))))
      }
      return
    }
    if outcome != .other {
      error.code = outcome == .statementTimeout ? .statementTimeout : .queryCancelled
    }
    self.completions.append((entry.request.continuation, .failure(error)))
  }

  // MARK: - COPY

  /// Queues a COPY writer's data or end for its request, or refuses data for a COPY that is
  /// over.
  private func receiveCopyMessage(_ id: UInt64, _ message: PostgresConnection.CopyMessage) {
    let live =
      self.copyInputs[id] != nil || self.sent[id].map { !$0.abandoned } ?? false
      || self.pending.elements.contains { $0.id == id } || self.resend.contains { $0.id == id }
    switch message {
    case .data(let bytes, let continuation):
      guard live, self.copyInputs[id]?.end == nil else {
        self.completions.append((continuation, .failure(CopyEndedError())))
        return
      }
      self.copyInputs[id, default: CopyInput()].chunks.append((bytes, continuation))
    case .end(let failure):
      guard live else { return }
      if self.copyInputs[id]?.end == nil {
        self.copyInputs[id, default: CopyInput()].end = .some(failure)
      }
    }
  }

  /// Fails the data still waiting for COPY `id` with `error` and forgets it.
  private func dropCopyInput(_ id: UInt64, error: any Error) {
    guard var input = self.copyInputs.removeValue(forKey: id) else { return }
    while let (_, continuation) = input.chunks.popFirst() {
      self.completions.append((continuation, .failure(error)))
    }
  }

  /// ``sendCopyData()``, then, if that ended the COPY, the results: the server may have
  /// answered already (an early error), and the socket does not turn readable again for input
  /// consumed during the COPY.
  private func pumpCopy() {
    guard self.copying != nil else { return }
    self.sendCopyData()
    if self.copying == nil, case .ready = self.phase {
      self.readResults()
    }
  }

  /// Hands the COPY's data to libpq, a chunk at a time while the previous one has left, and
  /// ends the COPY once the writer is done.
  private func sendCopyData() {
    guard let id = self.copying, let pg = self.pg, case .ready = self.phase else { return }
    while !self.needsFlush, var input = self.copyInputs[id] {
      if let (bytes, continuation) = input.chunks.first {
        let status = bytes.withUnsafeBufferPointer { buffer in
          buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(pg, $0.baseAddress, Int32(buffer.count)) }
        }
        guard status != 0 else { return }  // libpq's buffer is full: wait for the socket.
        _ = input.chunks.popFirst()
        self.copyInputs[id] = input
        guard status == 1 else {
          self.completions.append((continuation, .failure(CopyEndedError())))
          self.connectionLost("Could not send COPY data: \(self.libpqMessage())")
          return
        }
        self.completions.append((continuation, .success(PostgresRows(nil))))
        self.flush()
      } else if let end = input.end {
        let status = end.map { PQputCopyEnd(pg, $0) } ?? PQputCopyEnd(pg, nil)
        guard status != 0 else { return }
        guard status == 1 else {
          self.connectionLost("Could not end the COPY: \(self.libpqMessage())")
          return
        }
        self.copyInputs[id] = nil
        self.copying = nil
        self.flush()
        return
      } else {
        return
      }
    }
  }

  // MARK: - Cancellation and deadlines

  func checkDeadlines(now: ContinuousClock.Instant) {
    if case .connecting(_, let deadline) = self.phase, deadline <= now {
      self.failConnecting(
        "Timed out after \(self.connection.configuration.connectTimeout) while connecting.")
      return
    }
    guard self.deadlineCount > 0 else { return }
    let expiredPending = self.pending.elements.filter { ($0.deadline.map { $0 <= now }) ?? false }
    for request in expiredPending {
      self.cancel(request.id, error: PostgresError.timeout(), cancelOnServer: false)
    }
    let expiredSent = self.sent.values.filter {
      !$0.abandoned && (($0.request.deadline.map { $0 <= now }) ?? false)
    }
    for entry in expiredSent {
      // Nothing else stops it on the server (no statement_timeout is sent with it): cancel it
      // like a cancelled task's statement, once it is the head of the pipeline.
      self.cancel(entry.request.id, error: PostgresError.timeout(), cancelOnServer: true)
    }
  }

  /// Resumes request `id` with `error` now and, if `cancelOnServer`, stops its server-side
  /// work with `PQcancel` once it runs.
  private func cancel(_ id: UInt64, error: any Error, cancelOnServer: Bool) {
    let removed = self.pending.removeAll { $0.id == id } + {
      guard let index = self.resend.firstIndex(where: { $0.id == id }) else { return [] }
      return [self.resend.remove(at: index)]
    }()
    for request in removed {
      if request.deadline != nil {
        self.deadlineCount -= 1
      }
      self.completions.append((request.continuation, .failure(error)))
      self.dropCopyInput(request.id, error: error)
    }
    guard removed.isEmpty, var entry = self.sent[id], !entry.abandoned else { return }
    entry.abandoned = true
    if entry.request.deadline != nil {
      self.deadlineCount -= 1
      entry.request.deadline = nil
    }
    self.sent[id] = entry
    self.completions.append((entry.request.continuation, .failure(error)))
    if case .copy = entry.request.payload {
      // Failing the COPY stops it on the server; while its data is being sent, that is all it
      // takes (no cancel request, which could hit a later statement).
      self.dropCopyInput(id, error: error)
      self.copyInputs[id] = CopyInput(end: .some("The COPY was cancelled."))
      if self.copying == id {
        self.pumpCopy()
        return
      }
    }
    if cancelOnServer {
      self.act(self.cancels.cancel(id, head: self.machine.head))
    }
  }

  /// Sends `PQcancel` when ``CancelStateMachine`` says so: only ever for the head of the
  /// pipeline, so a cancel aims at no statement other than the one it is for (bar a race with
  /// its completion, which the machine resolves).
  private func act(_ action: CancelStateMachine.Action) {
    guard case .sendCancel = action, let pg = self.pg, let cancel = PQgetCancel(pg) else { return }
    let handle = CancelHandle(pointer: cancel, driver: self)
    // PQcancel blocks while it connects to the server; it gets a thread of its own.
    let thread = Thread {
      var buffer = [CChar](repeating: 0, count: 256)
      _ = PQcancel(handle.pointer, &buffer, Int32(buffer.count))
      PQfreeCancel(handle.pointer)
      handle.driver.cancelsFinished.add(1, ordering: .releasing)
      // Requests held back while the cancel was in flight may leave now.
      handle.driver.connection.wake()
    }
    thread.name = "emporium-pgcncl"
    thread.start()
  }

  // MARK: - Closing

  private func connectionLost(_ message: String) {
    let detail = message.isEmpty ? "" : " (\(message))"
    let closeError = PostgresError.client(
      .connectionClosed, "The connection to the server was lost\(detail).")
    self.shutDown(
      sentError: PostgresError.client(
        .connectionClosed,
        "The connection to the server was lost with the statement in flight; it may or may not "
          + "have run\(detail)."),
      pendingError: PostgresError.client(
        .connectionUnavailable,
        "The connection to the server was lost before the statement was sent\(detail)."),
      closeError: closeError)
  }

  private func shutDown(sentError: PostgresError, pendingError: PostgresError, closeError: PostgresError?) {
    guard !self.isFinished else { return }
    self.phase = .closed
    self.keptResult = nil
    self.cancels.reset()
    for id in self.machine.failAll() {
      if let entry = self.sent.removeValue(forKey: id), !entry.abandoned {
        self.completions.append((entry.request.continuation, .failure(sentError)))
      }
    }
    for entry in self.sent.values where !entry.abandoned {
      self.completions.append((entry.request.continuation, .failure(sentError)))
    }
    self.sent.removeAll()
    self.copying = nil
    for id in Array(self.copyInputs.keys) {
      self.dropCopyInput(id, error: sentError)
    }
    for request in self.resend + self.pending.drain() {
      self.completions.append((request.continuation, .failure(pendingError)))
    }
    self.resend.removeAll()
    if let pg = self.pg {
      PQfinish(pg)
      self.pg = nil
    }
    self.publish()
    self.connection.markClosed(error: closeError)
  }

  // MARK: - Helpers

  private func libpqMessage() -> String {
    guard let pg = self.pg, let message = PQerrorMessage(pg) else { return "" }
    return self.connection.scrubber.scrub(String(cString: message))
  }

  private func error(from result: OpaquePointer) -> PostgresError {
    func field(_ code: Character) -> String? {
      PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
    }
    guard let sqlState = field("C") else {
      // libpq's own error (the connection broke): no SQLSTATE.
      let message = self.connection.scrubber.scrub(
        String(cString: PQresultErrorMessage(result)))
      return PostgresError.client(.connectionClosed, "The statement failed in libpq: \(message)")
    }
    var error = PostgresError(code: .server, sqlState: sqlState, message: field("M") ?? "")
    error.messageIsFromServer = true
    error.detail = field("D")
    error.hint = field("H")
    error.schemaName = field("s")
    error.tableName = field("t")
    error.columnName = field("c")
    error.dataTypeName = field("d")
    error.constraintName = field("n")
    return error
  }
}

/// A `PGcancel` handed to the thread that sends the cancel request.
///
/// `@unchecked Sendable`: the object is created on the I/O thread and then used and freed only
/// by that one cancel thread; libpq documents `PQcancel` as safe to call from any thread.
private struct CancelHandle: @unchecked Sendable {
  let pointer: OpaquePointer
  let driver: ConnectionDriver
}
