import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time of this process, user plus system, all threads (getrusage RUSAGE_SELF), in seconds:
/// what the load generator itself spends, to report beside what it offered.
public func processCPUSeconds() -> Double {
  var usage = rusage()
  #if canImport(Glibc)
  getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
  #else
  getrusage(RUSAGE_SELF, &usage)
  #endif
  func seconds(_ value: timeval) -> Double { Double(value.tv_sec) + Double(value.tv_usec) / 1_000_000 }
  return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The processors this process may run on: its CPU affinity (`Cpus_allowed` in
/// /proc/self/status, so `taskset -c 1` gives 1), or every active processor where that cannot
/// be read.
public func processorsAvailable() -> Int {
  let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
  return status.flatMap(allowedProcessors(status:)) ?? ProcessInfo.processInfo.activeProcessorCount
}

/// The processors the `Cpus_allowed` line of a /proc/PID/status text allows (a hexadecimal
/// mask in groups of 32 bits separated by commas: "ff,ffffffff"); nil without one.
func allowedProcessors(status: String) -> Int? {
  guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
  let mask = line.dropFirst("Cpus_allowed:".count).filter { $0 != "," && $0 != " " && $0 != "\t" }
  let count = mask.reduce(0) { total, digit in total + (digit.hexDigitValue ?? 0).nonzeroBitCount }
  return count > 0 ? count : nil
}
