import Foundation

/// One schema migration: a version, a name and the SQL that makes the change.
///
/// Migrations of a schema run in version order, each once, each in its own transaction (see
/// ``Migrator``). The SQL may hold several statements; it must not contain transaction control
/// or statements that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`).
public struct Migration: Sendable, Hashable {
  /// The version: a positive number, unique within the schema; migrations run in its order.
  public var version: Int
  /// A short name, for reports (`create_products`).
  public var name: String
  /// The SQL, run with the schema first on the `search_path`.
  public var sql: String

  /// Creates a migration.
  public init(version: Int, name: String, sql: String) {
    self.version = version
    self.name = name
    self.sql = sql
  }

  /// `0003_add_index`: the version (zero-padded to four digits) and the name.
  public var label: String {
    let digits = String(self.version)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + self.name
  }

  /// Loads the migrations in `directory`: every file named `NNNN_name.sql` (any number of
  /// digits, then an underscore and a name), sorted by version. Other files are ignored, except
  /// that a `.sql` file whose name does not follow the pattern is an error (a typo would
  /// otherwise skip a migration silently).
  ///
  /// - Throws: ``PostgresError/Code/invalidArgument`` for an unreadable directory or file, a
  ///   misnamed `.sql` file, or two files with the same version.
  public static func load(directory: String) throws -> [Migration] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory)
    } catch {
      throw PostgresError.client(
        .invalidArgument, "Cannot list the migrations directory \(directory): \(error.localizedDescription)")
    }
    var migrations: [Migration] = []
    for file in names.sorted() where file.hasSuffix(".sql") {
      let stem = file.dropLast(4)
      guard let underscore = stem.firstIndex(of: "_"),
        !stem[..<underscore].isEmpty,
        stem[..<underscore].allSatisfy(\.isASCII), stem[..<underscore].allSatisfy(\.isNumber),
        let version = Int(stem[..<underscore]), version > 0,
        stem.index(after: underscore) < stem.endIndex
      else {
        throw PostgresError.client(
          .invalidArgument,
          "Migration file \(file) in \(directory) is not named NNNN_name.sql with a positive version.")
      }
      let path = (directory as NSString).appendingPathComponent(file)
      let sql: String
      do {
        sql = try String(contentsOfFile: path, encoding: .utf8)
      } catch {
        throw PostgresError.client(.invalidArgument, "Cannot read the migration \(path).")
      }
      migrations.append(
        Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
    }
    try Self.validate(migrations)
    return migrations.sorted { $0.version < $1.version }
  }

  /// Checks versions: positive and unique.
  static func validate(_ migrations: [Migration]) throws {
    var seen: [Int: String] = [:]
    for migration in migrations {
      guard migration.version > 0 else {
        throw PostgresError.client(
          .invalidArgument, "Migration \(migration.name) has version \(migration.version); versions start at 1.")
      }
      if let other = seen[migration.version] {
        throw PostgresError.client(
          .invalidArgument,
          "Migrations \(other) and \(migration.name) have the same version \(migration.version).")
      }
      seen[migration.version] = migration.name
    }
  }
}
