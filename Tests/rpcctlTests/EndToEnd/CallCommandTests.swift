import Foundation
import Messages
import RPC
import TestSupport
import Testing

@testable import rpcctl

@Suite("call against a running server", .timeLimit(.minutes(2)))
struct CallCommandTests {
  @Test("unary: -d JSON in, one JSON line out, exit 0")
  func unary() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["call", "EchoService/Echo", "-d", #"{"message": "hi", "payload": "AAE="}"#], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.errors.isEmpty)
      #expect(result.lines.count == 1)
      let response = try #require(result.lines.first)
      #expect(response.hasPrefix(#"{"message":"hi","payload":"AAE=","requestCount":1,"serverInstance":""#), "\(response)")
      // Every method form reaches the same method.
      for name in ["emporium.rpc.v1.EchoService/Echo", "/emporium.rpc.v1.EchoService/Echo", "emporium.rpc.v1.EchoService.Echo"] {
        let other = await rpcctl(["call", name, "-d", #"{"message": "hi"}"#], port: port)
        #expect(other.status == 0, "\(name): \(other.errors)")
      }
    }
  }

  @Test("unary without -d sends {}; --emit-defaults and --pretty shape the output")
  func defaultsAndPretty() async throws {
    try await withServer { _, port in
      let plain = await rpcctl(["call", "EchoService/Echo"], port: port)
      #expect(plain.status == 0, "\(plain.errors)")
      #expect(plain.lines.first?.hasPrefix(#"{"requestCount":1,"serverInstance":"#) == true)
      let defaults = await rpcctl(["call", "EchoService/Echo", "--emit-defaults"], port: port)
      #expect(defaults.lines.first?.hasPrefix(#"{"message":"","payload":"","sequence":0,"requestCount":1,"receivedMetadata":{},"#) == true)
      let pretty = await rpcctl(["call", "EchoService/Echo", "-d", #"{"message":"x"}"#, "--pretty"], port: port)
      #expect(pretty.output.hasPrefix("{\n  \"message\": \"x\",\n  \"requestCount\": 1,\n"))
    }
  }

  @Test("-d @FILE and -d @- read the request from a file and from standard input")
  func requestFromFileAndStandardInput() async throws {
    try await withServer { _, port in
      let file = FileManager.default.temporaryDirectory.appendingPathComponent("rpcctl-request-\(UUID()).json")
      try Data("{\n  \"message\": \"from file\"\n}\n".utf8).write(to: file)
      defer { try? FileManager.default.removeItem(at: file) }
      let fromFile = await rpcctl(["call", "EchoService/Echo", "-d", "@\(file.path)"], port: port)
      #expect(fromFile.lines.first?.hasPrefix(#"{"message":"from file""#) == true, "\(fromFile.errors)")
      let fromInput = await rpcctl(["call", "EchoService/Echo", "-d", "@-"], port: port, input: InputLines(["{", #""message": "piped"}"#]))
      #expect(fromInput.lines.first?.hasPrefix(#"{"message":"piped""#) == true, "\(fromInput.errors)")
      let missing = await rpcctl(["call", "EchoService/Echo", "-d", "@/nonexistent/request.json"], port: port)
      #expect(missing.status == 3)
      #expect(missing.errors == "rpcctl: INVALID_ARGUMENT: cannot read request file '/nonexistent/request.json'\n")
      let two = await rpcctl(["call", "EchoService/Echo", "-d", "{} {}"], port: port)
      #expect(two.status == 3)
      #expect(two.errors.contains("is unary and takes one request; the input holds 2"))
    }
  }

  @Test("server streaming: one request, each response a JSON line")
  func serverStreaming() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["call", "EchoService/Expand", "-d", #"{"message": "m", "repeatCount": 3}"#], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.lines.count == 3)
      for (index, line) in result.lines.enumerated() {
        let sequence = index == 0 ? "" : #""sequence":\#(index),"#
        #expect(line.hasPrefix(#"{"message":"m",\#(sequence)"requestCount":1"#), "\(line)")
      }
    }
  }

  @Test("client streaming: JSON lines from standard input, one response")
  func clientStreaming() async throws {
    try await withServer { _, port in
      let input = InputLines([#"{"message": "a", "payload": "AQ=="}"#, "", #"{"message": "b"}"#, "{", #"  "message": "c""#, "}"])
      let result = await rpcctl(["call", "EchoService/Collect"], port: port, input: input)
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.lines.count == 1)
      #expect(result.lines.first?.hasPrefix(#"{"message":"abc","payload":"AQ==","requestCount":3,"#) == true, "\(result.output)")
      // -d gives the whole stream instead.
      let inline = await rpcctl(["call", "EchoService/Collect", "-d", #"{"message": "x"} {"message": "y"}"#], port: port)
      #expect(inline.lines.first?.hasPrefix(#"{"message":"xy","requestCount":2,"#) == true, "\(inline.output)")
    }
  }

  @Test("bidirectional: each response is printed as soon as its request has been answered")
  func bidirectional() async throws {
    try await withServer { _, port in
      let (lines, feed) = AsyncThrowingStream<String, any Error>.makeStream()
      let output = BufferedOutput()
      let call = Task {
        await rpcctl(["call", "EchoService/Update"], port: port, input: InputLines(lines), output: output)
      }
      feed.yield(#"{"message": "one"}"#)
      #expect(await eventually { output.lines.count == 1 })
      feed.yield(#"{"message": "two", "repeatCount": 2}"#)
      #expect(await eventually { output.lines.count == 3 })
      feed.finish()
      let result = await call.value
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.lines.count == 3)
      #expect(result.lines[0].hasPrefix(#"{"message":"one","requestCount":1"#))
      #expect(result.lines[1].hasPrefix(#"{"message":"two","sequence":1,"requestCount":2"#))
      #expect(result.lines[2].hasPrefix(#"{"message":"two","sequence":2,"requestCount":2"#))
    }
  }

  @Test("a bad request in the middle of a stream cancels the call: exit 3, the server never sees a half-close")
  func badStreamedRequest() async throws {
    let events = EventLog()
    try await withServer(extraServices: [CollectorService(events: events)]) { _, port in
      let input = InputLines([#"{"name": "a"}"#, #"{"nam": "b"}"#, #"{"name": "c"}"#])
      let result = await rpcctl(["call", "CollectorService/Collect"], port: port, input: input)
      #expect(result.status == 3)
      #expect(result.output.isEmpty)
      #expect(
        result.errors
          == "rpcctl: INVALID_ARGUMENT: request 2 (emporium.testing.v1.Item): unknown field 'nam' in emporium.testing.v1.Item (did you mean 'name'?); valid fields: name, values\n"
      )
      // The server may or may not have read "a" before the cancel arrived; it never sees "c"
      // and never a half-close.
      #expect(await eventually { events.all.contains("ended without half-close") })
      #expect(events.all.allSatisfy { $0 == "item a" || $0 == "ended without half-close" }, "\(events.all)")

      let complete = await rpcctl(["call", "CollectorService/Collect"], port: port, input: InputLines([#"{"name": "x"}"#, #"{"name": "y"}"#]))
      #expect(complete.output == #"{"name":"x,y"}"# + "\n", "\(complete.errors)")
      #expect(events.all.suffix(3) == ["item x", "item y", "half-closed"])

      let broken = await rpcctl(["call", "EchoService/Update"], port: port, input: InputLines(["{}", "{\"message\": }"]))
      #expect(broken.status == 3)
      #expect(broken.errors.hasPrefix("rpcctl: INVALID_ARGUMENT: standard input line 2, column 13: invalid JSON: "), "\(broken.errors)")
    }
  }

  @Test("-H metadata reaches the server (echoed back through echo_metadata)")
  func metadata() async throws {
    try await withServer { _, port in
      let result = await rpcctl(
        ["call", "EchoService/Echo", "-d", #"{"echoMetadata": true}"#, "-H", "x-trace: abc-123", "-H", "Tenant:acme", "-H", "blob-bin:AAEC"],
        port: port)
      #expect(result.status == 0, "\(result.errors)")
      let line = try #require(result.lines.first)
      #expect(line.contains(#""receivedMetadata":{"blob-bin":"AAEC","tenant":"acme","x-trace":"abc-123"}"#), "\(line)")
    }
  }

  @Test("a passed deadline exits 4 with DEADLINE_EXCEEDED")
  func deadline() async throws {
    try await withServer { _, port in
      let clock = ContinuousClock()
      let start = clock.now
      let result = await rpcctl(["call", "EchoService/Echo", "-d", #"{"responseDelay": "30s"}"#, "--deadline", "200ms"], port: port)
      #expect(result.status == 4)
      #expect(result.errors.hasPrefix("rpcctl: DEADLINE_EXCEEDED"), "\(result.errors)")
      // Far sooner than the 30 s the server would wait (slack for a loaded machine).
      #expect(start.duration(to: clock.now) < .seconds(15))
      // The server sees the deadline: remainingDeadline is under it.
      let ok = await rpcctl(["call", "EchoService/Echo", "--deadline", "30s"], port: port)
      #expect(ok.lines.first?.contains(#""remainingDeadline":"2"#) == true || ok.lines.first?.contains(#""remainingDeadline":"29."#) == true, "\(ok.output)")
    }
  }

  @Test("the call's status is the exit status: NOT_FOUND from fail_with exits 5 with a one-line summary")
  func failureStatus() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["call", "EchoService/Echo", "-d", #"{"failWith": {"code": 5, "message": "no such order"}}"#], port: port)
      #expect(result.status == 5)
      #expect(result.errors == "rpcctl: NOT_FOUND: no such order\n")
      #expect(result.output.isEmpty)
      let detailed = await rpcctl(
        [
          "call", "EchoService/Echo", "-d",
          #"{"failWith": {"code": 9, "message": "stock reserved", "details": {"details": [{"errorInfo": {"reason": "STOCK_HELD", "domain": "inventory"}}, {"retryInfo": {"retryDelay": "1.5s"}}]}}}"#,
        ], port: port)
      #expect(detailed.status == 9)
      #expect(detailed.errors == "rpcctl: FAILED_PRECONDITION: stock reserved (reason STOCK_HELD in inventory; +1 more)\n")
      // A stream that fails after two responses prints them, then fails.
      let stream = await rpcctl(
        ["call", "EchoService/Expand", "-d", #"{"repeatCount": 5, "failWith": {"code": 8, "message": "enough", "afterResponses": 2}}"#], port: port)
      #expect(stream.status == 8)
      #expect(stream.lines.count == 2)
      #expect(stream.errors == "rpcctl: RESOURCE_EXHAUSTED: enough\n")
    }
  }

  @Test("an unknown method or service names the valid choices")
  func unknownMethod() async throws {
    try await withServer { _, port in
      let method = await rpcctl(["call", "EchoService/Ech", "-d", "{}"], port: port)
      #expect(method.status == 12)
      #expect(
        method.errors
          == "rpcctl: UNIMPLEMENTED: unknown method 'Ech' in emporium.rpc.v1.EchoService (did you mean 'Echo'?); its methods are Echo, Expand, Collect, Update\n"
      )
      let service = await rpcctl(["call", "OrderService/Checkout"], port: port)
      #expect(service.status == 12)
      #expect(service.errors.hasPrefix("rpcctl: UNIMPLEMENTED: unknown service 'OrderService'; the server hosts emporium.rpc.v1.EchoService, "))
    }
  }

  @Test("a bad field value names the field and what is valid")
  func badField() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["call", "EchoService/Echo", "-d", #"{"responsePayloadFill": "PAYLOAD_FILL_ONES"}"#], port: port)
      #expect(result.status == 3)
      #expect(
        result.errors
          == "rpcctl: INVALID_ARGUMENT: request (emporium.rpc.v1.EchoRequest): responsePayloadFill: unknown value 'PAYLOAD_FILL_ONES' for enum emporium.rpc.v1.PayloadFill; valid values: PAYLOAD_FILL_UNSPECIFIED, PAYLOAD_FILL_ZEROS, PAYLOAD_FILL_RANDOM, PAYLOAD_FILL_TEXT\n"
      )
    }
  }

  @Test("-v shows the method, metadata, headers, trailers, status, timings and bytes on the wire")
  func verbose() async throws {
    try await withServer { _, port in
      for compression in ["zstd", "none"] {
        let result = await rpcctl(
          ["call", "EchoService/Echo", "-v", "-H", "x-user: alice", "--compression", compression, "-d",
           #"{"responsePayloadSize": 20000, "responsePayloadFill": "PAYLOAD_FILL_ZEROS"}"#], port: port)
        #expect(result.status == 0, "\(result.errors)")
        let errors = result.errors
        for expected in [
          "* connected to 127.0.0.1:\(port) in ", ", compression \(compression)\n",
          "* resolved /emporium.rpc.v1.EchoService/Echo (unary): emporium.rpc.v1.EchoRequest -> emporium.rpc.v1.EchoResponse\n",
          "> /emporium.rpc.v1.EchoService/Echo (unary)\n", "> request metadata:\n>   x-user: alice\n",
          "< response headers:", "< trailers:", "< status: OK\n", "* sent 1 request, received 1 response\n",
          "* timings: connect ", " ms, reflection ", " ms, call: first response ", " ms, total ", "* bytes sent: ", "* bytes received: ",
        ] {
          #expect(errors.contains(expected), "\(compression): missing \(expected) in\n\(errors)")
        }
        // 20,000 zero bytes compress to almost nothing with zstd, and not at all without.
        let received = try #require(errors.split(separator: "\n").first { $0.hasPrefix("* bytes received: ") })
        let numbers = received.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 2)
        if compression == "zstd" {
          #expect(numbers[0] < 2000 && numbers[1] > 20_000, "\(received)")
        } else {
          #expect(numbers[0] == numbers[1] && numbers[1] > 20_000, "\(received)")
        }
      }
      let failed = await rpcctl(["call", "EchoService/Echo", "-v", "-d", #"{"failWith": {"code": 7, "message": "no", "details": {"details": [{"errorInfo": {"reason": "R"}}]}}}"#], port: port)
      #expect(failed.status == 7)
      #expect(failed.errors.contains("< status: PERMISSION_DENIED (7): no\n"))
      #expect(failed.errors.hasSuffix("rpcctl: PERMISSION_DENIED: no (reason R)\nrpcctl:   reason R\n"))
    }
  }

  @Test("AllTypes through a real server: every kind of field survives JSON → protobuf → JSON")
  func allTypesThroughServer() async throws {
    try await withServer { _, port in
      let request = """
        {"fDouble":-2.5,"fFloat":"Infinity","fInt32":-1,"fInt64":"9223372036854775807","fUint32":1,"fUint64":"18446744073709551615",\
        "fSint32":-3,"fSint64":"-4","fFixed32":5,"fFixed64":"6","fSfixed32":-7,"fSfixed64":"-8","fBool":true,"fString":"s",\
        "fBytes":"-_8","fItem":{"name":"i","values":[1,2]},"fColor":"COLOR_NEGATIVE","fTime":"2024-02-29T12:00:00.123Z",\
        "rDouble":["NaN",1],"rInt64":["1","-1"],"rBytes":["AA=="],"rItem":[{}],"rColor":["COLOR_RED",5],\
        "mStringInt64":{"z":"1","a":"-1"},"mInt32Item":{"-5":{"name":"m"}},"mBoolString":{"true":"t"},\
        "mUint64Color":{"1":"COLOR_DARK_GREEN"},"mStringBytes":{"b":"AQ=="},"oColor":"COLOR_UNSPECIFIED"}
        """
      let result = await rpcctl(["call", "AllTypesService/Reflect", "-d", request], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(
        result.lines.first
          == """
          {"fDouble":-2.5,"fFloat":"Infinity","fInt32":-1,"fInt64":"9223372036854775807","fUint32":1,"fUint64":"18446744073709551615",\
          "fSint32":-3,"fSint64":"-4","fFixed32":5,"fFixed64":"6","fSfixed32":-7,"fSfixed64":"-8","fBool":true,"fString":"s",\
          "fBytes":"+/8=","fItem":{"name":"i","values":[1,2]},"fColor":"COLOR_NEGATIVE","fTime":"2024-02-29T12:00:00.123Z",\
          "rDouble":["NaN",1],"rInt64":["1","-1"],"rBytes":["AA=="],"rItem":[{}],"rColor":["COLOR_RED",5],\
          "mStringInt64":{"a":"-1","z":"1"},"mInt32Item":{"-5":{"name":"m"}},"mBoolString":{"true":"t"},\
          "mUint64Color":{"1":"COLOR_DARK_GREEN"},"mStringBytes":{"b":"AQ=="},"oColor":"COLOR_UNSPECIFIED"}
          """)
    }
  }
}
