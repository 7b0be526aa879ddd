import CommerceKit
import Messages
import RPC

/// What the auth variant (`emporium-none-auth`) shares between its server, its client and
/// `echo-bench auth`.
enum AuthBench {
  /// The rule the server gives every call: any signed-in user. Echo has no rule of its own, and
  /// `AuthInterceptor` lets methods without one pass untouched.
  static let rule = ProtoAccessRule(anyUser: true)

  /// The user the client's token names.
  static let user = Principal(kind: .user, subject: "echo-bench-user", sessionID: "echo-bench", expiresAt: 0)

  /// Gives every call ``rule`` and hands it to `AuthInterceptor`, so the token is really checked
  /// on every call (and a call without one is refused).
  struct EveryCallNeedsAUser: ServerInterceptor {
    let auth: AuthInterceptor

    init(_ auth: AuthInterceptor) { self.auth = auth }

    func intercept(
      context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
    ) async throws {
      var context = context
      context.method.access = AuthBench.rule
      try await auth.intercept(context: context, next: next)
    }
  }
}
