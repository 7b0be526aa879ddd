import ArgumentParser
import Foundation
import Messages
import ProtoJSON
import RPC

extension Rpcctl {
  /// `rpcctl call METHOD`: one call with JSON requests and JSON responses.
  struct Call: TerminalCommand {
    static let configuration = CommandConfiguration(
      abstract: "Call a method with JSON requests and print JSON responses.",
      discussion: """
        Requests and responses use the proto3 JSON mapping, converted with the schemas the \
        server's reflection gives. Each response is printed as one line of JSON as it arrives.

        Unary and server-streaming methods take one request: -d JSON, -d @FILE or -d @- \
        (standard input); without -d the request is {}. Client-streaming and bidirectional \
        methods take a stream: each JSON value on standard input (one per line; a value may \
        span lines) is sent as soon as it is complete, and the stream ends at end of input; \
        -d gives the whole stream instead.

        The exit status is the call's status code: 0 for OK, 4 for DEADLINE_EXCEEDED, 5 for \
        NOT_FOUND, and so on; failures print one line on standard error.
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var settings: CallSettings

    @Argument(help: "The method: Service/Method, package.Service/Method, /package.Service/Method or package.Service.Method.")
    var method: String

    @Option(
      name: [.customShort("d"), .customLong("data")],
      help: ArgumentHelp("The request JSON, @FILE to read it from a file, or @- for standard input.", valueName: "json"))
    var data: String?

    @Flag(help: "Also print fields that hold their zero value.")
    var emitDefaults = false

    @Flag(help: "Indent the JSON output over several lines.")
    var pretty = false

    func validate() throws {
      guard MethodReference(parsing: method) != nil else {
        throw ValidationError("'\(method)' does not name a method; use Service/Method or package.Service.Method")
      }
    }

    func execute(on terminal: Terminal) async throws -> Int32 {
      guard let reference = MethodReference(parsing: method) else { throw CommandFailure.usage("'\(method)' does not name a method") }
      return try await Session.with(connection, terminal: terminal) { session in
        let clock = ContinuousClock()
        let start = clock.now
        let reflector = Reflector(session.connection, options: settings.callOptions)
        let resolved = try await reflector.resolveMethod(reference)
        let reflection = start.duration(to: clock.now)
        session.log.info(
          "resolved \(resolved.descriptor.path) (\(resolved.kind.displayName)): \(resolved.descriptor.inputType) -> \(resolved.descriptor.outputType)"
        )
        let source = try await requestSource(for: resolved, terminal: terminal)
        let converter = MessageConverter(
          catalog: resolved.catalog, inputType: resolved.descriptor.inputType, outputType: resolved.descriptor.outputType,
          emitDefaults: emitDefaults, pretty: pretty)
        let execution = CallExecution(
          connection: session.connection, method: resolved, options: settings.callOptions, converter: converter,
          output: terminal.output, log: session.log,
          setupTimings: [("connect", session.connectDuration), ("reflection", reflection)])
        _ = try await execution.run(source)
        return 0
      }
    }

    /// The requests `-d` (or its absence) gives for this method.
    private func requestSource(for method: ResolvedMethod, terminal: Terminal) async throws -> RequestSource {
      let streaming = method.kind.streamsRequests
      let values: [JSONValue]
      switch data {
      case nil where streaming, "@-" where streaming:
        if terminal.inputIsInteractive {
          terminal.errors.write("rpcctl: reading requests from standard input, one JSON value per line; end with Ctrl-D\n")
        }
        return .lines(terminal.inputLines())
      case nil:
        values = [.object([])]
      case "@-":
        var text = ""
        for try await line in terminal.inputLines() { text += line + "\n" }
        values = try RequestReader.values(in: text, origin: "standard input")
      case let argument? where argument.hasPrefix("@"):
        let path = String(argument.dropFirst())
        guard let contents = FileManager.default.contents(atPath: path) else {
          throw CommandFailure.invalidInput("cannot read request file '\(path)'")
        }
        guard let text = String(validating: contents, as: UTF8.self) else {
          throw CommandFailure.invalidInput("request file '\(path)' is not UTF-8 text")
        }
        values = try RequestReader.values(in: text, origin: path)
      case let argument?:
        values = try RequestReader.values(in: argument, origin: "-d")
      }
      if !streaming, values.count != 1 {
        throw CommandFailure.invalidInput(
          "\(method.descriptor.path) is \(method.kind.displayName) and takes one request; the input holds \(values.count)")
      }
      // Check every request before the call starts, so bad input never opens a call.
      let converter = MessageConverter(catalog: method.catalog, inputType: method.descriptor.inputType, outputType: method.descriptor.outputType)
      for (index, value) in values.enumerated() {
        _ = try converter.encodeRequest(value, index: streaming ? index + 1 : 0)
      }
      return .values(values)
    }
  }
}
