import Messages
import Testing

@Suite("Generated service descriptions")
struct ServiceDescriptionTests {
  @Test("the echo service describes all four call kinds with full paths and types")
  func echoService() {
    let methods = RpcV1.EchoService.methods
    #expect(methods.map(\.kind) == [.unary, .serverStreaming, .clientStreaming, .bidirectionalStreaming])
    #expect(methods.first?.path == "/emporium.rpc.v1.EchoService/Echo")
    #expect(RpcV1.EchoService.Echo.descriptor.inputType == RpcV1.EchoService.Echo.Input.protoMessageName)
    #expect(RpcV1.EchoService.Echo.descriptor.outputType == "emporium.rpc.v1.EchoResponse")
  }

  @Test("a method descriptor is a value: equal by its fields, and setting access changes only the copy set")
  func descriptorValueSemantics() {
    let echo = RpcV1.EchoService.Echo.descriptor
    let rebuilt = ProtoMethodDescriptor(
      service: echo.service, method: echo.method, kind: echo.kind, inputType: echo.inputType, outputType: echo.outputType,
      idempotency: echo.idempotency, access: echo.access)
    #expect(rebuilt == echo)
    #expect(rebuilt.hashValue == echo.hashValue)
    var restricted = echo
    restricted.access = ProtoAccessRule(roles: ["ADMIN"])
    #expect(restricted != echo)
    #expect(restricted.access == ProtoAccessRule(roles: ["ADMIN"]))
    #expect(echo.access == nil)
    #expect(restricted.path == echo.path)
    #expect(Set([echo, rebuilt, restricted]).count == 2)
  }

  @Test("the registry lists every message type and service")
  func registry() {
    #expect(ProtoTypeRegistry.messages.messageTypes["emporium.testing.v1.AllTypes"] == TestingV1.AllTypes.self)
    #expect(ProtoTypeRegistry.messages.messageTypes["google.protobuf.Timestamp"] != nil)
    #expect(ProtoTypeRegistry.messages.services.contains { $0.name == "emporium.rpc.v1.HealthService" })
    for (name, type) in ProtoTypeRegistry.messages.messageTypes {
      #expect(type.protoMessageName == name)
    }
  }
}
