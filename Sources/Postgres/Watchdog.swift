import Foundation

/// A small `/bin/sh` process that stops the cluster, and removes a temporary data directory, once
/// the owner process is gone — however it went, `SIGKILL` included.
///
/// It polls `/proc/<owner>/stat` every half second. The owner counts as gone when that file is
/// missing, when the process is a zombie, or when its start time differs from the one first seen
/// (the PID was reused). Then it runs `pg_ctl stop -m immediate` for a temporary cluster (its data
/// is about to be deleted) or `-m fast` for a user-named one (a clean shutdown), kills the
/// postmaster outright if that failed (checking that the pid in `postmaster.pid` still belongs
/// to a process named `postgres`), and removes the directory if it is temporary.
///
/// It runs in a session of its own (`setsid`) and ignores `SIGINT` and `SIGHUP`, so a terminal's
/// Ctrl-C or hang-up ends the owner but not the watchdog, which then cleans up after it. It
/// inherits no descriptors but `/dev/null`, so it holds none of the owner's pipes open.
/// ``terminate()`` (`SIGTERM`) retires it once ``EmbeddedPostgres/stop()`` has done the work.
struct Watchdog: Sendable {
  private let process: ChildProcess

  /// The shell script; arguments: owner PID, pg_ctl, data directory, stop mode, "remove" or
  /// "keep", then the command prefix that runs pg_ctl as the server's account.
  static let script = #"""
    trap '' INT HUP
    owner=$1 pgctl=$2 datadir=$3 mode=$4 remove=$5
    shift 5
    started=
    alive() {
      line=
      { read -r line < "/proc/$owner/stat"; } 2>/dev/null || return 1
      set -f
      set -- ${line##*) }
      set +f
      case $1 in Z|X|x) return 1 ;; esac
      [ -n "$started" ] || started=${20}
      [ "$started" = "${20}" ]
    }
    while alive; do sleep 0.5; done
    if [ -f "$datadir/postmaster.pid" ]; then
      if ! "$@" "$pgctl" stop -D "$datadir" -m "$mode" -w -t 30 >/dev/null 2>&1; then
        postmaster= name=
        { read -r postmaster < "$datadir/postmaster.pid"; read -r name < "/proc/$postmaster/comm"; } 2>/dev/null
        if [ "$name" = postgres ]; then kill -KILL "$postmaster" 2>/dev/null; fi
      fi
    fi
    if [ "$remove" = remove ]; then rm -rf -- "$datadir"; fi
    """#

  /// Starts a watchdog for the cluster in `dataDirectory`, owned by process `owner`.
  static func spawn(
    owner: pid_t,
    binaries: PostgresBinaries,
    dataDirectory: DataDirectory,
    account: ServerAccount
  ) throws -> Self {
    let arguments =
      [
        "-c", Self.script, "emporium-pg-watchdog",
        String(owner),
        binaries.pgCtl,
        dataDirectory.path,
        dataDirectory.isTemporary ? "immediate" : "fast",
        dataDirectory.isTemporary ? "remove" : "keep",
      ] + account.commandPrefix
    do {
      return Self(process: try ChildProcess.spawn("/bin/sh", arguments, newSession: true))
    } catch let error as EmbeddedPostgresError {
      throw EmbeddedPostgresError(
        code: error.code,
        message: "Could not start the cleanup watchdog: \(error.message)"
      )
    }
  }

  /// Stops the watchdog without letting it clean up (the caller has done that).
  func terminate() {
    self.process.signal(SIGTERM)
  }
}
