import Foundation
import Testing

@testable import PostgresEmbedded

@Suite("Finding the PostgreSQL programs")
struct PostgresBinariesTests {
  @Test(
    "a bin directory without initdb and pg_ctl is reported by name, with the package to install")
  func missingBinaries() async throws {
    let directory = "/nonexistent/emporium/postgresql/bin"
    let error = await #expect(throws: EmbeddedPostgresError.self) {
      try await EmbeddedPostgres.start(.init(binDirectory: directory))
    }
    #expect(error?.code == .binariesNotFound)
    #expect(error?.message.contains(directory) == true, "message: \(error?.message ?? "")")
    #expect(
      error?.message.contains("Debian package `postgresql`") == true,
      "message: \(error?.message ?? "")")
  }

  @Test("without configuration the launcher uses /usr/lib/postgresql/15/bin, never PATH")
  func defaultDiscovery() async throws {
    let postgres = try await EmbeddedPostgres.shared()
    #expect(postgres.binDirectory == "/usr/lib/postgresql/15/bin")
  }

  @Test(
    "the highest installed version holding both programs wins; configuration, then EMPORIUM_PG_BIN, come first"
  )
  func discoveryOrder() throws {
    let root = try FakeInstallations(
      complete: ["9.6", "15"],
      incomplete: ["16"],  // initdb only: a half-removed upgrade must not be picked
      strays: ["README"]
    )
    defer { root.remove() }

    #expect(
      try PostgresBinaries.locate(configured: nil, environment: [:], debianRoot: root.path)
        .directory == root.path + "/15/bin")
    #expect(
      try PostgresBinaries.locate(
        configured: nil,
        environment: ["EMPORIUM_PG_BIN": root.path + "/9.6/bin"],
        debianRoot: root.path
      ).directory == root.path + "/9.6/bin"
    )
    #expect(
      try PostgresBinaries.locate(
        configured: root.path + "/15/bin/",
        environment: ["EMPORIUM_PG_BIN": root.path + "/9.6/bin"],
        debianRoot: root.path
      ).directory == root.path + "/15/bin"
    )
    // A directory named explicitly is not silently replaced by another installation.
    let explicit = #expect(throws: EmbeddedPostgresError.self) {
      try PostgresBinaries.locate(
        configured: nil, environment: ["EMPORIUM_PG_BIN": root.path + "/16/bin"],
        debianRoot: root.path)
    }
    #expect(explicit?.message.contains("EMPORIUM_PG_BIN") == true)
  }

  @Test("with nothing installed the error names the directories searched")
  func nothingInstalled() throws {
    let root = try FakeInstallations(complete: [], incomplete: ["16"], strays: [])
    defer { root.remove() }
    let error = #expect(throws: EmbeddedPostgresError.self) {
      try PostgresBinaries.locate(configured: nil, environment: [:], debianRoot: root.path)
    }
    #expect(error?.code == .binariesNotFound)
    #expect(
      error?.message.contains(root.path + "/*/bin") == true, "message: \(error?.message ?? "")")
    #expect(error?.message.contains("Debian package `postgresql`") == true)
  }
}

/// A stand-in for /usr/lib/postgresql: one directory per version, with executable stubs.
private struct FakeInstallations {
  let path: String

  init(complete: [String], incomplete: [String], strays: [String]) throws {
    self.path =
      FileManager.default.temporaryDirectory
      .appendingPathComponent("emporium-fake-pg-\(UUID().uuidString)").path
    let files = FileManager.default
    try files.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    for version in complete + incomplete {
      let bin = self.path + "/" + version + "/bin"
      try files.createDirectory(atPath: bin, withIntermediateDirectories: true)
      let programs = complete.contains(version) ? ["initdb", "pg_ctl"] : ["initdb"]
      for program in programs {
        let stub = bin + "/" + program
        guard
          files.createFile(
            atPath: stub, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]
          )
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: stub]) }
      }
    }
    for stray in strays {
      guard files.createFile(atPath: self.path + "/" + stray, contents: Data()) else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: stray])
      }
    }
  }

  func remove() {
    try? FileManager.default.removeItem(atPath: self.path)
  }
}
