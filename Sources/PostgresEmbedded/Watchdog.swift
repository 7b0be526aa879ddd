import Foundation

/// A small `/bin/sh` process that stops the cluster, and removes a temporary data directory, once
/// the owner process is gone — however it went, `SIGKILL` included.
///
/// It polls `/proc/<owner>/stat` every half second. The owner counts as gone when that file is
/// missing, when the process is a zombie, or when its start time differs from the one first seen
/// (the PID was reused). Then it runs `pg_ctl stop -m immediate` for a temporary cluster (its data
/// is about to be deleted) or `-m fast` for a user-named one (a clean shutdown), kills the
/// postmaster outright if that failed (checking that the pid in `postmaster.pid` still belongs
/// to a process named `postgres`), and removes the directory if it is temporary. An owner that
/// died in the middle of ``EmbeddedPostgres/start(_:)`` may leave `initdb` or a starting
/// postmaster running, so it repeats this every half second until a temporary directory has
/// stayed gone for a second (giving up after a minute) or, for a named one, for two seconds.
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
    stop_server() {
      [ -f "$datadir/postmaster.pid" ] || return 0
      "$@" "$pgctl" stop -D "$datadir" -m "$mode" -w -t 30 >/dev/null 2>&1 && return 0
      postmaster= name=
      { read -r postmaster < "$datadir/postmaster.pid"; read -r name < "/proc/$postmaster/comm"; } 2>/dev/null
      if [ "$name" = postgres ]; then kill -KILL "$postmaster" 2>/dev/null; fi
    }
    # The owner may have died mid-start, leaving initdb or a starting postmaster behind: keep
    # stopping and removing until the directory stays gone for a second (temporary) or for two
    # seconds (named).
    tries=0 gone=0
    while [ "$tries" -lt 120 ]; do
      tries=$((tries + 1))
      stop_server "$@"
      if [ "$remove" = remove ]; then
        rm -rf -- "$datadir" 2>/dev/null
        if [ -e "$datadir" ]; then gone=0; else gone=$((gone + 1)); fi
        [ "$gone" -lt 3 ] || exit 0
      elif [ "$tries" -ge 4 ]; then
        exit 0
      fi
      sleep 0.5
    done
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
