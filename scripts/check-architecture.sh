#!/usr/bin/env bash
# Fails when code breaks the project's dependency rules (docs/ARCHITECTURE.md, "Rules"):
#   1. A commerce service (a target under Sources/Commerce/) never depends on or imports another
#      service; it calls other services through CommerceAPI's generated clients.
#   2. RPC and the PostgreSQL modules (Postgres, the driver; PostgresEmbedded, the launcher) never
#      depend on or import each other.
#   3. LoadCore, the load core loadgen and the benchmarks share, depends on no service, nor on RPC,
#      the commerce layer or the database: it is generic over the call.
#   4. ProtoJSON, the JSON mapping rpcctl and the HTTP gateway share, depends on Messages alone of
#      the project's modules: no RPC, commerce layer, service or database.
#   5. EmporiumGateway, the API gateway, depends on no service and no database module: it
#      forwards calls by their generated descriptors.
# Reads Package.swift (through `swift package dump-package`) and every import line of the sources.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
swift package dump-package > "$manifest"
python3 - "$manifest" <<'PY'
import json, os, re, sys

package = json.load(open(sys.argv[1]))
targets = {t["name"]: t for t in package["targets"]}

def path_of(target):
    return target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", target["name"])

def dependencies(target):
    names = []
    for dependency in target.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in dependency:
                names.append(dependency[kind][0])
    return names

services = {name for name, t in targets.items() if path_of(t).startswith("Sources/Commerce/")}
forbidden = {name: services - {name} for name in services}
forbidden["RPC"] = {"Postgres", "PostgresEmbedded"}
forbidden["Postgres"] = {"RPC"}
forbidden["PostgresEmbedded"] = {"RPC"}
forbidden["LoadCore"] = services | {"RPC", "Messages", "CommerceAPI", "CommerceKit", "EmporiumApp", "EmporiumSeed", "Postgres", "PostgresEmbedded"}
forbidden["ProtoJSON"] = services | {"RPC", "CommerceAPI", "CommerceKit", "EmporiumApp", "EmporiumSeed", "Postgres", "PostgresEmbedded"}
forbidden["EmporiumGateway"] = services | {"EmporiumApp", "EmporiumSeed", "Postgres", "PostgresEmbedded"}

problems = []
import_line = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)', re.M)
for name, banned in sorted(forbidden.items()):
    target = targets.get(name)
    if target is None:
        continue
    for dependency in dependencies(target):
        if dependency in banned:
            problems.append(f"Package.swift: target {name} depends on {dependency}")
    for directory, _, files in os.walk(path_of(target)):
        for file in files:
            if not file.endswith(".swift"):
                continue
            path = os.path.join(directory, file)
            for module in import_line.findall(open(path, encoding="utf-8").read()):
                if module in banned:
                    problems.append(f"{path}: imports {module}")

if problems:
    print("check-architecture: dependency rules broken (see docs/ARCHITECTURE.md, \"Rules\"):", file=sys.stderr)
    for problem in problems:
        print("  " + problem, file=sys.stderr)
    sys.exit(1)
print(f"check-architecture: {len(services)} service targets import no other service; RPC stays apart from Postgres and PostgresEmbedded; LoadCore imports no service, RPC or database module; ProtoJSON imports no RPC, commerce or database module; EmporiumGateway imports no service or database module")
PY
