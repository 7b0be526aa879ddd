import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The machine the numbers came from.
struct Machine: Codable {
  var cpus: Int
  var model: String
  var kernel: String
  /// The clock /proc/cpuinfo reports ("cpu MHz" of the first CPU; nil where it reports none).
  var cpuMHz: Double? = nil

  /// "Machine: 2 CPUs, AMD EPYC at 2,596 MHz, Linux 6.18.44.", the line every report starts with.
  var line: String {
    "Machine: \(cpus) CPUs, \(model)" + (cpuMHz.map { " at \(Report.format($0)) MHz" } ?? "") + ", Linux \(kernel)."
  }

  static func current() -> Machine {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
      cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
      .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "?"
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let mhz =
      cpuinfo.split(separator: "\n").first { $0.hasPrefix("cpu MHz") }
      .flatMap { $0.split(separator: ":", maxSplits: 1).last.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
    return Machine(cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), model: model, kernel: release, cpuMHz: mhz)
  }
}
