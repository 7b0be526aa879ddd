/// Why a message could not be encoded or decoded. Descriptions name the limit or the problem,
/// never the message's contents.
public struct ProtoError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The kind of failure; extensible, so switch with a default.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Value: String, Hashable, Sendable {
      case messageTooLarge, nestingTooDeep, allocationBudgetExceeded, malformed, invalidUTF8
      case stringContainsNUL
    }
    private let value: Value
    private init(_ value: Value) { self.value = value }

    /// The encoded message is larger than ``ProtoDecodingLimits/maxMessageSize``.
    public static let messageTooLarge = Code(.messageTooLarge)
    /// Messages are nested deeper than ``ProtoDecodingLimits/maxNestingDepth``.
    public static let nestingTooDeep = Code(.nestingTooDeep)
    /// Unpacking would allocate more than the budget ``ProtoDecodingLimits`` allows.
    public static let allocationBudgetExceeded = Code(.allocationBudgetExceeded)
    /// The bytes are not a valid encoding of the message.
    public static let malformed = Code(.malformed)
    /// A string field holds bytes that are not UTF-8.
    public static let invalidUTF8 = Code(.invalidUTF8)
    /// A string to encode holds U+0000, which protobuf-c's NUL-terminated strings cannot carry.
    public static let stringContainsNUL = Code(.stringContainsNUL)

    public var description: String { value.rawValue }
  }

  /// The kind of failure.
  public var code: Code
  /// What went wrong, for people; never includes message contents.
  public var message: String

  public init(code: Code, message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { "\(code): \(message)" }
}
