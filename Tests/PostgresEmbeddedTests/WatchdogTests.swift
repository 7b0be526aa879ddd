import Foundation
import PostgresEmbedded
import Testing

@Suite("Watchdog")
struct WatchdogTests {
  @Test("when the owner process is killed, the cluster stops and its directory is removed")
  func ownerKilled() async throws {
    // The stand-in owner: `cat` reading a pipe that only this process writes to, so that it
    // also ends (and its cluster with it) if this test process dies before killing it.
    let stdin = Pipe()
    let standIn = Process()
    standIn.executableURL = URL(fileURLWithPath: "/bin/cat")
    standIn.standardInput = stdin
    standIn.standardOutput = FileHandle.nullDevice
    try standIn.run()
    defer { try? stdin.fileHandleForWriting.close() }

    let postgres = try await EmbeddedPostgres.start(
      .init(ownerProcessID: standIn.processIdentifier))
    #expect(await SQLClient.ping(postgres.url()) == .accepting)

    kill(standIn.processIdentifier, SIGKILL)
    let clock = ContinuousClock()
    let killed = clock.now
    var cleanedUp = false
    while clock.now - killed < .seconds(15) {
      if !FileManager.default.fileExists(atPath: postgres.dataDirectory),
        await SQLClient.ping(postgres.url()) == .noResponse
      {
        cleanedUp = true
        break
      }
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(cleanedUp, "cluster on port \(postgres.port) still there 15 s after its owner died")

    // The owner of the object may still call stop: nothing is left to do, and that is fine.
    try await postgres.stop()
  }
}
