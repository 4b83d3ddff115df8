#!/usr/bin/env bash
# Static analysis of the contracts (contracts/src only: not the tests, not OpenZeppelin) with Slither, offline:
# forge compiles src with its solcjs wrapper into a throwaway folder with build info, and Slither reads that
# (no solc download, no solc-select). Fails if any High or Medium finding is not triaged in
# contracts/slither.triage.json, or if a triaged finding has no line in docs/security.md.
#   bash scripts/slither.sh            # check
#   bash scripts/slither.sh --json F   # also keep Slither's JSON report in F
set -euo pipefail
cd "$(dirname "$0")/.."
SLITHER_VERSION=0.11.6
KEEP_JSON=""
if [[ "${1:-}" == "--json" ]]; then KEEP_JSON="${2:?--json needs a file}"; fi

if ! python3 -m slither --version 2>/dev/null | grep -qx "$SLITHER_VERSION"; then
  echo "installing slither-analyzer $SLITHER_VERSION (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "slither-analyzer==$SLITHER_VERSION" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
      "slither-analyzer==$SLITHER_VERSION"
fi

# crytic-compile asks `forge config --json` where the sources and libraries are.
export PATH="$PWD/contracts/node_modules/@foundry-rs/forge-linux-amd64/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd contracts && forge build src --build-info --out "$work/out" --cache-path "$work/cache" --quiet)
# Slither exits non-zero whenever it reports anything; success is read from its JSON instead.
(cd contracts && python3 -m slither . --foundry-ignore-compile --foundry-out-directory "$work/out" \
  --filter-paths 'node_modules|test/' --json "$work/slither.json" >"$work/slither.log" 2>&1) || true
if [[ -n "$KEEP_JSON" ]]; then cp "$work/slither.json" "$KEEP_JSON"; fi

python3 - "$work/slither.json" contracts/slither.triage.json docs/security.md "$work/slither.log" <<'PY'
import collections, json, sys

report_path, triage_path, doc_path, log_path = sys.argv[1:5]
try:
    report = json.load(open(report_path))
except (OSError, ValueError):
    sys.stdout.write(open(log_path).read())
    sys.exit("slither did not produce a report")
if not report.get("success"):
    sys.stdout.write(open(log_path).read())
    sys.exit(f"slither failed: {report.get('error')}")

def key(result):
    """check + Contract.function(signature) of the finding's first element (stable across line moves)."""
    for e in result["elements"]:
        fields = e.get("type_specific_fields", {})
        if e["type"] == "function":
            return f'{result["check"]} {fields["parent"]["name"]}.{fields["signature"]}'
        if e["type"] in ("node", "variable", "event") and "parent" in fields:
            parent = fields["parent"]
            pf = parent.get("type_specific_fields", {})
            owner = pf.get("parent", {}).get("name")
            name = pf.get("signature", parent["name"])
            return f'{result["check"]} {owner + "." if owner else ""}{name}'
        if e["type"] == "contract":
            return f'{result["check"]} {e["name"]}'
    return f'{result["check"]} {result["description"].splitlines()[0]}'

results = report["results"].get("detectors", [])
triage = {f'{t["check"]} {t["where"]}': t["why"] for t in json.load(open(triage_path))["findings"]}
doc = open(doc_path).read()

by_impact = collections.Counter(r["impact"] for r in results)
untriaged, seen = [], set()
for r in results:
    if r["impact"] not in ("High", "Medium"):
        continue
    k = key(r)
    if k in triage:
        seen.add(k)
    else:
        untriaged.append((r["impact"], k, r["description"].strip()))
after = collections.Counter(r["impact"] for r in results if r["impact"] not in ("High", "Medium") or key(r) not in triage)
order = ["High", "Medium", "Low", "Informational", "Optimization"]
print("slither findings by impact (before triage):", ", ".join(f"{i} {by_impact.get(i, 0)}" for i in order))
print("slither findings by impact (after triage): ", ", ".join(f"{i} {after.get(i, 0)}" for i in order))

undocumented = [k for k in triage if k.split(" ", 1)[1] not in doc or k.split(" ", 1)[0] not in doc]
for k in sorted(set(triage) - seen):
    print(f"note: triage entry no longer matches a finding (fixed? remove it): {k}")
failed = False
for impact, k, desc in untriaged:
    failed = True
    print(f"\nUNTRIAGED {impact}: {k}\n{desc}")
for k in undocumented:
    failed = True
    print(f"\ntriaged but not justified in {doc_path}: {k}")
if failed:
    sys.exit("fix these findings, or justify them in contracts/slither.triage.json and docs/security.md")
print("no unexplained high or medium finding")
PY
