import Foundation
import Synchronization

/// A child process started with `posix_spawn` and reaped by a thread of its own.
///
/// Why not Foundation's `Process`: on Linux it learns that a child exited when a socket it hands
/// to the child reaches end-of-file, and every descendant inherits that socket. `pg_ctl start`
/// leaves a postmaster running that would hold it forever, so `terminationHandler` would never
/// run (seen in practice: the wait hung with the `pg_ctl` process a zombie). Here the child gets
/// only standard input, output and error — every other descriptor is closed in the child — and a
/// dedicated thread blocks in `waitid`, so no thread of Swift's cooperative pool ever waits.
final class ChildProcess: Sendable {
  /// How a child ended.
  struct Termination: Sendable, Hashable {
    /// The exit status, or the signal number when ``signalled`` is true.
    var status: Int32
    /// True when a signal ended the child.
    var signalled: Bool
  }

  /// The child's process id; valid for ``signal(_:)`` until the child has exited.
  let pid: pid_t

  private struct State {
    /// True once the child has exited (it may not be reaped yet, so its pid is still its own).
    var exited = false
    var termination: Termination?
    var waiters: [CheckedContinuation<Termination, Never>] = []
  }

  private let state = Mutex(State())

  private init(pid: pid_t) {
    self.pid = pid
  }

  /// Starts `executable` with `arguments` and this process's environment, working directory `/`,
  /// standard input `/dev/null`, and standard output and error on `output` (or `/dev/null`).
  ///
  /// - Parameters:
  ///   - output: A descriptor the child's standard output and error go to; nil for `/dev/null`.
  ///   - newSession: Start the child in a session (and so a process group) of its own, out of
  ///     reach of signals a terminal sends to this process's group.
  /// - Throws: ``EmbeddedPostgresError/Code/commandFailed`` when the program cannot be started.
  static func spawn(
    _ executable: String,
    _ arguments: [String],
    output: Int32? = nil,
    newSession: Bool = false
  ) throws -> ChildProcess {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if let output {
      posix_spawn_file_actions_adddup2(&actions, output, 1)
      posix_spawn_file_actions_adddup2(&actions, output, 2)
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
      posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    GlibcExtensions.addCloseFrom(&actions, 3)
    GlibcExtensions.addChangeDirectory(&actions, "/")

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    let flags =
      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
      | (newSession ? GlibcExtensions.spawnSetSessionID : 0)
    posix_spawnattr_setflags(&attributes, Int16(flags))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer {
      for argument in argv {
        free(argument)
      }
    }

    var pid: pid_t = 0
    let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard status == 0 else {
      throw EmbeddedPostgresError(
        code: .commandFailed,
        message: "Could not run \(executable): \(String(cString: strerror(status)))."
      )
    }

    let child = ChildProcess(pid: pid)
    let reaper = Thread { child.reap() }
    reaper.name = "emporium-pg-reaper-\(pid)"
    reaper.start()
    return child
  }

  /// Sends `signal` to the child if it has not exited yet (never to a reused pid).
  func signal(_ signal: Int32) {
    self.state.withLock { state in
      if !state.exited {
        kill(self.pid, signal)
      }
    }
  }

  /// Waits until the child has exited. Not cancellable; cancel by sending a signal.
  func waitForExit() async -> Termination {
    await withCheckedContinuation { continuation in
      let termination = self.state.withLock { state -> Termination? in
        if let termination = state.termination {
          return termination
        }
        state.waiters.append(continuation)
        return nil
      }
      if let termination {
        continuation.resume(returning: termination)
      }
    }
  }

  /// Runs on the reaper thread: waits for the exit without reaping, marks the child exited (so
  /// ``signal(_:)`` stops sending while the pid still belongs to the zombie), then reaps it.
  private func reap() {
    var info = siginfo_t()
    while waitid(P_PID, id_t(self.pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
    self.state.withLock { $0.exited = true }

    var status: Int32 = 0
    var reaped: pid_t
    repeat {
      reaped = waitpid(self.pid, &status, 0)
    } while reaped < 0 && errno == EINTR
    // WIFEXITED: the low seven bits are zero, and the exit status is in the next byte;
    // otherwise the low seven bits are the signal. -1: someone else reaped the child.
    let termination =
      if reaped < 0 {
        Termination(status: -1, signalled: false)
      } else if status & 0x7f == 0 {
        Termination(status: (status >> 8) & 0xff, signalled: false)
      } else {
        Termination(status: status & 0x7f, signalled: true)
      }
    let waiters = self.state.withLock { state in
      state.termination = termination
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters {
      waiter.resume(returning: termination)
    }
  }
}
