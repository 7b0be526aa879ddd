import Foundation

/// The PostgreSQL server programs the launcher runs: `initdb` and `pg_ctl` (which starts
/// `postgres` from its own directory).
///
/// Found in this order, never through `PATH` (a `pg_ctl` on `PATH` may be a wrapper or belong to a
/// different version):
/// 1. ``EmbeddedPostgres/Configuration/binDirectory``;
/// 2. the environment variable `EMPORIUM_PG_BIN`;
/// 3. the highest-versioned `/usr/lib/postgresql/<version>/bin` holding both programs (where the
///    Debian package `postgresql` puts them).
///
/// A directory named explicitly (1 or 2) that lacks the programs is an error rather than a reason
/// to fall back to 3: the caller asked for that installation.
struct PostgresBinaries: Sendable, Hashable {
  /// The environment variable that names a directory holding `initdb` and `pg_ctl`.
  static let environmentVariable = "EMPORIUM_PG_BIN"

  /// Where Debian installs one directory per major version.
  static let debianRoot = "/usr/lib/postgresql"

  /// The directory holding the programs.
  var directory: String

  var initdb: String { self.directory + "/initdb" }
  var pgCtl: String { self.directory + "/pg_ctl" }
  /// Copies a running cluster for a replica (``EmbeddedPostgres/startReplica(_:)``); not needed
  /// to run a primary, so not part of what makes the directory complete.
  var pgBasebackup: String { self.directory + "/pg_basebackup" }

  /// Finds the programs.
  ///
  /// - Parameters:
  ///   - configured: ``EmbeddedPostgres/Configuration/binDirectory``.
  ///   - environment: The process environment (a parameter so that callers can pass another).
  ///   - debianRoot: The directory holding one subdirectory per installed major version.
  /// - Throws: ``EmbeddedPostgresError/Code/binariesNotFound`` naming what was searched.
  static func locate(
    configured: String?,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    debianRoot: String = Self.debianRoot
  ) throws -> Self {
    if let configured, !configured.isEmpty {
      return try Self.explicit(configured, source: "the configuration's binDirectory")
    }
    if let fromEnvironment = environment[Self.environmentVariable], !fromEnvironment.isEmpty {
      return try Self.explicit(fromEnvironment, source: "\(Self.environmentVariable)")
    }

    let versions = (try? FileManager.default.contentsOfDirectory(atPath: debianRoot)) ?? []
    let candidates = versions.sorted {
      Self.versionKey($0).lexicographicallyPrecedes(Self.versionKey($1))
    }
    for version in candidates.reversed() {
      let binaries = Self(directory: debianRoot + "/" + version + "/bin")
      if binaries.isComplete {
        return binaries
      }
    }
    throw EmbeddedPostgresError(
      code: .binariesNotFound,
      message: "PostgreSQL server programs (initdb, pg_ctl) not found: searched "
        + "\(debianRoot)/*/bin"
        + (candidates.isEmpty
          ? " (no versions installed)" : " (\(candidates.joined(separator: ", ")))")
        + ". Install the Debian package `postgresql`, or set \(Self.environmentVariable) "
        + "to the directory holding initdb and pg_ctl."
    )
  }

  private static func explicit(_ directory: String, source: String) throws -> Self {
    let binaries = Self(directory: Self.trimmingTrailingSlashes(directory))
    guard binaries.isComplete else {
      throw EmbeddedPostgresError(
        code: .binariesNotFound,
        message: "PostgreSQL server programs (initdb, pg_ctl) not found in \(directory) "
          + "(from \(source)). Install the Debian package `postgresql` (its programs are in "
          + "\(Self.debianRoot)/<version>/bin), or point \(source) at the directory holding them."
      )
    }
    return binaries
  }

  private var isComplete: Bool {
    let files = FileManager.default
    return files.isExecutableFile(atPath: self.initdb) && files.isExecutableFile(atPath: self.pgCtl)
  }

  /// "9.6" -> [9, 6], "15" -> [15]; names that are not versions sort first.
  private static func versionKey(_ name: String) -> [Int] {
    let components = name.split(separator: ".", omittingEmptySubsequences: false)
    let numbers = components.compactMap { Int($0) }
    guard !numbers.isEmpty, numbers.count == components.count else { return [-1] }
    return numbers
  }

  private static func trimmingTrailingSlashes(_ path: String) -> String {
    var path = Substring(path)
    while path.count > 1, path.hasSuffix("/") {
      path = path.dropLast()
    }
    return String(path)
  }
}
