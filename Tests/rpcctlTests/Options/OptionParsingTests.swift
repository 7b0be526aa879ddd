import RPC
import Testing

@testable import rpcctl

@Suite("command-line values")
struct OptionParsingTests {
  @Test("addresses: host:port, [v6]:port, a bare host on the default port")
  func addresses() {
    #expect(HostPort(argument: "127.0.0.1:7700") == HostPort(host: "127.0.0.1", port: 7700))
    #expect(HostPort(argument: "api.internal:443") == HostPort(host: "api.internal", port: 443))
    #expect(HostPort(argument: "[::1]:9000") == HostPort(host: "::1", port: 9000))
    #expect(HostPort(argument: "[::1]")?.port == 7700)
    #expect(HostPort(argument: "localhost") == HostPort(host: "localhost", port: 7700))
    #expect(HostPort(argument: "[::1]:9000")?.description == "[::1]:9000")
    for bad in ["", ":7700", "host:", "host:0", "host:70000", "host:x", "::1:80", "[::1", "a b:1"] {
      #expect(HostPort(argument: bad) == nil, "\(bad)")
    }
  }

  @Test("durations take ns, us, ms, s, m and h; a bare number is seconds")
  func durations() {
    #expect(TimeSpan(argument: "5s")?.duration == .seconds(5))
    #expect(TimeSpan(argument: "250ms")?.duration == .milliseconds(250))
    #expect(TimeSpan(argument: "1.5s")?.duration == .milliseconds(1500))
    #expect(TimeSpan(argument: "2m")?.duration == .seconds(120))
    #expect(TimeSpan(argument: "1h")?.duration == .seconds(3600))
    #expect(TimeSpan(argument: "100us")?.duration == .microseconds(100))
    #expect(TimeSpan(argument: "10ns")?.duration == .nanoseconds(10))
    #expect(TimeSpan(argument: "3")?.duration == .seconds(3))
    for bad in ["", "0s", "-1s", "5x", "s", "ms", "+1s", "1e30h", "nan"] {
      #expect(TimeSpan(argument: bad) == nil, "\(bad)")
    }
  }

  @Test("metadata: key:value, keys lower-cased, -bin values are base64 bytes")
  func metadata() {
    #expect(MetadataEntry(argument: "X-Trace: abc def")?.key == "x-trace")
    #expect(MetadataEntry(argument: "X-Trace: abc def")?.value == .text("abc def"))
    #expect(MetadataEntry(argument: "authorization:Bearer a:b")?.value == .text("Bearer a:b"))
    #expect(MetadataEntry(argument: "blob-bin: AAEC")?.value == .binary([0, 1, 2]))
    #expect(MetadataEntry(argument: "empty:")?.value == .text(""))
    for bad in ["no-colon", ":value", "bad key:v", "k\u{e9}y:v", "k:caf\u{e9}", "blob-bin:!!"] {
      #expect(MetadataEntry(argument: bad) == nil, "\(bad)")
    }
  }

  @Test("method references in every accepted form")
  func methodReferences() {
    let full = MethodReference(service: "emporium.rpc.v1.EchoService", method: "Echo")
    #expect(MethodReference(parsing: "emporium.rpc.v1.EchoService/Echo") == full)
    #expect(MethodReference(parsing: "/emporium.rpc.v1.EchoService/Echo") == full)
    #expect(MethodReference(parsing: "emporium.rpc.v1.EchoService.Echo") == full)
    #expect(MethodReference(parsing: "EchoService/Echo") == MethodReference(service: "EchoService", method: "Echo"))
    #expect(MethodReference(parsing: "EchoService.Echo") == MethodReference(service: "EchoService", method: "Echo"))
    for bad in ["Echo", "/Echo", "EchoService/", "a/b/c", "EchoService/Echo.x", ""] {
      #expect(MethodReference(parsing: bad) == nil, "\(bad)")
    }
  }

  @Test("service names match fully, by unambiguous suffix, or not at all with a suggestion")
  func serviceMatching() {
    let services = ["emporium.commerce.v1.OrderService", "emporium.rpc.v1.EchoService", "other.v1.OrderService"]
    #expect(ServiceMatch("emporium.rpc.v1.EchoService", among: services) == .found("emporium.rpc.v1.EchoService"))
    #expect(ServiceMatch("EchoService", among: services) == .found("emporium.rpc.v1.EchoService"))
    #expect(ServiceMatch("v1.EchoService", among: services) == .found("emporium.rpc.v1.EchoService"))
    #expect(ServiceMatch("OrderService", among: services) == .ambiguous(["emporium.commerce.v1.OrderService", "other.v1.OrderService"]))
    #expect(ServiceMatch("EchoServce", among: services) == .none(suggestion: "emporium.rpc.v1.EchoService"))
    #expect(ServiceMatch("Nothing", among: services) == .none(suggestion: nil))
    #expect(ServiceMatch("Service", among: services) == .none(suggestion: nil))
  }

  @Test("input lines group into whole JSON values, whatever their layout")
  func chunking() {
    var chunker = JSONChunker()
    #expect(chunker.append("{\"a\": 1}")?.text == "{\"a\": 1}")
    #expect(chunker.append("") == nil)
    #expect(chunker.append("{") == nil)
    #expect(chunker.append("  \"b\": \"}{\\\"\",") == nil)
    let chunk = chunker.append("  \"c\": [1,")
    #expect(chunk == nil)
    let last = chunker.append("2]}  {}")
    #expect(last?.text == "{\n  \"b\": \"}{\\\"\",\n  \"c\": [1,\n2]}  {}")
    #expect(last?.firstLine == 3)
    #expect(chunker.append("{\"unfinished\": ") == nil)
    #expect(chunker.finish()?.firstLine == 7)
    #expect(chunker.finish() == nil)
  }

  @Test("ping statistics: min, average, nearest-rank median and p90, max")
  func pingStatistics() {
    let samples = (1...10).map { Duration.microseconds($0 * 100) }
    let statistics = PingStatistics(samples.shuffled())
    #expect(statistics.minimum == .microseconds(100))
    #expect(statistics.maximum == .microseconds(1000))
    #expect(statistics.average == .microseconds(550))
    #expect(statistics.median == .microseconds(500))
    #expect(statistics.p90 == .microseconds(900))
    #expect(statistics.line == "0.100/0.550/0.500/0.900/1.000")
  }

  @Test("relative type names as a .proto file writes them")
  func relativeNames() {
    #expect(ProtoText.relative("emporium.rpc.v1.EchoRequest", scope: "emporium.rpc.v1") == "EchoRequest")
    #expect(ProtoText.relative("google.protobuf.Duration", scope: "emporium.rpc.v1") == "google.protobuf.Duration")
    #expect(ProtoText.relative("emporium.testing.v1.AllTypes.Color", scope: "emporium.testing.v1.AllTypes") == "Color")
    #expect(ProtoText.relative("emporium.testing.v1.Item", scope: "emporium.testing.v1.AllTypes") == "Item")
    #expect(ProtoText.relative("emporium.rpc.v1.BadRequest.FieldViolation", scope: "emporium.rpc.v1") == "BadRequest.FieldViolation")
    #expect(ProtoText.package(of: "emporium.rpc.v1.BadRequest.FieldViolation") == "emporium.rpc.v1")
  }

  @Test("command-line mistakes exit with 64")
  func usageErrors() async {
    for arguments in [["call"], ["call", "NoMethod"], ["call", "E/M", "--deadline", "soon"], ["call", "E/M", "-H", "novalue"],
      ["ping", "-c", "0"], ["list", "--addr", "nowhere:"], ["call", "E/M", "--compression", "gzip"], ["frobnicate"]]
    {
      let result = await rpcctl(arguments)
      #expect(result.status == 64, "\(arguments): \(result.errors)")
    }
  }

  @Test("a bad EMPORIUM_ADDR is a usage error that names it")
  func badEnvironmentAddress() async {
    let result = await rpcctl(["list"], environment: ["EMPORIUM_ADDR": "not an address"])
    #expect(result.status == 64)
    #expect(result.errors == "rpcctl: EMPORIUM_ADDR='not an address' is not HOST:PORT\n")
  }
}
