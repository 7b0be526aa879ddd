import CommerceKit
import Messages
import RPC

/// What the auth variant (`emporium-none-auth`) shares between its server, its client and
/// `echo-bench auth`.
enum AuthBench {
  /// The rule the auth server's Echo carries: any signed-in user. Echo has no rule of its own,
  /// and `AuthInterceptor` lets methods without one pass untouched.
  static let rule = ProtoAccessRule(anyUser: true)

  /// The user the client's token names.
  static let user = Principal(kind: .user, subject: "echo-bench-user", sessionID: "echo-bench", expiresAt: 0)

  /// `EchoService.Echo` as a commerce method declares itself: the same path and messages, with
  /// ``rule`` in its descriptor, as generated code puts a proto's `access` option there. So
  /// `AuthInterceptor` finds the rule where it finds every real method's, and really checks the
  /// token on every call (a call without one is refused).
  enum SignedInEcho: ProtoMethod {
    typealias Input = RpcV1.EchoRequest
    typealias Output = RpcV1.EchoResponse

    static let descriptor: ProtoMethodDescriptor = {
      var descriptor = RpcV1.EchoService.Echo.descriptor
      descriptor.access = AuthBench.rule
      return descriptor
    }()
  }

  /// `EchoService` with its unary Echo registered as ``SignedInEcho``; its other methods as they
  /// are.
  struct SignedInEchoService: RPCService {
    let echo = EchoService()

    var serviceDescriptor: ProtoServiceDescriptor {
      var service = echo.serviceDescriptor
      service.methods = service.methods.map { $0.path == SignedInEcho.descriptor.path ? SignedInEcho.descriptor : $0 }
      return service
    }

    func registerMethods(with router: inout RPCRouter) {
      echo.registerMethods(with: &router)
      router.registerUnary(SignedInEcho.self) { [echo] request, context in try await echo.echo(request: request, context: context) }
    }
  }
}
