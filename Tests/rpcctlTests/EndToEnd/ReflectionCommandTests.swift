import Messages
import RPC
import Testing

@testable import rpcctl

@Suite("list and describe against a running server", .timeLimit(.minutes(2)))
struct ReflectionCommandTests {
  @Test("list prints every hosted service; list SERVICE prints its methods")
  func list() async throws {
    try await withServer { _, port in
      let services = await rpcctl(["list"], port: port)
      #expect(services.status == 0, "\(services.errors)")
      #expect(
        services.lines == [
          "emporium.rpc.v1.EchoService", "emporium.rpc.v1.HealthService", "emporium.rpc.v1.ReflectionService",
          "emporium.testing.v1.AllTypesService",
        ])
      let methods = await rpcctl(["list", "EchoService"], port: port)
      #expect(methods.status == 0, "\(methods.errors)")
      #expect(
        methods.lines == [
          "emporium.rpc.v1.EchoService.Echo", "emporium.rpc.v1.EchoService.Expand", "emporium.rpc.v1.EchoService.Collect",
          "emporium.rpc.v1.EchoService.Update",
        ])
      let unknown = await rpcctl(["list", "EchoServic"], port: port)
      #expect(unknown.status == 5)
      #expect(unknown.errors.hasPrefix("rpcctl: NOT_FOUND: unknown service 'EchoServic' (did you mean 'emporium.rpc.v1.EchoService'?); the server hosts emporium.rpc.v1.EchoService, "))
    }
  }

  @Test("describe a service: one rpc line per method, streams marked")
  func describeService() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["describe", "emporium.rpc.v1.EchoService"], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(
        result.output == """
          // emporium.rpc.v1.EchoService
          service EchoService {
            rpc Echo(EchoRequest) returns (EchoResponse);
            rpc Expand(EchoRequest) returns (stream EchoResponse);
            rpc Collect(stream EchoRequest) returns (EchoResponse);
            rpc Update(stream EchoRequest) returns (stream EchoResponse);
          }

          """)
      // A short name works too.
      #expect(await rpcctl(["describe", "EchoService"], port: port).output == result.output)
    }
  }

  @Test("describe a method, in each of the forms a method may be named")
  func describeMethod() async throws {
    try await withServer { _, port in
      let expected = """
        // emporium.rpc.v1.EchoService.Collect (/emporium.rpc.v1.EchoService/Collect)
        rpc Collect(stream EchoRequest) returns (EchoResponse);

        """
      for name in [
        "emporium.rpc.v1.EchoService.Collect", "/emporium.rpc.v1.EchoService/Collect", "EchoService/Collect", "EchoService.Collect",
      ] {
        let result = await rpcctl(["describe", name], port: port)
        #expect(result.status == 0, "\(name): \(result.errors)")
        #expect(result.output == expected, "\(name)")
      }
      let unknown = await rpcctl(["describe", "EchoService/Colect"], port: port)
      #expect(unknown.status == 5)
      #expect(
        unknown.errors
          == "rpcctl: NOT_FOUND: no method 'Colect' in emporium.rpc.v1.EchoService (did you mean 'Collect'?); its methods are Echo, Expand, Collect, Update\n"
      )
    }
  }

  @Test("describe a message: scalars, repeated, maps, a oneof, nested enums, other packages")
  func describeMessage() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["describe", "emporium.testing.v1.AllTypes"], port: port)
      #expect(result.status == 0, "\(result.errors)")
      let text = result.output
      // Values come in declaration order, as the server lists them.
      #expect(text.hasPrefix("// emporium.testing.v1.AllTypes\nmessage AllTypes {\n  enum Color {\n    COLOR_UNSPECIFIED = 0;\n"))
      for line in [
        "  double f_double = 1;", "  int64 f_int64 = 4;", "  Item f_item = 16;", "  Color f_color = 17;",
        "  google.protobuf.Timestamp f_time = 18;", "  repeated double r_double = 21;", "  repeated Item r_item = 36;",
        "  map<string, int64> m_string_int64 = 41;", "  map<int32, Item> m_int32_item = 42;", "  map<uint64, Color> m_uint64_color = 44;",
        "  oneof choice {", "    string o_text = 51;", "    bytes o_bytes = 55;", "    COLOR_NEGATIVE = -1;",
      ] {
        #expect(text.contains(line + "\n"), "missing: \(line)")
      }
      #expect(text.hasSuffix("    bytes o_bytes = 55;\n  }\n}\n"))

      let short = await rpcctl(["describe", "EchoRequest", "--types"], port: port)
      #expect(short.status == 0, "\(short.errors)")
      #expect(short.output.hasPrefix("// emporium.rpc.v1.EchoRequest\nmessage EchoRequest {\n  string message = 1;\n"))
      #expect(short.output.contains("  google.protobuf.Duration response_delay = 4;\n"))
      // --types adds what the message uses, each once.
      #expect(short.output.contains("// google.protobuf.Duration\nmessage Duration {\n  int64 seconds = 1;\n  int32 nanos = 2;\n}\n"))
      #expect(short.output.contains("// emporium.rpc.v1.PayloadFill\nenum PayloadFill {\n"))
      #expect(short.output.contains("message BadRequest {\n  message FieldViolation {\n"))
      #expect(!short.output.contains("// emporium.rpc.v1.BadRequest.FieldViolation"))
    }
  }

  @Test("describe an enum; unknown symbols are NOT_FOUND")
  func describeEnum() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["describe", "emporium.testing.v1.AllTypes.Color"], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(
        result.output == """
          // emporium.testing.v1.AllTypes.Color
          enum Color {
            COLOR_UNSPECIFIED = 0;
            COLOR_RED = 1;
            COLOR_DARK_GREEN = 2;
            COLOR_NEGATIVE = -1;
          }

          """)
      let missing = await rpcctl(["describe", "EchoRequst"], port: port)
      #expect(missing.status == 5)
      #expect(missing.errors == "rpcctl: NOT_FOUND: no service, method, message or enum named 'EchoRequst' on the server (did you mean 'EchoRequest'?)\n")
    }
  }

  @Test("an unreachable server is UNAVAILABLE (14) with a clear message")
  func unreachable() async throws {
    let port = try await closedPort()
    let result = await rpcctl(["list", "--connect-timeout", "2s"], port: port)
    #expect(result.status == 14)
    #expect(result.errors.hasPrefix("rpcctl: UNAVAILABLE: could not connect to 127.0.0.1:\(port)"), "\(result.errors)")
    #expect(result.output.isEmpty)
  }

  @Test("EMPORIUM_ADDR names the server when --addr is absent")
  func environmentAddress() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["list"], environment: ["EMPORIUM_ADDR": "127.0.0.1:\(port)"])
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.lines.contains("emporium.rpc.v1.EchoService"))
    }
  }
}
