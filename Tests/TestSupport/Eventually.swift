/// Waits for something another thread or process does: checks `condition` every `interval` until
/// it holds or `timeout` passes, then checks it once more.
///
/// The one polling helper of the test targets. Use it only where the test cannot be told of the
/// event directly; `timeout` is a bound on a loaded machine, not an expectation, so keep it
/// generous.
///
/// - Parameters:
///   - timeout: How long to keep checking. Default 30 seconds: a bound for a loaded 2-core
///     machine, which a passing test never waits out.
///   - interval: The pause between checks. Default 10 milliseconds.
///   - condition: What to wait for. An error it throws ends the wait and is rethrown.
/// - Returns: Whether `condition` held in time.
@discardableResult
public func eventually(
  within timeout: Duration = .seconds(30),
  every interval: Duration = .milliseconds(10),
  _ condition: () async throws -> Bool
) async rethrows -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if try await condition() {
      return true
    }
    try? await Task.sleep(for: interval)
  }
  return try await condition()
}
