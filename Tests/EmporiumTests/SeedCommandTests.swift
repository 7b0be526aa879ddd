import Foundation
import Postgres
import PostgresEmbedded
import Testing

/// `emporium seed` as an operator runs it.
@Suite("emporium seed")
struct SeedCommandTests {
  /// Runs the command; standard error goes to a file (not a terminal), so progress comes as
  /// lines.
  private func run(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = ServeCommandTests.executable
    process.arguments = arguments
    let output = ChildPipe()
    let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("seed-stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorsFile) }
    let errors = try FileHandle(forWritingTo: errorsFile)
    process.standardError = errors
    try output.run(process, asStandardError: false)
    let text = String(decoding: await output.reading.readToEndOffThePool(), as: UTF8.self)
    await process.exited()
    try errors.close()
    return (process.terminationStatus, text, try String(contentsOf: errorsFile, encoding: .utf8))
  }

  @Test("loads a small data set, writes the manifest, and shows progress as plain lines")
  func seeds() async throws {
    let database = try await TestCluster.createDatabase("seed_command")
    let manifest = FileManager.default.temporaryDirectory.appendingPathComponent("seed-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: manifest) }
    let result = try await run([
      "seed", "--database-url", database, "--products", "250", "--users", "30", "--sellers", "3", "--seed", "11",
      "--manifest", manifest.path,
    ])
    #expect(result.status == 0, "\(result.errors)")
    #expect(result.output.contains("seeded 250 products"))
    #expect(result.errors.contains("seed: products 250/250"))
    #expect(result.errors.contains("seed: stock 750/750"), "3 warehouses by default")
    #expect(!result.errors.contains("\u{1B}["), "no terminal escapes when standard error is not a terminal")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any]
    #expect(json?["seed"] as? Int == 11)
    #expect((json?["productIds"] as? [String])?.count == 250)
    #expect((json?["users"] as? [[String: Any]])?.count == 33)
    let counts = json?["counts"] as? [String: Int]
    #expect(counts?["products"] == 250 && counts?["sellers"] == 3 && counts?["users"] == 33)
    #expect(json?["format"] as? Int == 2)
    #expect((json?["warehouses"] as? [[String: Any]])?.map { $0["code"] as? String } == ["WH01", "WH02", "WH03"])
    let stock = json?["stock"] as? [String: Any]
    #expect(stock?["rows"] as? Int == 750)

    let pool = try PostgresPool(configuration: .init(url: database, maximumConnections: 1))
    #expect(try await pool.query("SELECT count(*) FROM catalog.products").scalar(as: Int64.self) == 250)
    #expect(try await pool.query("SELECT count(*) FROM catalog.search_documents").scalar(as: Int64.self) == 250)
    #expect(try await pool.query("SELECT count(*) FROM auth.accounts").scalar(as: Int64.self) == 33)
    #expect(try await pool.query("SELECT count(*) FROM inventory.stock").scalar(as: Int64.self) == 750)
    let units = try await pool.query("SELECT sum(on_hand)::int8 FROM inventory.stock").scalar(as: Int64.self)
    #expect(units == (stock?["units"] as? NSNumber)?.int64Value)
    await pool.close()

    // Seeding the same database again is refused.
    let again = try await run(["seed", "--database-url", database, "--products", "10", "--sellers", "1", "--manifest", manifest.path + ".2"])
    #expect(again.status != 0)
  }

  @Test("products without sellers are refused before anything runs")
  func validation() async throws {
    let result = try await run(["seed", "--database-url", "postgresql://unused@127.0.0.1:1/x", "--products", "5", "--sellers", "0"])
    #expect(result.status != 0)
    #expect(result.errors.contains("--sellers"))
  }
}
