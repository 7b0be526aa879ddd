import Messages
import ProtoJSON

/// Renders reflected schemas as .proto-like text for `rpcctl describe`.
///
/// Type names are written relative to the scope they appear in, as a .proto file would
/// (`EchoRequest` inside `emporium.rpc.v1`, `google.protobuf.Duration` from elsewhere). A
/// message's nested messages and enums (those the catalog holds under its name) are written
/// inside it. Each top-level definition is preceded by a comment with its full name.
struct ProtoText {
  let catalog: SchemaCatalog

  func service(_ service: RpcV1.ServiceSchema) -> String {
    let scope = Self.package(of: service.fullName)
    var text = "// \(service.fullName)\nservice \(Self.simpleName(service.fullName)) {\n"
    for method in service.methods {
      text += "  \(rpcLine(method, scope: scope))\n"
    }
    return text + "}\n"
  }

  func method(_ method: RpcV1.MethodSchema) -> String {
    "// \(method.serviceName).\(method.name) (\(method.fullPath))\n\(rpcLine(method, scope: Self.package(of: method.serviceName)))\n"
  }

  func message(_ type: MessageType) -> String {
    "// \(type.fullName)\n" + messageBody(type, indent: "", depth: 0)
  }

  func enumeration(_ type: EnumType) -> String {
    "// \(type.fullName)\n" + enumBody(type, indent: "")
  }

  // MARK: Pieces

  private func rpcLine(_ method: RpcV1.MethodSchema, scope: String) -> String {
    let input = Self.relative(method.inputTypeName, scope: scope)
    let output = Self.relative(method.outputTypeName, scope: scope)
    let streamIn = method.callKind == .clientStreaming || method.callKind == .bidiStreaming ? "stream " : ""
    let streamOut = method.callKind == .serverStreaming || method.callKind == .bidiStreaming ? "stream " : ""
    return "rpc \(method.name)(\(streamIn)\(input)) returns (\(streamOut)\(output));"
  }

  private func messageBody(_ type: MessageType, indent: String, depth: Int) -> String {
    var text = "\(indent)message \(Self.simpleName(type.fullName)) {\n"
    let inner = indent + "  "
    if depth < 8 {
      for nested in nestedTypes(of: type.fullName) {
        switch nested {
        case .message(let message): text += messageBody(message, indent: inner, depth: depth + 1)
        case .enumeration(let enumeration): text += enumBody(enumeration, indent: inner)
        }
      }
    }
    var writtenOneofs: Set<String> = []
    for field in type.fields {
      if let oneofName = field.oneofName, let oneof = type.oneofs.first(where: { $0.name == oneofName }),
        !type.isSyntheticOneof(oneof)
      {
        guard writtenOneofs.insert(oneofName).inserted else { continue }
        text += "\(inner)oneof \(oneofName) {\n"
        for member in type.members(ofOneof: oneofName) {
          text += "\(inner)  \(fieldLine(member, scope: type.fullName))\n"
        }
        text += "\(inner)}\n"
      } else {
        text += "\(inner)\(fieldLine(field, scope: type.fullName))\n"
      }
    }
    return text + "\(indent)}\n"
  }

  private func enumBody(_ type: EnumType, indent: String) -> String {
    var text = "\(indent)enum \(Self.simpleName(type.fullName)) {\n"
    for value in type.values {
      text += "\(indent)  \(value.name) = \(value.number);\n"
    }
    return text + "\(indent)}\n"
  }

  private func fieldLine(_ field: MessageField, scope: String) -> String {
    let valueType = typeText(field.kind, typeName: field.typeName, scope: scope)
    let declaration: String
    switch field.label {
    case .map:
      let key = field.mapKeyKind.map { typeText($0, typeName: "", scope: scope) } ?? "?"
      declaration = "map<\(key), \(valueType)>"
    case .repeated:
      declaration = "repeated \(valueType)"
    case .singular:
      let synthetic = field.oneofName.map { "_" + field.name == $0 } ?? false
      declaration = synthetic ? "optional \(valueType)" : valueType
    }
    return "\(declaration) \(field.name) = \(field.number);"
  }

  private func typeText(_ kind: FieldKind, typeName: String, scope: String) -> String {
    switch kind {
    case .message, .enumeration: Self.relative(typeName, scope: scope)
    default: kind.protoName
    }
  }

  private enum Nested {
    case message(MessageType)
    case enumeration(EnumType)
  }

  /// The messages and enums declared directly inside `fullName`, by name.
  private func nestedTypes(of fullName: String) -> [Nested] {
    let prefix = fullName + "."
    let isDirect = { (name: String) in name.hasPrefix(prefix) && !name.dropFirst(prefix.count).contains(".") }
    let enums = catalog.enums.values.filter { isDirect($0.fullName) }.sorted { $0.fullName < $1.fullName }
    let messages = catalog.messages.values.filter { isDirect($0.fullName) }.sorted { $0.fullName < $1.fullName }
    return enums.map(Nested.enumeration) + messages.map(Nested.message)
  }

  // MARK: Names

  /// The last component of a full name.
  static func simpleName(_ fullName: String) -> String {
    String(fullName.split(separator: ".").last ?? Substring(fullName))
  }

  /// The package of a full name: its leading components that start with a lower-case letter
  /// (protobuf style: packages are lower case, types are not).
  static func package(of fullName: String) -> String {
    fullName.split(separator: ".").prefix { $0.first?.isLowercase ?? false }.joined(separator: ".")
  }

  /// `name` as written inside `scope` (a package or a message's full name): the shortest
  /// suffix that still names it, found by dropping the longest enclosing scope it shares.
  static func relative(_ name: String, scope: String) -> String {
    var scopeParts = scope.split(separator: ".")
    let nameParts = name.split(separator: ".")
    while !scopeParts.isEmpty {
      if nameParts.count > scopeParts.count, Array(nameParts.prefix(scopeParts.count)) == scopeParts {
        return nameParts.dropFirst(scopeParts.count).joined(separator: ".")
      }
      scopeParts.removeLast()
    }
    return name
  }
}
