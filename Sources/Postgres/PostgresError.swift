/// An error from the PostgreSQL driver: a connection, the pool, a transaction, the migrator or
/// decoding a row.
///
/// ``code`` says what kind of failure it is in a way code can match on; ``sqlState`` carries the
/// server's five-character SQLSTATE when the server reported the error (and
/// ``Code/queryCancelled`` and ``Code/statementTimeout`` carry `57014` too).
///
/// ## What the description never contains
///
/// Bound parameter values are never stored in an error, and neither is a connection URL or its
/// password: messages from libpq are scrubbed of the configured password. ``description`` is
/// meant for logs that may reach people who must not see data, so it also leaves out the
/// server's message, detail and hint (which can quote values: `Key (email)=(a@b.c) already
/// exists`); it names the code, the SQLSTATE and its condition, and the schema objects involved.
/// ``debugDescription`` (`String(reflecting: error)`) adds the server's message, detail and hint
/// for debugging. The properties are always available to code.
public struct PostgresError: Error, Sendable, Hashable {
  /// The fields, behind one reference: an error is one word wide, so results, pipeline events
  /// and `Result`s that may carry one are cheap to copy on the I/O thread's hot path (the
  /// fields inline were about 180 bytes, copied with every result read). Copy on write.
  private var box: Box

  private var fields: Fields {
    get { self.box.fields }
    _modify {
      if !isKnownUniquelyReferenced(&self.box) {
        self.box = Box(self.box.fields)
      }
      yield &self.box.fields
    }
  }

  /// What kind of failure this is.
  public var code: Code {
    get { self.box.fields.code }
    set { self.fields.code = newValue }
  }

  /// The SQLSTATE the server reported (for example `40001`), or nil for a client-side failure.
  public var sqlState: String? {
    get { self.box.fields.sqlState }
    set { self.fields.sqlState = newValue }
  }

  /// The primary message: the server's (which may quote values), or the driver's own (which
  /// never does).
  public var message: String {
    get { self.box.fields.message }
    set { self.fields.message = newValue }
  }

  /// The server's DETAIL field; may quote values.
  public var detail: String? {
    get { self.box.fields.detail }
    set { self.fields.detail = newValue }
  }

  /// The server's HINT field.
  public var hint: String? {
    get { self.box.fields.hint }
    set { self.fields.hint = newValue }
  }

  /// The schema, table, column, data type and constraint the server named, when it named them.
  public var schemaName: String? {
    get { self.box.fields.schemaName }
    set { self.fields.schemaName = newValue }
  }
  /// See ``schemaName``.
  public var tableName: String? {
    get { self.box.fields.tableName }
    set { self.fields.tableName = newValue }
  }
  /// See ``schemaName``.
  public var columnName: String? {
    get { self.box.fields.columnName }
    set { self.fields.columnName = newValue }
  }
  /// See ``schemaName``.
  public var dataTypeName: String? {
    get { self.box.fields.dataTypeName }
    set { self.fields.dataTypeName = newValue }
  }
  /// See ``schemaName``.
  public var constraintName: String? {
    get { self.box.fields.constraintName }
    set { self.fields.constraintName = newValue }
  }

  /// What the driver was doing, when that helps (`Migration 0003_add_index of schema catalog`);
  /// written by the driver, never holding values.
  public var context: String? {
    get { self.box.fields.context }
    set { self.fields.context = newValue }
  }

  /// True when ``message`` came from the server (and so may quote data).
  var messageIsFromServer: Bool {
    get { self.box.fields.messageIsFromServer }
    set { self.fields.messageIsFromServer = newValue }
  }

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - code: What kind of failure this is.
  ///   - sqlState: The server's SQLSTATE, if the server reported the error.
  ///   - message: The primary message; must not contain secrets or parameter values when the
  ///     driver writes it.
  public init(code: Code, sqlState: String? = nil, message: String) {
    self.box = Box(Fields(code: code, sqlState: sqlState, message: message))
  }

  public static func == (lhs: PostgresError, rhs: PostgresError) -> Bool {
    lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(self.box.fields)
  }

  /// True for `40001` (serialization_failure) and `40P01` (deadlock_detected): the transaction
  /// lost a race and running it again may succeed.
  public var isTransactionConflict: Bool {
    self.sqlState == SQLState.serializationFailure || self.sqlState == SQLState.deadlockDetected
  }
}

extension PostgresError {
  private struct Fields: Hashable {
    var code: Code
    var sqlState: String?
    var message: String
    var detail: String?
    var hint: String?
    var schemaName: String?
    var tableName: String?
    var columnName: String?
    var dataTypeName: String?
    var constraintName: String?
    var context: String?
    var messageIsFromServer = false
  }

  /// `@unchecked Sendable`: an error shares a box only while no copy writes to it; a write to a
  /// shared box copies it first (``fields``), as `Array` does with its buffer.
  private final class Box: @unchecked Sendable {
    var fields: Fields

    init(_ fields: Fields) {
      self.fields = fields
    }
  }
}

extension PostgresError: CustomStringConvertible, CustomDebugStringConvertible {
  /// The code, the SQLSTATE with its condition name and the objects the server named, or the
  /// driver's own message for client-side failures. Never the server's message, detail or hint,
  /// and never a parameter value or a password.
  public var description: String {
    var parts = ["code: \(self.code)"]
    if let context = self.context {
      parts.append("context: \(context)")
    }
    if let sqlState = self.sqlState {
      if let name = SQLState.conditionName(sqlState) {
        parts.append("sqlState: \(sqlState) (\(name))")
      } else {
        parts.append("sqlState: \(sqlState)")
      }
    }
    if !self.messageIsFromServer {
      // Written by the driver, which never puts values or secrets in a message.
      parts.append("message: \(self.message)")
    }
    for (label, value) in [
      ("schema", self.schemaName), ("table", self.tableName), ("column", self.columnName),
      ("type", self.dataTypeName), ("constraint", self.constraintName),
    ] {
      if let value {
        parts.append("\(label): \(value)")
      }
    }
    return "PostgresError(\(parts.joined(separator: ", ")))"
  }

  /// ``description`` plus the server's message, detail and hint, for debugging. Still never a
  /// bound parameter value (the driver does not keep them) nor a password, but the server's
  /// message and detail may quote data.
  public var debugDescription: String {
    var text = self.description
    if self.messageIsFromServer {
      text += " message: \(self.message)"
    }
    if let detail = self.detail {
      text += " detail: \(detail)"
    }
    if let hint = self.hint {
      text += " hint: \(hint)"
    }
    return text
  }
}

extension PostgresError {
  /// The kind of a ``PostgresError``.
  ///
  /// A struct rather than an enum so that kinds can be added without breaking code that matches
  /// on the existing ones; compare with `==` or match with `case .server:`.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: String, Hashable, Sendable {
      case server
      case connectionFailed
      case connectionClosed
      case connectionUnavailable
      case poolClosed
      case acquireTimeout
      case statementTimeout
      case queryCancelled
      case typeMismatch
      case unexpectedNull
      case malformedValue
      case columnNotFound
      case unsupportedResult
      case invalidArgument
      case migrationFailed
      case checksumMismatch
      case transactionFailed
    }

    private let wrapped: Wrapped

    private init(_ wrapped: Wrapped) {
      self.wrapped = wrapped
    }

    /// The code's name, such as `acquireTimeout`.
    public var description: String { self.wrapped.rawValue }

    /// The server rejected a statement; ``PostgresError/sqlState`` says why.
    public static let server = Self(.server)
    /// A connection could not be established (refused, authentication, timeout).
    public static let connectionFailed = Self(.connectionFailed)
    /// The connection closed while the request was in flight: it may or may not have run.
    public static let connectionClosed = Self(.connectionClosed)
    /// The connection closed before the request was sent: it did not run. The pool retries these
    /// itself for statements outside a transaction.
    public static let connectionUnavailable = Self(.connectionUnavailable)
    /// The pool was closed.
    public static let poolClosed = Self(.poolClosed)
    /// No connection became available within the pool's acquire timeout.
    public static let acquireTimeout = Self(.acquireTimeout)
    /// The caller's deadline passed before the statement finished; the server-side statement was
    /// cancelled. SQLSTATE `57014`.
    public static let statementTimeout = Self(.statementTimeout)
    /// The statement was cancelled by someone other than this driver (`pg_cancel_backend`, say).
    public static let queryCancelled = Self(.queryCancelled)
    /// A column's type cannot be decoded as the Swift type asked for.
    public static let typeMismatch = Self(.typeMismatch)
    /// A column is NULL but a non-optional Swift type was asked for.
    public static let unexpectedNull = Self(.unexpectedNull)
    /// A value's bytes are not what its type promises (or do not fit the Swift type).
    public static let malformedValue = Self(.malformedValue)
    /// No column has the name asked for, or the index is out of range.
    public static let columnNotFound = Self(.columnNotFound)
    /// The statement produced a result this driver does not handle (`COPY`).
    public static let unsupportedResult = Self(.unsupportedResult)
    /// An argument cannot be used (too many parameters, an unusable identifier, ...).
    public static let invalidArgument = Self(.invalidArgument)
    /// A migration's SQL failed; the message names the migration.
    public static let migrationFailed = Self(.migrationFailed)
    /// An applied migration's SQL changed since it was applied.
    public static let checksumMismatch = Self(.checksumMismatch)
    /// A transaction could not be committed (the server rolled it back) or retries ran out.
    public static let transactionFailed = Self(.transactionFailed)
  }
}

extension PostgresError {
  /// A client-side error whose message the driver wrote.
  static func client(_ code: Code, _ message: String) -> Self {
    Self(code: code, message: message)
  }

  /// A copy with ``context`` set (such as a migration's name).
  func with(context: String) -> Self {
    var copy = self
    copy.context = context
    return copy
  }
}
