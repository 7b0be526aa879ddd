/// A condition selecting rows by a list of keys, written so that PostgreSQL can keep one plan
/// for the statement: `column = $n` with the key itself when there is one key, `column = ANY($n)`
/// with the array otherwise.
///
/// Why it matters: a prepared statement's generic plan for `= ANY($n)` is costed for an array
/// of unknown length, so for the one or two keys most calls carry it always costs more than a
/// plan made for the values, and PostgreSQL plans such a statement again on every call (a
/// product page read spent 1.07 ms planning for 0.2 ms of execution; docs/PERFORMANCE.md,
/// "Product pages without a count"). With `= $n` the generic plan and the custom one agree, and
/// after its first executions on a connection the statement is no longer planned.
///
/// ```swift
/// let match = PostgresKeyMatch("p.id", parameter: 1, ids)
/// try await pool.query("SELECT ... FROM catalog.products p WHERE \(match.condition)", [match.value])
/// ```
public struct PostgresKeyMatch: Sendable {
  /// The condition, such as `p.id = $1` or `p.id = ANY($1)`.
  public let condition: String
  /// The parameter to bind at the condition's position: the key, or the array of keys.
  public let value: any PostgresEncodable

  /// - Parameters:
  ///   - column: The column (or expression) the keys select.
  ///   - index: The parameter's position in the statement (`$index`).
  ///   - keys: The keys; an empty list matches nothing.
  public init<Key: PostgresArrayEncodable>(_ column: String, parameter index: Int, _ keys: [Key]) {
    if keys.count == 1 {
      self.condition = "\(column) = $\(index)"
      self.value = keys[0]
    } else {
      self.condition = "\(column) = ANY($\(index))"
      self.value = keys
    }
  }
}
