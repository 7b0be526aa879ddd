import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stdout and flushes it (the orchestrator reads stdout through a pipe).
func emitLine(_ line: String) {
  print(line)
  fflush(nil)  // all streams: stdout is a pipe, so fully buffered
}

/// Progress on stderr (stdout carries the tables).
func log(_ message: String) {
  FileHandle.standardError.write(Data("echo-bench: \(message)\n".utf8))
}
