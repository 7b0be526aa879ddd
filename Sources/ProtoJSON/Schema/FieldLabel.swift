/// A field's cardinality.
package enum FieldLabel: Hashable, Sendable {
  /// One value at most.
  case singular
  /// A list (JSON array).
  case repeated
  /// A map (JSON object with string keys).
  case map
}
