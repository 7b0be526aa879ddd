import Foundation
import Testing

@testable import Postgres

@Suite("PostgresEventLoop")
struct PostgresEventLoopTests {
  /// The names `top -H`, `perf` and `/proc` show for this process's threads.
  private func kernelThreadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { task in
      (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }

  @Test("the I/O threads carry their names in the kernel, for top -H and perf")
  func threadsAreNamed() async throws {
    _ = PostgresEventLoop.next()
    let deadline = ContinuousClock.now + .seconds(10)
    while !self.kernelThreadNames().contains(where: { $0.hasPrefix("emporium-pgio") }),
      ContinuousClock.now < deadline
    {
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(self.kernelThreadNames().contains(where: { $0.hasPrefix("emporium-pgio") }))
  }
}
