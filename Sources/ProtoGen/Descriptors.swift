/// The parts of `google/protobuf/descriptor.proto` the generator uses, decoded from a
/// `FileDescriptorSet` with ``WireReader``. Field numbers below are descriptor.proto's.

struct FileDescriptor {
  var name = ""
  var package = ""
  var dependencies: [String] = []
  var messages: [MessageDescriptor] = []
  var enums: [EnumDescriptor] = []
  var services: [ServiceDescriptor] = []
  /// Leading comments by SourceCodeInfo path (for example `[4, 0, 2, 1]` is message 0, field 1).
  var comments: [[Int32]: String] = [:]

  static func set(from bytes: [UInt8]) throws -> [FileDescriptor] {
    var reader = WireReader(bytes)
    var files: [FileDescriptor] = []
    while let (number, wireType) = try reader.nextField() {
      if number == 1, wireType == 2 {
        var sub = try reader.message()
        files.append(try FileDescriptor(&sub))
      } else {
        try reader.skip(wireType: wireType)
      }
    }
    return files
  }

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (2, 2): package = try reader.string()
      case (3, 2): dependencies.append(try reader.string())
      case (4, 2):
        var sub = try reader.message()
        messages.append(try MessageDescriptor(&sub))
      case (5, 2):
        var sub = try reader.message()
        enums.append(try EnumDescriptor(&sub))
      case (6, 2):
        var sub = try reader.message()
        services.append(try ServiceDescriptor(&sub))
      case (9, 2):
        var sub = try reader.message()
        try readSourceCodeInfo(&sub)
      default: try reader.skip(wireType: wireType)
      }
    }
  }

  private mutating func readSourceCodeInfo(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      guard number == 1, wireType == 2 else {
        try reader.skip(wireType: wireType)
        continue
      }
      var location = try reader.message()
      var path: [Int32] = []
      var leading = ""
      while let (n, w) = try location.nextField() {
        switch (n, w) {
        case (1, _): path.append(contentsOf: try location.int32s(wireType: w))
        case (3, 2): leading = try location.string()
        default: try location.skip(wireType: w)
        }
      }
      if !leading.isEmpty { comments[path] = leading }
    }
  }
}

struct MessageDescriptor {
  var name = ""
  var fields: [FieldDescriptor] = []
  var nested: [MessageDescriptor] = []
  var enums: [EnumDescriptor] = []
  var oneofs: [String] = []
  var isMapEntry = false

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (2, 2):
        var sub = try reader.message()
        fields.append(try FieldDescriptor(&sub))
      case (3, 2):
        var sub = try reader.message()
        nested.append(try MessageDescriptor(&sub))
      case (4, 2):
        var sub = try reader.message()
        enums.append(try EnumDescriptor(&sub))
      case (7, 2):
        var options = try reader.message()
        while let (n, w) = try options.nextField() {
          if n == 7, w == 0 { isMapEntry = try options.bool() } else { try options.skip(wireType: w) }
        }
      case (8, 2):
        var sub = try reader.message()
        while let (n, w) = try sub.nextField() {
          if n == 1, w == 2 { oneofs.append(try sub.string()) } else { try sub.skip(wireType: w) }
        }
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

struct FieldDescriptor {
  /// descriptor.proto's FieldDescriptorProto.Type numbers.
  enum Kind: Int32 {
    case double = 1, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message,
      bytes, uint32, `enum`, sfixed32, sfixed64, sint32, sint64
  }

  var name = ""
  var number: Int32 = 0
  var isRepeated = false
  var kind: Kind = .int32
  /// Fully qualified with a leading dot, for message and enum fields.
  var typeName = ""
  var oneofIndex: Int?
  var jsonName = ""
  var isProto3Optional = false

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (3, 0): self.number = try reader.int32()
      case (4, 0): isRepeated = try reader.int32() == 3
      case (5, 0):
        let raw = try reader.int32()
        guard let kind = Kind(rawValue: raw) else {
          throw WireReader.Malformed(description: "unknown field type \(raw)")
        }
        self.kind = kind
      case (6, 2): typeName = try reader.string()
      case (9, 0): oneofIndex = Int(try reader.int32())
      case (10, 2): jsonName = try reader.string()
      case (17, 0): isProto3Optional = try reader.bool()
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

struct EnumDescriptor {
  var name = ""
  var values: [(name: String, number: Int32)] = []

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (2, 2):
        var sub = try reader.message()
        var valueName = ""
        var valueNumber: Int32 = 0
        while let (n, w) = try sub.nextField() {
          switch (n, w) {
          case (1, 2): valueName = try sub.string()
          case (2, 0): valueNumber = try sub.int32()
          default: try sub.skip(wireType: w)
          }
        }
        values.append((valueName, valueNumber))
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

struct ServiceDescriptor {
  var name = ""
  var methods: [MethodDescriptor] = []

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (2, 2):
        var sub = try reader.message()
        methods.append(try MethodDescriptor(&sub))
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

struct MethodDescriptor {
  var name = ""
  var inputType = ""
  var outputType = ""
  var clientStreaming = false
  var serverStreaming = false
  /// MethodOptions.idempotency_level: 0 unknown, 1 NO_SIDE_EFFECTS, 2 IDEMPOTENT.
  var idempotencyLevel: UInt64 = 0
  /// The `(emporium.rpc.v1.access)` option (proto/emporium/rpc/v1/options.proto), if set.
  var access: AccessRule?

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 2): name = try reader.string()
      case (2, 2): inputType = try reader.string()
      case (3, 2): outputType = try reader.string()
      case (4, 2):
        var options = try reader.message()
        while let (n, w) = try options.nextField() {
          switch (n, w) {
          case (34, 0): idempotencyLevel = try options.varint()
          case (AccessRule.extensionNumber, 2):
            var rule = try options.message()
            access = try AccessRule(&rule)
          default: try options.skip(wireType: w)
          }
        }
      case (5, 0): clientStreaming = try reader.bool()
      case (6, 0): serverStreaming = try reader.bool()
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

/// `emporium.rpc.v1.AccessRule`, the method option that says who may call a method.
struct AccessRule: Equatable {
  /// The extension's field number in `google.protobuf.MethodOptions`.
  static let extensionNumber = 51001

  var anonymous = false
  var anyUser = false
  var roles: [String] = []
  var owner = false
  var services: [String] = []

  init(anonymous: Bool = false, anyUser: Bool = false, roles: [String] = [], owner: Bool = false, services: [String] = []) {
    self.anonymous = anonymous
    self.anyUser = anyUser
    self.roles = roles
    self.owner = owner
    self.services = services
  }

  init(_ reader: inout WireReader) throws {
    while let (number, wireType) = try reader.nextField() {
      switch (number, wireType) {
      case (1, 0): anonymous = try reader.bool()
      case (2, 0): anyUser = try reader.bool()
      case (3, 2): roles.append(try reader.string())
      case (4, 0): owner = try reader.bool()
      case (5, 2): services.append(try reader.string())
      default: try reader.skip(wireType: wireType)
      }
    }
  }
}

extension FileDescriptor {
  /// Whether the file only declares options for the generator (it imports descriptor.proto, or
  /// is descriptor.proto): such files get no C or Swift code.
  var declaresOptionsOnly: Bool {
    name == "google/protobuf/descriptor.proto" || dependencies.contains("google/protobuf/descriptor.proto")
  }
}
