/// Heap storage for a message field whose type can contain the message itself (a struct cannot
/// hold itself inline). Immutable, so copies of the outer value stay independent: setting the
/// field replaces the box.
final class ProtoBox<Value: Hashable & Sendable>: Hashable, Sendable {
  let value: Value

  init(_ value: Value) { self.value = value }

  static func == (lhs: ProtoBox, rhs: ProtoBox) -> Bool { lhs.value == rhs.value }

  func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
