/// Name conversions: protoc-c's C names (which the generated Swift must match exactly) and the
/// Swift names the bindings expose.
enum Naming {
  // MARK: protoc-c (mirrors protoc-c/c_helpers.cc)

  /// `emporium.commerce.v1.Product` -> `Emporium__Commerce__V1__Product` (FullNameToC).
  static func cTypeName(_ fullName: String) -> String {
    fullName.split(separator: ".").map { toCamel(String($0)) }.joined(separator: "__")
  }

  /// `emporium.commerce.v1.Product` -> `emporium__commerce__v1__product` (FullNameToLower).
  static func cLowerName(_ fullName: String) -> String {
    fullName.split(separator: ".").map { camelToLower(String($0)) }.joined(separator: "__")
  }

  /// A field's C member name (FieldName: lower-cased, `_` appended to C/C++ keywords).
  static func cFieldName(_ name: String) -> String {
    let lower = name.lowercased()
    return cKeywords.contains(lower) ? lower + "_" : lower
  }

  private static func toCamel(_ name: String) -> String {
    var result = ""
    var nextIsUpper = true
    for ch in name {
      if ch == "_" {
        nextIsUpper = true
      } else if nextIsUpper {
        result += ch.uppercased()
        nextIsUpper = false
      } else {
        result.append(ch)
      }
    }
    return result
  }

  private static func camelToLower(_ name: String) -> String {
    var result = ""
    var wasUpper = true
    for ch in name {
      let isUpper = ch.isASCII && ch.isUppercase
      if isUpper {
        if !wasUpper { result += "_" }
        result += ch.lowercased()
      } else {
        result.append(ch)
      }
      wasUpper = isUpper
    }
    return result
  }

  private static let cKeywords: Set<String> = [
    "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char",
    "class", "compl", "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float", "for", "friend",
    "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "not", "not_eq",
    "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "return", "short", "signed", "sizeof", "static", "static_cast", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typeid", "typename", "union",
    "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
  ]

  // MARK: Swift

  /// The namespace enum for a proto package: `emporium.commerce.v1` -> `CommerceV1` when
  /// `emporium` is the stripped prefix; `google.protobuf` -> `GoogleProtobuf`.
  static func namespace(forPackage package: String, strippingPrefix prefix: String) -> String {
    var parts = package.split(separator: ".").map(String.init)
    if !prefix.isEmpty, parts.count > 1, parts.first == prefix { parts.removeFirst() }
    return parts.map { upperCamel($0) }.joined()
  }

  /// `snake_case` or `lowerCamel` -> `UpperCamel`.
  static func upperCamel(_ name: String) -> String {
    let lower = lowerCamel(name)
    guard let first = lower.first else { return lower }
    return first.uppercased() + lower.dropFirst()
  }

  /// `snake_case` -> `lowerCamel`, as protoc's json_name does; digits start a new word.
  static func lowerCamel(_ name: String) -> String {
    var result = ""
    var capitalizeNext = false
    for ch in name {
      if ch == "_" {
        capitalizeNext = !result.isEmpty
      } else if capitalizeNext {
        result += ch.uppercased()
        capitalizeNext = false
      } else {
        result.append(ch)
      }
    }
    return result
  }

  /// A Swift identifier for a property or case, escaped when it is a keyword.
  static func swiftIdentifier(_ name: String) -> String {
    if reservedMembers.contains(name) { return name + "_" }
    if swiftKeywords.contains(name) { return "`\(name)`" }
    if let first = name.first, first.isNumber { return "_" + name }
    return name
  }

  /// The Swift case name of an enum value: the enum's UPPER_SNAKE prefix removed, then
  /// lowerCamel (`ORDER_STATUS_PENDING_PAYMENT` in `OrderStatus` -> `pendingPayment`).
  static func enumCaseName(_ valueName: String, enumName: String) -> String {
    let prefix = upperSnake(enumName) + "_"
    var stripped = valueName
    if valueName.hasPrefix(prefix), valueName.count > prefix.count {
      stripped = String(valueName.dropFirst(prefix.count))
    }
    return swiftIdentifier(lowerCamel(stripped.lowercased()))
  }

  /// `OrderStatus` -> `ORDER_STATUS`.
  static func upperSnake(_ camel: String) -> String {
    var result = ""
    var previousWasLowerOrDigit = false
    for ch in camel {
      if ch.isUppercase, previousWasLowerOrDigit { result += "_" }
      result += ch.uppercased()
      previousWasLowerOrDigit = ch.isLowercase || ch.isNumber
    }
    return result
  }

  /// Members that every generated message already has.
  private static let reservedMembers: Set<String> = [
    "self", "Type", "Protocol", "unknownFields", "init", "hashValue", "encode",
  ]

  private static let swiftKeywords: Set<String> = [
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import",
    "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows",
    "static", "struct", "subscript", "typealias", "var", "break", "case", "continue", "default",
    "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
    "switch", "where", "while", "as", "catch", "false", "is", "nil", "super", "throw", "throws",
    "true", "try", "any", "some", "Any",
  ]
}
