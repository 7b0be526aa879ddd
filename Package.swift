// swift-tools-version:6.1
//
// Emporium: service-to-service RPC for commerce. See README.md and docs/ARCHITECTURE.md.
import PackageDescription

/// One list of Swift settings, applied to every target.
let defaultSwiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
  name: "emporium",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Messages", targets: ["Messages"]),
    .library(name: "RPC", targets: ["RPC"]),
    .library(name: "ProtoJSON", targets: ["ProtoJSON"]),
    .library(name: "CommerceAPI", targets: ["CommerceAPI"]),
    .library(name: "Postgres", targets: ["Postgres"]),
    .library(name: "PostgresEmbedded", targets: ["PostgresEmbedded"]),
    .library(name: "CommerceKit", targets: ["CommerceKit"]),
    .library(name: "EmporiumApp", targets: ["EmporiumApp"]),
    .library(name: "EmporiumGateway", targets: ["EmporiumGateway"]),
    .library(name: "CommerceCatalog", targets: ["CommerceCatalog"]),
    .library(name: "CommerceInventory", targets: ["CommerceInventory"]),
    .library(name: "EmporiumSeed", targets: ["EmporiumSeed"]),
    .executable(name: "emporium", targets: ["emporium"]),
    .executable(name: "emporium-protogen", targets: ["ProtoGen"]),
    .executable(name: "rpcctl", targets: ["rpcctl"]),
    .executable(name: "loadgen", targets: ["loadgen"]),
    .library(name: "LoadCore", targets: ["LoadCore"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    // The gateway's HTTP/JSON face (docs/GATEWAY.md). Default traits off: neither
    // swift-configuration nor the Foundation-only extras are used.
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    // LoadCore's latency recording (the same package and version as Benchmarks/).
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
  ],
  targets: [
    // C libraries from Debian packages.
    .systemLibrary(
      name: "CProtobufC",
      pkgConfig: "libprotobuf-c",
      providers: [.apt(["libprotobuf-c-dev"])]
    ),
    .systemLibrary(
      name: "CZstd",
      pkgConfig: "libzstd",
      providers: [.apt(["libzstd-dev"])]
    ),
    .systemLibrary(
      name: "CLibPQ",
      pkgConfig: "libpq",
      providers: [.apt(["libpq-dev"])]
    ),
    .systemLibrary(
      name: "CZlib",
      pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    .systemLibrary(
      name: "CSodium",
      pkgConfig: "libsodium",
      providers: [.apt(["libsodium-dev"])]
    ),

    // protoc-c output for everything under proto/ (generated, committed: `make generate`).
    .target(
      name: "ProtoC",
      dependencies: ["CProtobufC"],
      cSettings: [.unsafeFlags(["-w"])]
    ),

    // Swift value types over ProtoC (generated) and the ProtoMessage runtime (written).
    .target(
      name: "Messages",
      dependencies: [
        "ProtoC",
        "CProtobufC",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // protoc-c output for the commerce contract, emporium.commerce.v1 (generated, committed).
    .target(
      name: "CommerceProtoC",
      dependencies: ["ProtoC", "CProtobufC"],
      cSettings: [.unsafeFlags(["-w"])]
    ),

    // The commerce contract in Swift: messages, service protocols and client stubs (generated).
    .target(
      name: "CommerceAPI",
      dependencies: [
        "Messages",
        "RPC",
        "CommerceProtoC",
        "CProtobufC",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // The shared commerce layer: money, principals and the auth interceptor, access tokens,
    // error builders, SQLSTATE -> status, idempotency, page tokens, the outbox.
    .target(
      name: "CommerceKit",
      dependencies: [
        "CommerceAPI",
        "Messages",
        "RPC",
        "Postgres",
        "CSodium",
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ],
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // The composition root: which services a process hosts, their database, peers and server.
    // The API gateway: one entry point that authenticates once, limits rates and forwards calls
    // to the services through client pools. docs/GATEWAY.md.
    .target(
      name: "EmporiumGateway",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "ProtoJSON",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      resources: [.copy("Resources/storefront.html")],
      swiftSettings: defaultSwiftSettings
    ),
    .target(
      name: "EmporiumApp",
      dependencies: [
        "CommerceAuth",
        "CommerceCatalog",
        "CommerceCart",
        "CommerceInventory",
        "CommercePayments",
        "CommerceOrders",
        "CommerceNotifications",
        "CommerceReviews",
        "CommerceShipping",
        "CommerceAdmin",
        "CommerceSupport",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // `emporium seed`: a deterministic load-test data set (generator, manifest) loaded through
    // the services' bulk-load APIs.
    .target(
      name: "EmporiumSeed",
      dependencies: [
        "EmporiumApp",
        "CommerceAuth",
        "CommerceCatalog",
        "CommerceInventory",
        "CommerceKit",
        "CommerceAPI",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // AuthService: accounts, sessions, refresh tokens, roles and service identities (schema `auth`).
    .target(
      name: "CommerceAuth",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      path: "Sources/Commerce/Auth",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // CatalogService: products, categories, search and product pages (schema `catalog`).
    .target(
      name: "CommerceCatalog",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Catalog",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // InventoryService: warehouses, stock per product and warehouse, reservations (schema
    // `inventory`).
    .target(
      name: "CommerceInventory",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Inventory",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // PaymentService: authorization, capture, void and refund through a payment provider (the
    // sandbox provider by default), provider webhooks, the payment ledger (schema `payments`).
    .target(
      name: "CommercePayments",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ],
      path: "Sources/Commerce/Payments",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // The payment sandbox as its own process (`emporium payment-sandbox`): the sandbox provider
    // behind an HTTP/JSON API, and the delivery of its events to ReportProviderEvent over RPC.
    .target(
      name: "PaymentSandbox",
      dependencies: [
        "CommercePayments",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // OrderService: checkout saga, order state machine, cancellation, history, live status
    // (schema `orders`).
    .target(
      name: "CommerceOrders",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Orders",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // NotificationService: each user's notifications with per-recipient sequences, the inbox and
    // the resumable live stream; the outbox relays of the other services publish to it (schema
    // `notifications`).
    .target(
      name: "CommerceNotifications",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Notifications",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // ShippingService: shipments per order, delivery partners' reports, tracking (schema
    // `shipping`).
    .target(
      name: "CommerceShipping",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Shipping",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // AdminService: user and seller management, moderation and maintenance operations through
    // the owning services, and the audit log of every change (schema `admin`).
    .target(
      name: "CommerceAdmin",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/Commerce/Admin",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // ReviewService: reviews by verified purchasers, sellers' replies, moderation, exact rating
    // summaries relayed to the catalog (schema `reviews`).
    .target(
      name: "CommerceReviews",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Reviews",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // SupportService: tickets with message threads, returns (RMAs) that end in a restock and a
    // refund (schema `support`).
    .target(
      name: "CommerceSupport",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Support",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // CartService: guest and persistent carts, merging at login, wishlists (schema `cart`).
    .target(
      name: "CommerceCart",
      dependencies: [
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Commerce/Cart",
      resources: [.copy("Migrations")],
      swiftSettings: defaultSwiftSettings
    ),

    // The wire protocol, server, client, compression, built-in services and generated stubs.
    .target(
      name: "RPC",
      dependencies: [
        "Messages",
        "CZstd",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // proto/ -> Swift bindings. Reads the FileDescriptorSet that protoc-c writes.
    .executableTarget(
      name: "ProtoGen",
      swiftSettings: defaultSwiftSettings
    ),

    // The PostgreSQL driver over libpq: connections, pool, transactions, LISTEN/NOTIFY, migrations.
    .target(
      name: "Postgres",
      dependencies: ["CLibPQ"],
      swiftSettings: defaultSwiftSettings
    ),

    // The embedded PostgreSQL launcher: initdb + pg_ctl, the watchdog, TestCluster. Independent of
    // the driver (it needs only libpq's PQping and one CREATE DATABASE).
    .target(
      name: "PostgresEmbedded",
      dependencies: ["CLibPQ"],
      swiftSettings: defaultSwiftSettings
    ),

    // The server executable: serve, migrate, seed, demo, health, payment-sandbox.
    .executableTarget(
      name: "emporium",
      dependencies: [
        "EmporiumApp",
        "EmporiumGateway",
        "EmporiumSeed",
        "PaymentSandbox",
        "CommercePayments",
        "CommerceKit",
        "CommerceAPI",
        "Messages",
        "RPC",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // The proto3 JSON mapping over a dynamic codec, from generated registries or reflection's
    // schemas: rpcctl and the HTTP gateway share it. Messages only, no RPC.
    .target(
      name: "ProtoJSON",
      dependencies: [
        "Messages",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // rpcctl: the debugging client — JSON in and out via the server's reflection. docs/RPCCTL.md.
    .executableTarget(
      name: "rpcctl",
      dependencies: [
        "ProtoJSON",
        "Messages",
        "RPC",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // The load core: open and closed load models, coordinated-omission-corrected recording into
    // HdrHistograms, time series, HdrHistogram interval logs, reports. Generic over the call: no
    // dependency on RPC or the services, so Benchmarks/ and loadgen share it.
    .target(
      name: "LoadCore",
      dependencies: [
        "CZlib",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // loadgen: the capacity-planning load generator (docs/LOADGEN.md). A client only: it calls a
    // running deployment through the generated clients and never links a service.
    .executableTarget(
      name: "loadgen",
      dependencies: [
        "LoadCore",
        "CommerceAPI",
        "RPC",
        "Messages",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      path: "loadgen",
      swiftSettings: defaultSwiftSettings
    ),

    // What more than one test target uses (waiting for an event another thread causes).
    // Servers, connections and log capture for the test targets that talk to a real server.
    .target(
      name: "RPCTestSupport",
      dependencies: [
        "RPC",
        "Messages",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      path: "Tests/RPCTestSupport",
      swiftSettings: defaultSwiftSettings
    ),
    .target(
      name: "TestSupport",
      path: "Tests/TestSupport",
      swiftSettings: defaultSwiftSettings
    ),

    .testTarget(
      name: "MessagesTests",
      dependencies: [
        "Messages",
        "ProtoC",
        "CProtobufC",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "RPCTests",
      dependencies: [
        "RPCTestSupport",
        "TestSupport",
        "RPC",
        "Messages",
        "CommerceAPI",
        "CZstd",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "MetricsTestKit", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "CommerceAPITests",
      dependencies: ["CommerceAPI", "RPC", "Messages"],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "CommerceKitTests",
      dependencies: [
        "RPCTestSupport",
        "TestSupport", "CommerceKit", "CommerceAPI", "RPC", "Messages", "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "EmporiumAppTests",
      dependencies: [
        "TestSupport", "EmporiumApp", "CommerceKit", "CommerceAPI", "RPC", "Messages", "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    // What the commerce services' tests share.
    .target(
      name: "CommerceTestSupport",
      dependencies: [
        "TestSupport", "CommerceKit", "CommerceAPI", "EmporiumApp", "RPC", "Messages", "Postgres", "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Tests/CommerceTestSupport",
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "CatalogTests",
      dependencies: [
        "TestSupport",
        "RPCTestSupport",
        "CommerceTestSupport",
        "CommerceCatalog",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "CartTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceCart",
        "CommerceCatalog",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "InventoryTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceInventory",
        "CommerceCatalog",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "PaymentTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommercePayments",
        "PaymentSandbox",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "OrderTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceOrders",
        "CommercePayments",
        "CommerceInventory",
        "CommerceCart",
        "CommerceCatalog",
        "CommerceAuth",
        "CommerceNotifications",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "NotificationTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceNotifications",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "ShippingTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceShipping",
        "CommerceNotifications",
        "CommerceOrders",
        "CommercePayments",
        "CommerceInventory",
        "CommerceCart",
        "CommerceCatalog",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "AdminTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceAdmin",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "SupportTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceSupport",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "ReviewTests",
      dependencies: [
        "TestSupport",
        "CommerceTestSupport",
        "CommerceReviews",
        "CommerceOrders",
        "CommercePayments",
        "CommerceInventory",
        "CommerceCart",
        "CommerceCatalog",
        "CommerceAuth",
        "EmporiumApp",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "GatewayTests",
      dependencies: [
        "TestSupport", "RPCTestSupport", "CommerceTestSupport", "EmporiumApp", "EmporiumGateway", "CommerceKit",
        "CommerceAPI", "RPC", "Messages",
        .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "JourneyTests",
      dependencies: [
        "TestSupport", "CommerceTestSupport", "EmporiumApp", "CommerceKit", "CommerceAPI", "RPC", "Messages",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "AuthTests",
      dependencies: [
        "TestSupport",
        "RPCTestSupport",
        "CommerceTestSupport",
        "CommerceAuth",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "ProtoGenTests",
      dependencies: ["ProtoGen"],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "ProtoJSONTests",
      dependencies: [
        "ProtoJSON",
        "Messages",
        "RPC",
        "CommerceAPI",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "rpcctlTests",
      dependencies: [
        "RPCTestSupport",
        "TestSupport",
        "rpcctl",
        "RPC",
        "Messages",
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "EmporiumTests",
      dependencies: ["TestSupport", "emporium", "RPC", "Messages", "CommerceAPI", "CommerceKit", "Postgres", "PostgresEmbedded"],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "EmporiumSeedTests",
      dependencies: [
        "TestSupport",
        "EmporiumSeed",
        "EmporiumApp",
        "CommerceAuth",
        "CommerceCatalog",
        "CommerceInventory",
        "CommerceTestSupport",
        "CommerceKit",
        "CommerceAPI",
        "RPC",
        "Messages",
        "Postgres",
        "PostgresEmbedded",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "PostgresTests",
      dependencies: ["TestSupport", "Postgres", "PostgresEmbedded"],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "LoadCoreTests",
      dependencies: [
        "LoadCore",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "loadgenTests",
      dependencies: [
        "loadgen", "LoadCore", "CommerceTestSupport", "EmporiumApp", "EmporiumSeed", "Messages", "Postgres", "RPC",
        "RPCTestSupport", "TestSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    .testTarget(
      name: "PostgresEmbeddedTests",
      dependencies: ["TestSupport", "PostgresEmbedded", "CLibPQ"],
      swiftSettings: defaultSwiftSettings
    ),
  ]
)
