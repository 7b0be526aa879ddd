import Messages
import ProtoJSON

/// One line per structured error detail, for the failure summary and `-v`.
enum ErrorDetailsSummary {
  static func lines(of details: RpcV1.ErrorDetails) -> [String] {
    details.details.compactMap { detail in
      switch detail.detail {
      case .errorInfo(let info):
        let metadata = info.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return "reason \(info.reason)" + (info.domain.isEmpty ? "" : " in \(info.domain)")
          + (metadata.isEmpty ? "" : " [\(metadata.joined(separator: ", "))]")
      case .badRequest(let request):
        let violations = request.fieldViolations.map { "\($0.field): \($0.messageText)" }
        return "bad request: " + violations.joined(separator: "; ")
      case .retryInfo(let retry):
        let delay = retry.retryDelay.map { (try? DurationText.format(seconds: $0.seconds, nanos: $0.nanos)) ?? "?" } ?? "0s"
        return "retry after \(delay)"
      case .quotaFailure(let failure):
        return "quota: " + failure.violations.map { "\($0.subject): \($0.messageText)" }.joined(separator: "; ")
      case .preconditionFailure(let failure):
        return "precondition: " + failure.violations.map { "\($0.kind) \($0.subject): \($0.messageText)" }.joined(separator: "; ")
      case .resourceInfo(let info):
        return "resource \(info.resourceKind) '\(info.resourceName)'" + (info.messageText.isEmpty ? "" : ": \(info.messageText)")
      case .debugInfo(let info):
        return "debug: \(info.detail)"
      case .localizedMessage(let message):
        return "message (\(message.locale)): \(message.message)"
      case .help(let help):
        return "help: " + help.links.map { "\($0.label) <\($0.url)>" }.joined(separator: ", ")
      case nil:
        return nil
      }
    }
  }
}
