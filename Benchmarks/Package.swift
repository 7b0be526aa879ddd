// swift-tools-version:6.1
//
// Emporium benchmarks: a package of its own, so that `make test` in the main package never
// builds package-benchmark or swift-protobuf. Run with `make bench`, or one target with
// `swift package --allow-writing-to-directory .benchmarkBaselines benchmark --target NAME`.
// See docs/PERFORMANCE.md for the commands and the latest results.
import PackageDescription

/// One list of Swift settings, applied to every target we write (the same as the main package).
let defaultSwiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "emporium-benchmarks",
  platforms: [.macOS(.v15)],
  products: [
    // RPC: echo over loopback (docs/PERFORMANCE.md).
    .executable(name: "echo-bench", targets: ["EchoBench"]),
    .executable(name: "storefront-bench", targets: ["StorefrontBench"]),
    .executable(name: "checkout-bench", targets: ["CheckoutBench"]),
    // Never linked into anything: echo-bench's processes get it through LD_PRELOAD.
    .library(name: "EchoBenchMallocCounter", type: .dynamic, targets: ["EchoBenchMallocCounter"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    // The main package; named explicitly because a path dependency's identity is otherwise its
    // directory's name, which differs between checkouts.
    .package(name: "emporium", path: ".."),
    // package-benchmark (renamed "benchmark"). Only the MallocInterposer trait, for the malloc
    // metrics on Linux: the default traits add RuntimeInterposer, whose extra package the ARC
    // metrics need and these benchmarks do not.
    .package(
      url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1",
      traits: ["MallocInterposer"]),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    // ECHO_BENCH_METRICS=prometheus: measure with Emporium's metrics recorded (docs/PERFORMANCE.md).
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
  ],
  targets: [
    // swift-protobuf's generated code for the proto/ files the benchmark messages need: the
    // reference that our protobuf-c bindings are measured against. Generated, do not edit:
    // scripts/generate-bench-peers.sh (checked by scripts/check-bench-peers.sh). Swift 6 mode
    // only: protoc-gen-swift's output is written for the default import and existential rules.
    .target(
      name: "SwiftProtobufPeer",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: [.swiftLanguageMode(.v6)]
    ),

    // Representative messages, built once in both representations; shared by benchmark targets.
    .target(
      name: "BenchmarkFixtures",
      dependencies: [
        "SwiftProtobufPeer",
        .product(name: "Messages", package: "emporium"),
        .product(name: "CommerceAPI", package: "emporium"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: defaultSwiftSettings
    ),

    // Encode and decode: our protobuf-c bindings (`Messages`) against swift-protobuf.
    .executableTarget(
      name: "CodecBenchmarks",
      dependencies: [
        "BenchmarkFixtures",
        "SwiftProtobufPeer",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Messages", package: "emporium"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Benchmarks/CodecBenchmarks",
      swiftSettings: defaultSwiftSettings,
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),

    // Our PostgreSQL driver against pgbench -M prepared on one embedded cluster (a plain
    // executable, not a package-benchmark target). See docs/PERFORMANCE.md.
    .executableTarget(
      name: "PostgresBenchmarks",
      dependencies: [
        "BenchSupport",
        .product(name: "Postgres", package: "emporium"),
        .product(name: "PostgresEmbedded", package: "emporium"),
        "PostgresBenchLibPQ",
      ],
      path: "Benchmarks/PostgresBenchmarks",
      swiftSettings: defaultSwiftSettings
    ),

    // RPC echo over loopback: Emporium vs grpc-swift-2 vs a bare NIO framed echo, separate
    // processes (docs/PERFORMANCE.md).
    .executableTarget(
      name: "EchoBench",
      dependencies: [
        "BenchmarkFixtures", "SwiftProtobufPeer", "EchoBenchCZstd", "BenchSupport",
        // The unary clients run on loadgen's load core (closed model), and every driver records
        // into its histogram layout.
        .product(name: "LoadCore", package: "emporium"),
        .product(name: "RPC", package: "emporium"),
        .product(name: "Messages", package: "emporium"),
        .product(name: "CommerceAPI", package: "emporium"),
        .product(name: "CommerceKit", package: "emporium"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      swiftSettings: defaultSwiftSettings
    ),
    // CatalogService search and product pages over RPC beside echo (docs/PERFORMANCE.md,
    // "Storefront: search and product pages").
    .executableTarget(
      name: "StorefrontBench",
      dependencies: [
        "BenchSupport",
        .product(name: "RPC", package: "emporium"),
        .product(name: "Messages", package: "emporium"),
        .product(name: "CommerceAPI", package: "emporium"),
        .product(name: "CommerceKit", package: "emporium"),
        .product(name: "CommerceCatalog", package: "emporium"),
        .product(name: "EmporiumApp", package: "emporium"),
        .product(name: "Postgres", package: "emporium"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // The money path (Checkout, ReserveStock coalesced and not) beside pgbench's equivalent
    // SQL (docs/PERFORMANCE.md, "Checkout and hot products").
    .executableTarget(
      name: "CheckoutBench",
      dependencies: [
        "BenchSupport",
        .product(name: "RPC", package: "emporium"),
        .product(name: "Messages", package: "emporium"),
        .product(name: "CommerceAPI", package: "emporium"),
        .product(name: "CommerceKit", package: "emporium"),
        .product(name: "CommerceInventory", package: "emporium"),
        .product(name: "EmporiumApp", package: "emporium"),
        .product(name: "EmporiumSeed", package: "emporium"),
        .product(name: "Postgres", package: "emporium"),
        .product(name: "PostgresEmbedded", package: "emporium"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // What the benchmark executables share: running pgbench, CPU time, /proc.
    .target(name: "BenchSupport"),
    .target(name: "EchoBenchMallocCounter", linkerSettings: [.linkedLibrary("dl")]),
    .systemLibrary(name: "EchoBenchCZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "PostgresBenchLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
  ]
)
