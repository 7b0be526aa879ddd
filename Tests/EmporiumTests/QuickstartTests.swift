import Foundation
import PostgresEmbedded
import TestSupport
import Testing

/// README's first steps, with the real binaries: `emporium serve --keys-dir` on a new database
/// creates the signing keys and the bootstrap admin (shown once), and `rpcctl` registers, logs in
/// and asks WhoAmI with the token; a restart keeps the keys, so the token still works.
@Suite("README's quick start: emporium serve and rpcctl")
struct QuickstartTests {
  static var rpcctl: URL { ServeCommandTests.executable.deletingLastPathComponent().appendingPathComponent("rpcctl") }

  /// Runs rpcctl with `arguments`; its exit status and standard output.
  static func rpcctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await Process.runToEnd(rpcctl, arguments)
  }

  /// `emporium serve` with its standard output (where the bootstrap admin is announced) in a file.
  static func serve(database: String, keys: String, stdout: String) async throws -> ServeCommandTests.Server {
    FileManager.default.createFile(atPath: stdout, contents: nil)
    let output = ProcessOutput()
    let process = Process()
    process.executableURL = ServeCommandTests.executable
    process.arguments = ["serve", "--listen", "127.0.0.1:0", "--database-url", database, "--keys-dir", keys]
    process.standardOutput = FileHandle(forWritingAtPath: stdout)
    try output.run(process)
    guard let port = await output.waitFor({ ServeCommandTests.listeningPort(in: $0) }) else {
      throw ServeCommandTests.ServerDidNotStart(output: output.text)
    }
    return ServeCommandTests.Server(process: process, port: port, metricsPort: nil, output: output)
  }

  @Test("a first start creates keys and a bootstrap admin shown once; rpcctl registers, logs in and asks WhoAmI")
  func registerLogInWhoAmI() async throws {
    let database = try await TestCluster.createDatabase("serve_quickstart")
    let scratch = NSTemporaryDirectory() + "emporium-quickstart-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let keys = scratch + "/keys"

    let first = try await Self.serve(database: database, keys: keys, stdout: scratch + "/first.out")
    let announced = try String(contentsOfFile: scratch + "/first.out", encoding: .utf8)
    #expect(announced.contains("Created the bootstrap admin account") && announced.contains("password:"))
    #expect(!(try FileManager.default.contentsOfDirectory(atPath: keys)).isEmpty)

    let address = "127.0.0.1:\(first.port)"
    let registered = try await Self.rpcctl([
      "call", "--addr", address, "AuthService/RegisterUser", "--data",
      #"{"email":"ada@example.com","password":"correct-horse-battery","displayName":"Ada"}"#,
    ])
    #expect(registered.status == 0)
    let login = try await Self.rpcctl([
      "call", "--addr", address, "AuthService/Login", "--data", #"{"email":"ada@example.com","password":"correct-horse-battery"}"#,
    ])
    #expect(login.status == 0)
    let tokens = try #require(
      (try JSONSerialization.jsonObject(with: Data(login.output.utf8)) as? [String: Any])?["tokens"] as? [String: Any])
    let token = try #require(tokens["accessToken"] as? String)
    let whoAmI = try await Self.rpcctl(["call", "--addr", address, "AuthService/WhoAmI", "--header", "authorization: Bearer \(token)"])
    #expect(whoAmI.status == 0 && whoAmI.output.contains("ada@example.com"))
    // A customer calling an admin method: PERMISSION_DENIED is rpcctl's exit status 7.
    let denied = try await Self.rpcctl(["call", "--addr", address, "AuthService/ListAccounts", "--header", "authorization: Bearer \(token)"])
    #expect(denied.status == 7)
    kill(first.process.processIdentifier, SIGTERM)
    #expect(await ServeCommandTests.waitForExit(first.process, within: .seconds(30)))

    // The second start loads the same keys: the token still verifies; no new admin is announced.
    let second = try await Self.serve(database: database, keys: keys, stdout: scratch + "/second.out")
    defer { kill(second.process.processIdentifier, SIGTERM) }
    let again = try await Self.rpcctl([
      "call", "--addr", "127.0.0.1:\(second.port)", "AuthService/WhoAmI", "--header", "authorization: Bearer \(token)",
    ])
    #expect(again.status == 0 && again.output.contains("ada@example.com"))
    #expect(!(try String(contentsOfFile: scratch + "/second.out", encoding: .utf8)).contains("bootstrap admin"))
  }
}
