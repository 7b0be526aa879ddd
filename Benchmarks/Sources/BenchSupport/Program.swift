import Foundation

/// Helpers the benchmark executables share.

/// User + system CPU seconds of this process or of its waited-for children.
public func cpuSeconds(_ who: __rusage_who) -> Double {
  var usage = rusage()
  getrusage(who.rawValue, &usage)
  return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Programs a benchmark runs beside itself (pgbench).
public enum Program {
  /// Runs a program to its end and returns what it printed. Spawned with an empty signal mask:
  /// a thread of Swift's pool may block signals, and pgbench's -T relies on SIGALRM. Waited for
  /// on a thread of its own.
  public static func run(_ executable: String, _ arguments: [String]) async throws -> String {
    try await run(executable, arguments, whileRunning: { _ in }).output
  }

  /// Runs a program to its end, calling `observe` with its process id as soon as it is
  /// spawned (for example to sample its CPU time from /proc while it runs); returns what it
  /// printed and what `observe` returned, once both are done.
  public static func run<Observation: Sendable>(
    _ executable: String, _ arguments: [String],
    whileRunning observe: @escaping @Sendable (pid_t) async -> Observation
  ) async throws -> (output: String, observation: Observation) {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgbench-\(UUID()).out").path
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw NSError(domain: "postgres-bench", code: 1) }
    defer {
      close(fd)
      unlink(path)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, fd, 1)
    posix_spawn_file_actions_adddup2(&actions, fd, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, executable, &actions, &attributes, argv, environ) == 0 else {
      throw NSError(domain: "postgres-bench", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable)"])
    }
    let child = pid
    async let observation = observe(child)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      Thread {
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        continuation.resume()
      }.start()
    }
    return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "", await observation)
  }
}
