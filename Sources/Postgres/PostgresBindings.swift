/// The parameters of one statement, encoded in binary format, ready for `PQsendQueryPrepared`.
struct PostgresBindings: Sendable, Hashable {
  /// Every non-NULL value's bytes, back to back.
  var bytes: [UInt8] = []
  /// Each parameter's length; -1 for NULL.
  var lengths: [Int32] = []
  /// Each parameter's type OID.
  var types: [UInt32] = []

  /// The most parameters one statement can have (the protocol counts them in 16 bits).
  static let maximumCount = 65_535

  init() {}

  /// Encodes `values`.
  ///
  /// - Throws: ``PostgresError/Code/invalidArgument`` for more than 65,535 parameters or a value
  ///   of 1 GiB or more.
  init(_ values: [any PostgresEncodable]) throws {
    guard values.count <= Self.maximumCount else {
      throw PostgresError.client(
        .invalidArgument,
        "A statement can have at most \(Self.maximumCount) parameters; got \(values.count).")
    }
    self.lengths.reserveCapacity(values.count)
    self.types.reserveCapacity(values.count)
    for value in values {
      self.append(value)
    }
    guard self.bytes.count < Int(Int32.max) else {
      throw PostgresError.client(.invalidArgument, "The parameters add up to 2 GiB or more.")
    }
  }

  var count: Int { self.types.count }

  mutating func append(_ value: some PostgresEncodable) {
    self.types.append(type(of: value).postgresType.oid)
    if value.isPostgresNull {
      self.lengths.append(-1)
      return
    }
    let start = self.bytes.count
    value.encode(into: &self.bytes)
    self.lengths.append(Int32(self.bytes.count - start))
  }
}
