import ArgumentParser
import Messages
import RPC

extension Rpcctl {
  /// `rpcctl health [SERVICE]`: the serving status of the server or one service.
  struct Health: TerminalCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check the health of a server or one of its services.",
      discussion: """
        Prints the status: SERVING, NOT_SERVING, UNSPECIFIED or SERVICE_UNKNOWN. Exits 0 when \
        SERVING, 14 (UNAVAILABLE) for any other status, and the call's status code when the check \
        itself fails (5, NOT_FOUND, for a service the server does not host). With --watch, prints \
        every change until the deadline passes or the server ends the stream.
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var settings: CallSettings

    @Argument(help: "A service (full name, or a short one resolved through reflection); default: the whole server.")
    var service: String?

    @Flag(help: "Stream status changes (HealthService.Watch) instead of checking once.")
    var watch = false

    func execute(on terminal: Terminal) async throws -> Int32 {
      try await Session.with(connection, terminal: terminal) { session in
        let options = settings.callOptions
        let name = try await serviceName(session: session, options: options)
        let client = RpcV1.HealthService.Client(session.connection)
        let request = RpcV1.HealthCheckRequest.with { $0.service = name }
        let subject = name.isEmpty ? "the server" : name
        session.log.info("checking \(subject)")
        if watch {
          var last: RpcV1.ServingStatus = .unspecified
          try await client.watch(request, options: options) { responses in
            for try await response in responses {
              last = response.status
              terminal.output.write(Self.name(of: response.status) + "\n")
            }
          }
          return last == .serving ? 0 : Int32(RPCStatusCode.unavailable.rawValue)
        }
        let status = try await client.check(request, options: options).status
        terminal.output.write(Self.name(of: status) + "\n")
        guard status == .serving else {
          throw CommandFailure(.unavailable, "\(subject) is \(Self.name(of: status))")
        }
        return 0
      }
    }

    /// The full service name: short names are resolved through reflection when the server
    /// offers it, and used as given otherwise.
    private func serviceName(session: Session, options: CallOptions) async throws -> String {
      guard let service, !service.isEmpty else { return "" }
      guard !service.contains(".") else { return service }
      let services = try? await Reflector(session.connection, options: options).serviceNames()
      if let services, case .found(let fullName) = ServiceMatch(service, among: services) { return fullName }
      return service
    }

    /// `SERVING`, `NOT_SERVING`... (the enum value name without its prefix).
    static func name(of status: RpcV1.ServingStatus) -> String {
      let full = RpcV1.ServingStatus.protoValueNames[status.rawValue] ?? "\(status.rawValue)"
      return full.hasPrefix("SERVING_STATUS_") ? String(full.dropFirst("SERVING_STATUS_".count)) : full
    }
  }
}
