import Messages
import RPC
import Synchronization

/// `emporium.testing.v1.AllTypesService/Reflect`: answers each AllTypes with itself, so a call
/// through a real server exercises the whole JSON mapping in both directions.
enum AllTypesReflect: ProtoMethod {
  typealias Input = TestingV1.AllTypes
  typealias Output = TestingV1.AllTypes
  static let descriptor = ProtoMethodDescriptor(
    service: "emporium.testing.v1.AllTypesService", method: "Reflect", kind: .unary,
    inputType: "emporium.testing.v1.AllTypes", outputType: "emporium.testing.v1.AllTypes")
}

struct AllTypesService: RPCService {
  static let descriptor = ProtoServiceDescriptor(name: "emporium.testing.v1.AllTypesService", methods: [AllTypesReflect.descriptor])

  var serviceDescriptor: ProtoServiceDescriptor { Self.descriptor }

  func registerMethods(with router: inout RPCRouter) {
    router.registerUnary(AllTypesReflect.self) { request, _ in request }
  }
}

/// `emporium.testing.v1.CollectorService/Collect`: reads Items until the caller half-closes,
/// recording what it saw and how the request stream ended.
enum CollectItems: ProtoMethod {
  typealias Input = TestingV1.Item
  typealias Output = TestingV1.Item
  static let descriptor = ProtoMethodDescriptor(
    service: "emporium.testing.v1.CollectorService", method: "Collect", kind: .clientStreaming,
    inputType: "emporium.testing.v1.Item", outputType: "emporium.testing.v1.Item")
}

struct CollectorService: RPCService {
  let events: EventLog

  var serviceDescriptor: ProtoServiceDescriptor {
    ProtoServiceDescriptor(name: CollectItems.descriptor.service, methods: [CollectItems.descriptor])
  }

  func registerMethods(with router: inout RPCRouter) {
    router.registerClientStreaming(CollectItems.self) { [events] requests, _ in
      var names: [String] = []
      do {
        for try await item in requests {
          events.record("item \(item.name)")
          names.append(item.name)
        }
      } catch {
        events.record("ended without half-close")
        throw error
      }
      events.record("half-closed")
      return .with { $0.name = names.joined(separator: ",") }
    }
  }
}

/// Events recorded by test services, read by tests.
final class EventLog: Sendable {
  private let events = Mutex<[String]>([])

  func record(_ event: String) { events.withLock { $0.append(event) } }

  var all: [String] { events.withLock { $0 } }
}
