import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a benchmark reads about a process from /proc.
public enum ProcFS {
  private static let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))

  /// User plus system CPU time of process `pid` (all threads), from /proc/PID/stat fields 14
  /// and 15, in seconds (resolution: one clock tick, usually 10 ms).
  public static func cpuSeconds(pid: pid_t) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / clockTicks
  }

  /// Resident set size of process `pid` (VmRSS from /proc/PID/status), in KiB.
  public static func residentKiB(pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
      return Int(line.dropFirst("VmRSS:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
  }

  /// This process's resident set size in KiB.
  public static func ownResidentKiB() -> Int? { residentKiB(pid: getpid()) }
}
