# Emporium — see README.md. Every target installs missing Debian packages first.
SWIFT ?= swift

.PHONY: all deps build test test-browser demo generate check-generated check-architecture bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

## The whole test suite (against an embedded PostgreSQL), after checking generated code is fresh.
## In three runs: the runtime's suites, whose tests bound times (deadlines, keepalive, killed
## servers), first, on their own and one at a time (about 95 s; run side by side on two cores,
## CPU-bound tests such as the codec's held both threads of Swift's cooperative pool long enough
## to make the timed ones 2 s late now and then); then the load generator's suites, which time a stalled
## open-model run and must not share the machine with anything else; then the commerce services'
## suites, which keep the database busy and would otherwise starve those timers on a small machine,
## at most six at a time (all at once, on two cores, their calls start missing deadlines).
## Each run has a time limit (scripts/test-group.sh: 15, 15 and 30 minutes, several times what
## they take): a run that outlives it fails, naming the tests it started and never finished, with
## every thread's stack, instead of holding CI until CI's own limit.
RUNTIME_TESTS = ^(MessagesTests|ProtoGenTests|RPCTests|PostgresTests|PostgresEmbeddedTests|ProtoJSONTests|rpcctlTests)\.|^EmporiumTests\.(ServeCommandTests|MigrateCommandTests|PoolResilienceTests)/
LOADGEN_TESTS = ^(LoadCoreTests|loadgenTests)\.
test: deps
	scripts/check-generated.sh
	scripts/check-bench-peers.sh
	scripts/check-architecture.sh
	$(SWIFT) build --build-tests
	scripts/test-group.sh 900 $(SWIFT) test --skip-build --no-parallel --filter '$(RUNTIME_TESTS)'
	scripts/test-group.sh 900 $(SWIFT) test --skip-build --no-parallel --filter '$(LOADGEN_TESTS)'
	scripts/test-group.sh 1800 $(SWIFT) test --skip-build --experimental-maximum-parallelization-width 6 --skip '$(RUNTIME_TESTS)' --skip '$(LOADGEN_TESTS)'

## The storefront page in headless Chromium (Debian's chromium and chromium-driver, Selenium; both
## installed when missing): a seeded embedded database, every service and the gateway on free
## ports, the shopper's journey with a screenshot per step in .browser/. Not part of `make test`
## (its HTTP-level twin, GatewayTests.StorefrontPageTests, is).
test-browser: deps
	SWIFT="$(SWIFT)" scripts/test-browser.sh

## Embedded database, server, a health-check call.
## The whole system on this machine, measured: embedded PostgreSQL, seed, every service, a
## checkout run and a flash sale with loadgen, the invariant checks, the HTML report.
demo: deps
	SWIFT="$(SWIFT)" scripts/demo.sh

## Regenerate Sources/ProtoC, Sources/Messages/Generated and Sources/RPC/Generated from proto/
## (and, with protoc installed on demand, the benchmarks' swift-protobuf peers).
generate: deps
	scripts/generate.sh
	scripts/generate-bench-peers.sh

check-generated: deps
	scripts/check-generated.sh
	scripts/check-bench-peers.sh

## The dependency rules: services never import each other; RPC and the Postgres modules stay apart.
check-architecture:
	scripts/check-architecture.sh

## Benchmarks (a separate package; never built by `make test`).
bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-directory .benchmarkBaselines benchmark

clean:
	rm -rf .build Benchmarks/.build
