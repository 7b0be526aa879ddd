import Foundation

/// The directory a cluster lives in, and the files in it the launcher uses.
///
/// Either temporary (created empty by ``makeTemporary(for:)``, removed when the cluster stops) or
/// named by the user (created if missing by ``prepare(_:for:)``, never removed).
struct DataDirectory: Sendable, Hashable {
  /// The absolute path of the directory.
  var path: String

  /// True for a directory the launcher created and removes on stop.
  var isTemporary: Bool

  /// The server log that `pg_ctl start -l` appends to.
  var logFile: String { self.path + "/postgres.log" }

  /// Present while a postmaster runs (or after one crashed).
  var pidFile: String { self.path + "/postmaster.pid" }

  /// Present once `initdb` has made the directory a cluster.
  var holdsCluster: Bool {
    FileManager.default.fileExists(atPath: self.path + "/PG_VERSION")
  }

  /// Creates a fresh, empty directory under the system's temporary directory (`TMPDIR`, else
  /// `/tmp`), owned by `account`.
  static func makeTemporary(for account: ServerAccount) throws -> Self {
    let base = FileManager.default.temporaryDirectory.standardizedFileURL.path
    try Self.checkUsableByPgCtl(base)
    var template = Array("\(base)/emporium-pg-XXXXXX".utf8CString)
    guard let created = mkdtemp(&template) else {
      throw EmbeddedPostgresError(
        code: .dataDirectoryUnusable,
        message: "Could not create a temporary data directory in \(base): "
          + "\(String(cString: strerror(errno)))."
      )
    }
    let directory = Self(path: String(cString: created), isTemporary: true)
    do {
      try account.takeOwnership(of: directory.path)
    } catch {
      try? directory.remove()
      throw error
    }
    return directory
  }

  /// Makes `path` ready to hold a cluster: creates it and any missing parents (handing the ones
  /// it creates to `account`) or, when it exists but holds no cluster yet, hands it to `account`
  /// so `initdb` can fill it. A directory that already holds a cluster is left untouched.
  static func prepare(_ path: String, for account: ServerAccount) throws -> Self {
    let absolute = URL(
      fileURLWithPath: path,
      relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
    ).standardizedFileURL.path
    try Self.checkUsableByPgCtl(absolute)
    let directory = Self(path: absolute, isTemporary: false)

    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw EmbeddedPostgresError(
          code: .dataDirectoryUnusable,
          message: "The data directory \(absolute) exists but is not a directory."
        )
      }
      if !directory.holdsCluster {
        try account.takeOwnership(of: absolute)
      }
      return directory
    }

    // Create the missing components from the top down, so each one can be handed over.
    var missing: [String] = []
    var cursor = URL(fileURLWithPath: absolute)
    while !FileManager.default.fileExists(atPath: cursor.path), cursor.path != "/" {
      missing.append(cursor.path)
      cursor.deleteLastPathComponent()
    }
    for (index, component) in missing.reversed().enumerated() {
      let isLeaf = index == missing.count - 1
      guard mkdir(component, isLeaf ? 0o700 : 0o755) == 0 || errno == EEXIST else {
        throw EmbeddedPostgresError(
          code: .dataDirectoryUnusable,
          message: "Could not create the data directory \(component): "
            + "\(String(cString: strerror(errno)))."
        )
      }
      try account.takeOwnership(of: component)
    }
    return directory
  }

  /// Removes the directory and everything in it. Only for temporary directories.
  func remove() throws {
    precondition(self.isTemporary, "only a temporary data directory is ever removed")
    do {
      try FileManager.default.removeItem(atPath: self.path)
    } catch CocoaError.fileNoSuchFile {
      // Already gone (the watchdog may have removed it).
    } catch  where !FileManager.default.fileExists(atPath: self.path) {
      // Gone by the time the error was reported.
    }
  }

  /// The last `maximumLines` lines of the server log, starting at byte `offset` (so a restart
  /// reports only what that start wrote), or "" when there is no log.
  func logTail(from offset: UInt64 = 0, maximumLines: Int = 20) -> String {
    guard let handle = FileHandle(forReadingAtPath: self.logFile) else { return "" }
    defer { try? handle.close() }
    let size = (try? handle.seekToEnd()) ?? 0
    // Never read more than 64 KiB: the tail is what matters.
    let start = max(offset, size > 65_536 ? size - 65_536 : 0)
    guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else {
      return ""
    }
    let lines = String(decoding: data, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    return lines.suffix(maximumLines + 1).joined(separator: "\n").trimmingCharacters(
      in: .whitespacesAndNewlines)
  }

  /// The current size of the server log (0 when there is none).
  var logSize: UInt64 {
    let attributes = try? FileManager.default.attributesOfItem(atPath: self.logFile)
    return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
  }

  /// `pg_ctl` hands `-D` and `-l` to `/bin/sh` inside double quotes, so a path holding one of
  /// these characters would be mangled (or run as a command).
  private static func checkUsableByPgCtl(_ path: String) throws {
    let unsafe = path.unicodeScalars.first { "\"$`\\\n\r".unicodeScalars.contains($0) }
    if let unsafe {
      throw EmbeddedPostgresError(
        code: .dataDirectoryUnusable,
        message: "The data directory path \(path) contains \(unsafe.escaped(asASCII: true)), "
          + "which pg_ctl cannot pass to the server safely; choose another path."
      )
    }
  }
}
