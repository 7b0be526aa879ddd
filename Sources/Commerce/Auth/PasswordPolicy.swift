/// The password policy of auth.proto: 10 to 128 characters, and not on the list of the most
/// common (breached) passwords, compared case-insensitively.
public struct PasswordPolicy: Sendable {
  public static let minimumLength = 10
  public static let maximumLength = 128

  /// Why a password is refused.
  public enum Violation: Sendable, Hashable, CustomStringConvertible {
    case tooShort
    case tooLong
    case common

    public var description: String {
      switch self {
      case .tooShort: "must be at least \(PasswordPolicy.minimumLength) characters"
      case .tooLong: "must be at most \(PasswordPolicy.maximumLength) characters"
      case .common: "is too common; choose a password that is not on lists of breached passwords"
      }
    }
  }

  private let denied: Set<String>

  /// A policy refusing `commonPasswords` (compared in lower case) as well as the shipped list.
  public init(commonPasswords: some Sequence<String> = []) {
    self.denied = Set(CommonPasswords.list.map { $0.lowercased() }).union(commonPasswords.map { $0.lowercased() })
  }

  /// The policy with the shipped list.
  public static let standard = PasswordPolicy()

  /// Why `password` is refused, or nil when it is acceptable. The password itself never
  /// appears in the result.
  public func violation(of password: String) -> Violation? {
    let count = password.count
    if count < Self.minimumLength { return .tooShort }
    if count > Self.maximumLength { return .tooLong }
    let folded = password.lowercased()
    if denied.contains(folded) { return .common }
    // One character repeated ("aaaaaaaaaa") is as weak as any listed password.
    if Set(folded).count == 1 { return .common }
    return nil
  }
}

/// The most common passwords of at least 10 characters, from public breach corpora (shorter ones
/// are refused by length already). Lower case; matching folds case.
enum CommonPasswords {
  static let list: [String] = [
    "1234567890", "0123456789", "9876543210", "0987654321", "12345678910", "123456789a",
    "a123456789", "1234567890a", "123456789q", "12345678900", "123456789012", "1234567891",
    "1234512345", "1234554321", "1122334455", "1212121212", "1111111111", "0000000000",
    "11111111111", "123123123123", "1231231231", "1234567899", "5555555555", "7777777777",
    "qwertyuiop", "qwertyuiop123", "qwerty1234", "qwerty12345", "qwerty123456", "qwerty123!",
    "1q2w3e4r5t", "1q2w3e4r5t6y", "q1w2e3r4t5", "q1w2e3r4t5y6", "1qaz2wsx3edc", "zaq12wsxcde",
    "zaq1zaq1zaq1", "qazwsxedcrfv", "qazwsxedc123", "asdfghjkl1", "asdfghjkl123", "asdfasdfasdf",
    "zxcvbnm123", "zxcvbnmasdf", "1234qwerasdf", "qwer1234asdf", "abcdefghij", "abcdefghijk",
    "abc1234567", "abcd123456", "abcde12345", "aa12345678", "password12", "password123",
    "password1234", "password12345", "password123!", "password!!", "passwordpassword",
    "passw0rd123", "p@ssw0rd123", "p@ssword123", "mypassword", "mypassword1", "mypassword123",
    "newpassword", "newpassword1", "changeme123", "changemenow", "letmein123", "letmein1234",
    "welcome123", "welcome1234", "welcome2024", "welcome2025", "welcome2026", "iloveyou12",
    "iloveyou123", "iloveyou1234", "princess123", "football123", "football12", "baseball123",
    "basketball", "basketball1", "sunshine123", "superman123", "batman1234", "starwars123",
    "computer123", "michael123", "jennifer123", "whatever123", "internet123", "samsung123",
    "monkey1234", "dragon1234", "trustno1234", "administrator", "administrator1", "adminadmin",
    "admin12345", "admin123456", "rootpassword", "qwertyqwerty", "1qazxsw23edc", "1q2w3e4r5t6y7u",
    "charlie123", "jordan2323", "liverpool1", "chelsea123", "arsenal123", "pokemon123",
    "spiderman1", "starwars12", "master1234", "secret1234", "summer2024", "summer2025",
    "winter2024", "winter2025", "spring2025", "autumn2025", "emporium123", "emporium2026",
    "letmeinplease", "pass123456", "pass1234567", "test123456", "testtest123", "guest12345",
    "loveyou123", "hello12345", "hello123456", "helloworld", "helloworld1", "freedom123",
    "shadow1234", "mustang123", "harley1234", "ranger1234", "thomas1234", "soccer1234",
    "hockey1234", "killer1234", "george1234", "andrew1234", "joshua1234", "pepper1234",
    "ginger1234", "cookie1234", "matrix1234", "buster1234", "tigger1234", "chocolate1",
    "chocolate123", "butterfly1", "butterfly123", "sunflower1", "strawberry", "strawberry1",
    "blink18218", "metallica1", "nirvana123", "q2w3e4r5t6", "1a2b3c4d5e", "a1b2c3d4e5",
    "a1s2d3f4g5", "z1x2c3v4b5", "1234abcd!!", "asdf123456", "zxcv123456", "qwer123456",
  ]
}
