import Messages
import NIOCore
import RPC
import Synchronization

/// Runs one call of any kind: sends the requests of a ``RequestSource`` while printing each
/// response as it arrives, and reports what happened under `-v`.
///
/// Every call kind goes through the transport's streaming call, so response headers and
/// trailers are visible for unary calls too. Requests are sent by one task while the call's
/// task receives; the first failure wins:
/// - a response or the end of the call ends the request task (so a bidirectional call that
///   the server ends early does not wait for more input);
/// - a request that is not valid JSON cancels the call (the server sees CANCEL, never a
///   half-close that would make it act on part of the input);
/// - a failed send is not reported itself: the call's status says why.
struct CallExecution: Sendable {
  let connection: RPCConnection
  let method: ResolvedMethod
  let options: CallOptions
  let converter: MessageConverter
  let output: any TextOutput
  let log: VerboseLog
  /// What happened before the call (connecting, reflection), for the `-v` timings line.
  var setupTimings: [(label: String, duration: Duration)] = []

  /// What a finished call did.
  struct Summary: Sendable {
    var requests = 0
    var responses = 0
    var firstResponse: Duration?
  }

  /// Runs the call; returns its summary when it ended with OK.
  ///
  /// - Throws: ``RPCError`` with the call's status, or ``CommandFailure`` for input that
  ///   cannot be sent and responses that cannot be decoded.
  func run(_ source: RequestSource) async throws -> Summary {
    let progress = Progress()
    let clock = ContinuousClock()
    let before = await connection.statistics()
    let start = clock.now
    log.sent("\(method.descriptor.path) (\(method.kind.displayName))")
    log.metadata("request metadata", options.metadata, prefix: ">")
    do {
      try await perform(source, progress: progress, start: start)
      let summary = progress.withLock { $0 }
      log.received("status: OK")
      await report(summary, total: start.duration(to: clock.now), before: before)
      return summary
    } catch {
      if let error = error as? RPCError {
        log.metadata("trailers", error.metadata, prefix: "<")
        log.received("status: \(error.code.name) (\(error.code.rawValue))\(error.message.isEmpty ? "" : ": \(error.message)")")
      }
      await report(progress.withLock { $0 }, total: start.duration(to: clock.now), before: before)
      throw error
    }
  }

  /// The summary so far, shared by the request and response tasks.
  final class Progress: Sendable {
    private let state = Mutex(Summary())

    func withLock<Result: Sendable>(_ body: (inout Summary) -> Result) -> Result {
      state.withLock { body(&$0) }
    }
  }

  private enum Finished: Sendable {
    case requestsSent
    case callEnded
  }

  private func perform(_ source: RequestSource, progress: Progress, start: ContinuousClock.Instant) async throws {
    let (calls, callStarted) = AsyncStream<any RawClientCall>.makeStream()
    try await withThrowingTaskGroup(of: Finished.self) { group in
      group.addTask {
        defer { callStarted.finish() }
        try await connection.withStreamingCall(method: method.descriptor, options: options) { call in
          callStarted.yield(call)
          try await receive(from: call, progress: progress, start: start)
        }
        return .callEnded
      }
      group.addTask {
        var started = calls.makeAsyncIterator()
        guard let call = await started.next() else { return .requestsSent }
        var reader = RequestReader(source)
        let single = !method.kind.streamsRequests
        while let json = try await reader.next() {
          let index = progress.withLock { $0.requests } + 1
          let bytes = try converter.encodeRequest(json, index: single ? 0 : index)
          do {
            try await call.send(bytes)
          } catch {
            return .requestsSent  // the call ended; its status tells why
          }
          progress.withLock { $0.requests = index }
        }
        try? await call.closeSend()
        return .requestsSent
      }
      var ended = false
      while !ended {
        guard let finished = try await group.next() else { break }
        if case .callEnded = finished { ended = true }
      }
      group.cancelAll()  // stop reading input the call no longer wants
      while true {
        do {
          guard try await group.next() != nil else { break }
        } catch {
          continue  // the request task, cancelled after the call ended
        }
      }
    }
  }

  /// Prints every response until the call ends; throws its status when not OK.
  private func receive(from call: any RawClientCall, progress: Progress, start: ContinuousClock.Instant) async throws {
    let clock = ContinuousClock()
    // Headers are optional: the call resolves them when they arrive or, if the server sent
    // none, when it ends. Under -v they are logged as soon as they are known.
    async let headersLogged: Void = logHeaders(of: call)
    var index = 0
    do {
      while let bytes = try await call.receive() {
        index += 1
        if index == 1 {
          let elapsed = start.duration(to: clock.now)
          progress.withLock { $0.firstResponse = elapsed }
        }
        let text = try converter.decodeResponse(bytes, index: index)
        output.write(text + "\n")
        progress.withLock { $0.responses = index }
      }
    } catch {
      await headersLogged
      throw error
    }
    await headersLogged
    log.metadata("trailers", call.trailingMetadata, prefix: "<")
    if !method.kind.streamsResponses, index != 1 {
      throw CommandFailure(.internal, "the server ended a \(method.kind.displayName) call with \(index) responses instead of one")
    }
  }

  private func logHeaders(of call: any RawClientCall) async {
    guard log.enabled else { return }
    log.metadata("response headers", (try? await call.responseHeaders()) ?? [:], prefix: "<")
  }

  /// `-v`: counts, timings and bytes on the wire for this call.
  private func report(_ summary: Summary, total: Duration, before: ConnectionStatistics) async {
    guard log.enabled else { return }
    let after = await connection.statistics()
    let first = summary.firstResponse.map(Formatting.milliseconds) ?? "none"
    log.info("sent \(summary.requests) request\(summary.requests == 1 ? "" : "s"), received \(summary.responses) response\(summary.responses == 1 ? "" : "s")")
    let setup = setupTimings.map { "\($0.label) \(Formatting.milliseconds($0.duration)), " }.joined()
    log.info("timings: \(setup)call: first response \(first), total \(Formatting.milliseconds(total))")
    log.info(
      "bytes sent: \(after.wireBytesSent - before.wireBytesSent) on the wire, \(after.plainBytesSent - before.plainBytesSent) before compression"
    )
    log.info(
      "bytes received: \(after.wireBytesReceived - before.wireBytesReceived) on the wire, \(after.plainBytesReceived - before.plainBytesReceived) after decompression"
    )
  }
}
