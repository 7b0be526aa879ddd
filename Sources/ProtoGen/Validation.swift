/// Checks for proto constructs that protoc-c accepts but whose C output does not compile, so
/// `make generate` fails with a message that names the proto instead of a C compiler error.
enum Validation {
  /// C keywords (C11 and the GNU extensions clang accepts by default).
  private static let cKeywords: Set<String> = [
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "asm", "typeof",
  ]

  static func problems(in files: [FileDescriptor]) -> [String] {
    var problems: [String] = []
    for file in files {
      for service in file.services {
        for method in service.methods {
          // protoc-c names each method's member of the service struct CamelToLower(name).
          let cName = Naming.cLowerName(method.name)
          if cKeywords.contains(cName) {
            problems.append(
              "\(file.name): rpc \(service.name).\(method.name) becomes the C keyword '\(cName)' in protoc-c's service struct; rename the rpc")
          }
        }
      }
    }
    return problems
  }
}
