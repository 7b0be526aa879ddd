/// Every message and enum in the descriptor set, by fully qualified name, with the Swift and C
/// names the emitter needs and the facts about the type graph that shape the Swift types.
struct TypeTable {
  struct Entry {
    var fullName: String
    /// Qualified Swift name, for example `CommerceV1.Product.Variant`.
    var swiftName: String
    /// protoc-c's struct or enum typedef name.
    var cName: String
    /// protoc-c's lower-case prefix for functions and descriptors.
    var cLower: String
    var message: MessageDescriptor?
    var enumeration: EnumDescriptor?
  }

  private(set) var entries: [String: Entry] = [:]
  /// Messages in a cycle of any kind of field, whose nesting depth the schema does not bound.
  private(set) var maxDepth: [String: Int] = [:]

  init(files: [FileDescriptor], stripPrefix: String) {
    for file in files {
      let namespace = Naming.namespace(forPackage: file.package, strippingPrefix: stripPrefix)
      for message in file.messages {
        add(message, protoScope: file.package, swiftScope: namespace)
      }
      for enumeration in file.enums {
        add(enumeration, protoScope: file.package, swiftScope: namespace)
      }
    }
    let messages = entries.keys.filter { entries[$0]?.message != nil }
    let recursive = Set(messages.filter { reachable(from: $0).contains($0) })
    for name in messages {
      let unbounded = recursive.contains(name) || !reachable(from: name).isDisjoint(with: recursive)
      if unbounded { maxDepth[name] = Int.max }
    }
    for name in messages where maxDepth[name] == nil {
      _ = depth(of: name)
    }
  }

  subscript(_ typeName: String) -> Entry {
    let key = typeName.hasPrefix(".") ? String(typeName.dropFirst()) : typeName
    guard let entry = entries[key] else { fatalError("unknown type \(typeName)") }
    return entry
  }

  private mutating func add(_ message: MessageDescriptor, protoScope: String, swiftScope: String) {
    let fullName = protoScope.isEmpty ? message.name : protoScope + "." + message.name
    let swiftName = swiftScope + "." + message.name
    entries[fullName] = Entry(
      fullName: fullName, swiftName: swiftName, cName: Naming.cTypeName(fullName),
      cLower: Naming.cLowerName(fullName), message: message, enumeration: nil)
    for nested in message.nested {
      add(nested, protoScope: fullName, swiftScope: swiftName)
    }
    for enumeration in message.enums {
      add(enumeration, protoScope: fullName, swiftScope: swiftName)
    }
  }

  private mutating func add(_ enumeration: EnumDescriptor, protoScope: String, swiftScope: String) {
    let fullName = protoScope + "." + enumeration.name
    entries[fullName] = Entry(
      fullName: fullName, swiftName: swiftScope + "." + enumeration.name,
      cName: Naming.cTypeName(fullName), cLower: Naming.cLowerName(fullName),
      message: nil, enumeration: enumeration)
  }

  /// The deepest nesting of messages a value of this type can have (1 for a message without
  /// message fields), or `Int.max` when the type can contain itself (set up front in `init`).
  private mutating func depth(of name: String) -> Int {
    if let known = maxDepth[name] { return known }
    var deepest = 0
    for field in entries[name]?.message?.fields ?? [] where field.kind == .message {
      deepest = max(deepest, depth(of: String(field.typeName.dropFirst())))
    }
    let result = deepest == Int.max ? Int.max : deepest + 1
    maxDepth[name] = result
    return result
  }

  /// Every message type a value of `from` can contain, at any depth, through any field.
  private func reachable(from: String) -> Set<String> {
    var seen: Set<String> = []
    var stack = [from]
    while let current = stack.popLast() {
      for field in entries[current]?.message?.fields ?? [] where field.kind == .message {
        let child = String(field.typeName.dropFirst())
        if seen.insert(child).inserted { stack.append(child) }
      }
    }
    return seen
  }

  /// Whether a value of `from` can contain a value of `to` inline, that is through singular
  /// message fields or oneof members (arrays and dictionaries already live on the heap).
  func embeds(_ from: String, _ to: String) -> Bool {
    var seen: Set<String> = []
    var stack = [from]
    while let current = stack.popLast() {
      guard let message = entries[current]?.message else { continue }
      for field in message.fields where field.kind == .message && !field.isRepeated {
        let child = String(field.typeName.dropFirst())
        if child == to { return true }
        if seen.insert(child).inserted { stack.append(child) }
      }
    }
    return false
  }
}
