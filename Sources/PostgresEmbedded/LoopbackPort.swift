import Foundation

/// Finds a TCP port on 127.0.0.1 that nothing listens on.
enum LoopbackPort {
  /// Binds a socket to 127.0.0.1 port 0, reads the port the kernel chose and closes the socket.
  ///
  /// Another process may take the port before the server binds it; the launcher notices
  /// ("Address already in use" in the server log) and tries again with a new one.
  static func free() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Self.error("socket") }
    defer { close(fd) }

    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0 else { throw Self.error("bind") }

    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        getsockname(fd, $0, &length)
      }
    }
    guard named == 0 else { throw Self.error("getsockname") }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  private static func error(_ call: String) -> EmbeddedPostgresError {
    EmbeddedPostgresError(
      code: .startFailed,
      message:
        "Could not find a free port on 127.0.0.1 (\(call): \(String(cString: strerror(errno))))."
    )
  }
}
