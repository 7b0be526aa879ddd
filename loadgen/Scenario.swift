import ArgumentParser
import CommerceAPI
import LoadCore
import Messages
import RPC

/// A scenario: prepared once before the measured run (users logged in, stock set), then run as
/// journeys by the load engine. Each step is recorded as "<scenario>.<step>" beside the journey.
protocol Scenario: Sendable {
  var name: String { get }
  /// Products whose stock the run's journeys change (the invariant check reads them before
  /// and after); empty for scenarios that buy nothing.
  var stockedProducts: [String] { get }
  func journey(_ context: JourneyContext) async throws
  /// Before each measured phase after the first (`capacity`'s steps, `sweep`'s points): sets
  /// back what the phases before used up. Most scenarios use up nothing.
  func refill(log: @escaping @Sendable (String) -> Void) async throws
}

extension Scenario {
  var stockedProducts: [String] { [] }
  func refill(log: @escaping @Sendable (String) -> Void) async throws {}
}

/// What the scenarios can be told on the command line.
struct ScenarioSettings: Sendable {
  var payloadBytes = 64
  /// Products the checkout and browse journeys choose among (the manifest's first N).
  var products = 1_000
  /// Zipf exponent of product popularity; nil: uniform.
  var zipf: Double?
  /// Units to set on hand for each product used, when the manifest brings no stock.
  var stock: Int64 = 1_000_000
  /// Set stock even when the manifest brings some.
  var setStock = false
  /// False: another process sets the stock (shard 1 of a sharded run); this one leaves it.
  var setsStock = true
  /// hot-product: the product (default: the manifest's first).
  var hotProduct: String?
  /// Customers logged in before the run (their tokens serve the journeys that do not log in).
  var customers = 100
  /// checkout: log in as the journey's first step (otherwise use a prepared token).
  var loginEachJourney = true
  /// hot-product: set the product's stock back to `stock` before each phase of `capacity` and
  /// `sweep` (false: it runs down across them, to measure the sold-out path).
  var refillStock = true
  var callTimeout: Duration = .seconds(30)
  var mix: [(String, Double)] = []
  /// Records what every Checkout answered, for the invariant check.
  var ledger = CheckoutLedger()
}

/// The generated clients over one transport (a client pool to the target).
struct CommerceClients: Sendable {
  let echo: RpcV1.EchoService.Client
  let auth: CommerceV1.AuthService.Client
  let catalog: CommerceV1.CatalogService.Client
  let cart: CommerceV1.CartService.Client
  let orders: CommerceV1.OrderService.Client
  let inventory: CommerceV1.InventoryService.Client
  let payments: CommerceV1.PaymentService.Client

  init(_ transport: any ClientTransport) {
    echo = RpcV1.EchoService.Client(transport)
    auth = CommerceV1.AuthService.Client(transport)
    catalog = CommerceV1.CatalogService.Client(transport)
    cart = CommerceV1.CartService.Client(transport)
    orders = CommerceV1.OrderService.Client(transport)
    inventory = CommerceV1.InventoryService.Client(transport)
    payments = CommerceV1.PaymentService.Client(transport)
  }
}

enum Scenarios {
  static let names = ["echo", "browse", "checkout", "hot-product", "mix"]
  /// The scenarios of one call per journey, which the loop engine can run (OneCallScenario).
  static let oneCall = ["echo"]

  /// Builds and prepares the scenario `name`. `log` reports preparation progress.
  static func make(
    _ name: String, settings: ScenarioSettings, clients: CommerceClients, manifest: () throws -> LoadManifest,
    log: @escaping @Sendable (String) -> Void
  ) async throws -> any Scenario {
    switch name {
    case "echo":
      return try EchoScenario(clients: clients, settings: settings)
    case "browse":
      return try BrowseScenario(clients: clients, manifest: try manifest(), settings: settings)
    case "checkout":
      return try await CheckoutScenario.prepare(clients: clients, manifest: try manifest(), settings: settings, log: log)
    case "hot-product":
      return try await HotProductScenario.prepare(clients: clients, manifest: try manifest(), settings: settings, log: log)
    case "mix":
      guard !settings.mix.isEmpty else { throw ValidationError("--scenario mix needs --mix NAME=WEIGHT,...") }
      var parts: [(any Scenario, Double)] = []
      for (part, weight) in settings.mix {
        guard part != "mix", names.contains(part) else { throw ValidationError("--mix: unknown scenario \(part)") }
        parts.append((try await make(part, settings: settings, clients: clients, manifest: manifest, log: log), weight))
      }
      return MixScenario(parts: parts)
    default:
      throw ValidationError("unknown scenario \(name); one of \(names.joined(separator: ", "))")
    }
  }

  /// A call failure's status for the recorder: the RPC status code's name.
  static let classify: @Sendable (any Error) -> String = { error in
    if let error = error as? RPCError { return error.code.name }
    return LoadEngine.defaultClassify(error)
  }
}

/// `mix`: each journey is one of the parts, chosen by weight (named after the part it ran).
struct MixScenario: Scenario {
  let parts: [(any Scenario, Double)]
  var name: String { "mix" }
  var stockedProducts: [String] {
    var seen = Set<String>()
    return parts.flatMap(\.0.stockedProducts).filter { seen.insert($0).inserted }
  }

  func refill(log: @escaping @Sendable (String) -> Void) async throws {
    for (part, _) in parts { try await part.refill(log: log) }
  }

  func journey(_ context: JourneyContext) async throws {
    let total = parts.reduce(0) { $0 + $1.1 }
    var u = context.random.nextUnitInterval() * total
    for (part, weight) in parts {
      u -= weight
      if u <= 0 {
        context.journey = part.name
        return try await part.journey(context)
      }
    }
    context.journey = parts[parts.count - 1].0.name
    try await parts[parts.count - 1].0.journey(context)
  }
}
