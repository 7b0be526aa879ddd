public import Logging
public import ServiceLifecycle

/// Background work a service runs once at start and then every `interval` (sweepers): a failed
/// round is logged and tried again at the next interval; graceful shutdown ends the wait.
public struct PeriodicWork: Service {
  public let name: String
  public let interval: Duration
  public let logger: Logger
  public let round: @Sendable () async throws -> Void

  /// - Parameters:
  ///   - name: what the work is, for the log ("cart sweep").
  ///   - round: one round of the work; it logs what it did.
  public init(_ name: String, every interval: Duration, logger: Logger, round: @escaping @Sendable () async throws -> Void) {
    self.name = name
    self.interval = interval
    self.logger = logger
    self.round = round
  }

  public func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          try await round()
        } catch is CancellationError {
          return
        } catch {
          logger.warning("\(name) failed", metadata: ["error": "\(error)"])
        }
        try? await Task.sleep(for: interval)
      }
    }
  }
}
