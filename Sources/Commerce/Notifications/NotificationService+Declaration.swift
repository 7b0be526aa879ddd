import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension NotificationService {
  /// The migrations of schema `notifications`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "notifications")

  /// What the composition root needs: identity "notifications", schema "notifications", no
  /// peers (the services that publish call it), and the retention sweep and the drain of live
  /// streams as background work.
  public static let declaration = makeDeclaration()

  /// A declaration with `adjust` applied to the configuration (tests shorten the limits);
  /// `made` gets the service once it is made.
  public static func makeDeclaration(
    adjust: @escaping @Sendable (inout Configuration) -> Void = { _ in },
    made: (@Sendable (NotificationService) -> Void)? = nil
  ) -> ServiceDeclaration {
    ServiceDeclaration(name: "notifications", schema: "notifications", migrations: migrations, peers: []) { environment in
      var configuration = Configuration()
      adjust(&configuration)
      let service = NotificationService(pool: environment.pool, configuration: configuration, logger: environment.logger)
      made?(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
  }
}
