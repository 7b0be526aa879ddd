import Logging
import Messages
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import RPC

/// Records what handlers saw, for assertions from the test.
final class Recorder: Sendable {
  private let events = NIOLockedValueBox<[String]>([])
  private let waiters = NIOLockedValueBox<[(String, CheckedContinuation<Void, Never>)]>([])

  func record(_ event: String) {
    events.withLockedValue { $0.append(event) }
    let ready = waiters.withLockedValue { waiters in
      let matching = waiters.filter { $0.0 == event }
      waiters.removeAll { $0.0 == event }
      return matching
    }
    for waiter in ready { waiter.1.resume() }
  }

  var all: [String] { events.withLockedValue { $0 } }

  func count(_ event: String) -> Int { all.filter { $0 == event }.count }

  /// Returns once `event` has been recorded.
  func wait(for event: String) async {
    await withCheckedContinuation { continuation in
      let already = events.withLockedValue { $0.contains(event) }
      if already {
        continuation.resume()
      } else {
        waiters.withLockedValue { $0.append((event, continuation)) }
        if events.withLockedValue({ $0.contains(event) }) {
          let mine = waiters.withLockedValue { waiters -> [CheckedContinuation<Void, Never>] in
            let matching = waiters.filter { $0.0 == event }.map(\.1)
            waiters.removeAll { $0.0 == event }
            return matching
          }
          for waiter in mine { waiter.resume() }
        }
      }
    }
  }
}

/// An echo service that records cancellation and counts streamed writes.
struct ObservedEchoService: RpcV1.EchoService.ServiceProtocol {
  let recorder: Recorder
  let base = EchoService()

  func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    recorder.record("echo started")
    do {
      return try await base.echo(request: request, context: context)
    } catch is CancellationError {
      recorder.record("echo cancelled")
      throw CancellationError()
    }
  }

  func expand(
    request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext
  ) async throws {
    for index in 0..<Int(request.repeatCount) {
      try await response.write(.with {
        $0.sequence = Int32(index)
        $0.payload = request.payload
      })
      recorder.record("wrote")
    }
    recorder.record("expand done")
  }

  func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws -> RpcV1.EchoResponse {
    try await base.collect(requests: requests, context: context)
  }

  func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws {
    try await base.update(requests: requests, response: response, context: context)
  }
}
