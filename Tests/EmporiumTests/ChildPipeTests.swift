import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite("ChildPipe: a child's output ends for its reader when the child exits")
struct ChildPipeTests {
  /// Starts `/bin/sleep` with `posix_spawn` and no file actions, as any spawn that does not
  /// close other descriptors would: it inherits every descriptor not marked close-on-exec.
  static func bystander() throws -> pid_t {
    var pid: pid_t = 0
    let arguments: [UnsafeMutablePointer<CChar>?] = ["sleep", "120"].map { (word: String) in strdup(word) } + [nil]
    defer { arguments.forEach { free($0) } }
    guard posix_spawn(&pid, "/bin/sleep", nil, nil, arguments, environ) == 0 else { throw POSIXError(.ECHILD) }
    return pid
  }

  /// What `pid`'s open descriptors point at (`pipe:[inode]`, `socket:[inode]`, paths).
  static func openFiles(of pid: pid_t) throws -> Set<String> {
    let directory = "/proc/\(pid)/fd"
    return Set(
      try FileManager.default.contentsOfDirectory(atPath: directory).compactMap {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")
      })
  }

  static func target(of descriptor: Int32) throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)")
  }

  @Test("another child spawned meanwhile inherits Foundation's pipe but not a ChildPipe, and the reader sees the end")
  func noOtherChildHoldsTheWriteEnd() async throws {
    let foundationPipe = Pipe()
    let pipe = ChildPipe()
    let bystander = try Self.bystander()
    defer {
      kill(bystander, SIGKILL)
      var status: Int32 = 0
      waitpid(bystander, &status, 0)
    }
    let inherited = try Self.openFiles(of: bystander)
    // The mechanism of the hang: an inheritable write end stays open in an unrelated process.
    #expect(inherited.contains(try Self.target(of: foundationPipe.fileHandleForWriting.fileDescriptor)))
    #expect(!inherited.contains(try Self.target(of: pipe.writing.fileDescriptor)))
    #expect(!inherited.contains(try Self.target(of: pipe.reading.fileDescriptor)))

    // The child's output ends for the reader when the child exits, while the bystander, spawned
    // while the pipe was open, still runs.
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/echo")
    child.arguments = ["hello"]
    try pipe.run(child, asStandardError: false)
    let output = String(decoding: await pipe.reading.readToEndOffThePool(), as: UTF8.self)
    #expect(output == "hello\n")
    var status: Int32 = 0
    #expect(waitpid(bystander, &status, WNOHANG) == 0, "the bystander is still running")
  }
}
