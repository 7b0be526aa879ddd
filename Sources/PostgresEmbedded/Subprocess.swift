import Foundation

/// Runs a program to completion without blocking a thread of Swift's cooperative pool: a
/// ``ChildProcess`` starts it and its reaper thread resumes the waiting task.
///
/// Standard input is `/dev/null`; standard output and standard error go, interleaved, to an
/// unlinked temporary file that is read once the program has exited. A file rather than a pipe
/// means that a grandchild which inherits the descriptor (the postmaster that `pg_ctl start`
/// leaves running, say) can never make the wait hang on end-of-file.
struct Subprocess: Sendable {
  /// How a program ended and what it printed.
  struct Outcome: Sendable {
    /// The exit status, or the signal number when ``signalled`` is true.
    var status: Int32
    /// True when a signal ended the program.
    var signalled: Bool
    /// Standard output and standard error, interleaved, decoded as UTF-8.
    var output: String

    var succeeded: Bool { !self.signalled && self.status == 0 }

    /// "exit status 1" or "signal 15", for messages.
    var statusDescription: String {
      self.signalled ? "signal \(self.status)" : "exit status \(self.status)"
    }
  }

  /// The program to run (an absolute path).
  var executable: String
  /// The arguments, not including the program itself.
  var arguments: [String]

  /// Runs the program and waits for it to exit.
  ///
  /// Cancelling the calling task sends the program `SIGTERM`, waits for it to exit and then
  /// throws `CancellationError`; a program cancelled before it started is never started.
  ///
  /// - Parameter interruptible: False for a program that must not be stopped halfway, such as
  ///   `pg_ctl start`, whose postmaster could otherwise be left starting up unseen: it is started
  ///   even if the task is already cancelled (the caller checked before deciding to run it) and
  ///   runs to its end; `CancellationError` is thrown after it exits.
  /// - Throws: `CancellationError`, or ``EmbeddedPostgresError/Code/commandFailed`` when the
  ///   program cannot be started at all. A program that runs and fails is not an error here:
  ///   check ``Outcome/succeeded``.
  func run(interruptible: Bool = true) async throws -> Outcome {
    if interruptible {
      try Task.checkCancellation()
    }
    let capture = try OutputCapture()
    let child = try ChildProcess.spawn(
      self.executable, self.arguments, output: capture.handle.fileDescriptor)
    let termination = await withTaskCancellationHandler {
      await child.waitForExit()
    } onCancel: {
      if interruptible {
        child.signal(SIGTERM)
      }
    }
    let output = capture.readAll()
    try Task.checkCancellation()
    return Outcome(status: termination.status, signalled: termination.signalled, output: output)
  }
}

/// An unlinked temporary file that a child writes its output to.
private struct OutputCapture {
  let handle: FileHandle

  init() throws {
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("emporium-subprocess-\(UUID().uuidString)").path
    // O_CLOEXEC: only the child we hand it to (through dup2) may inherit it, not every other
    // program this process starts at the same moment.
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw EmbeddedPostgresError(
        code: .commandFailed,
        message:
          "Could not create a temporary file in \(FileManager.default.temporaryDirectory.path) "
          + "for a program's output: \(String(cString: strerror(errno)))."
      )
    }
    unlink(path)
    self.handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
  }

  /// Everything written so far (the child shares the file offset, so seek back first).
  func readAll() -> String {
    defer { try? self.handle.close() }
    guard (try? self.handle.seek(toOffset: 0)) != nil,
      let data = try? self.handle.readToEnd()
    else {
      return ""
    }
    return String(decoding: data, as: UTF8.self)
  }
}
