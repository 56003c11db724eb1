#!/usr/bin/env bash
# Verify-path benchmark: loads a release gateway on loopback with wrk and prints
# requests/s and p50/p99 for the cache-hit and cache-miss paths, each beside a
# baseline measured in the same run:
#   - hit path  vs a bare actix-web JSON endpoint (same worker count);
#   - miss path vs the sandbox registry called directly (same concurrency).
# Usage: bash benches/verify.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin bawaba --example bench_baseline

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

API=127.0.0.1:18080; SANDBOX=127.0.0.1:18090; BARE=127.0.0.1:18181
BAWABA__SERVER__LISTEN=$API BAWABA__SANDBOX__LISTEN=$SANDBOX BAWABA__SERVER__WORKERS=2 \
BAWABA__STORE__URL="sqlite://$WORK/bench.db" BAWABA__LOG__LEVEL=warn \
  target/release/bawaba serve >"$WORK/gateway.log" 2>&1 & PIDS+=($!)
target/release/examples/bench_baseline $BARE 2 >"$WORK/bare.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://$API/healthz" >/dev/null && curl -sf -X POST "http://$BARE/hello" >/dev/null && break; sleep 0.1; done

TOKEN=$(curl -sf -X POST "http://$API/oauth/token" -d grant_type=client_credentials \
  -d client_id=center-demo -d client_secret=center-demo-secret | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
curl -sf "http://$SANDBOX/_population?limit=100000" | python3 -c 'import sys,json; print("\n".join(json.load(sys.stdin)["national_ids"]))' >"$WORK/ids"
# Two disjoint halves: one for the sandbox baseline, one for the gateway's misses.
head -n 50000 "$WORK/ids" >"$WORK/ids-a"; tail -n 50000 "$WORK/ids" >"$WORK/ids-b"

VERIFY='{"national_id":"{ID}","claims":{"full_name":"محمد احمد علي","birth_date":"1990-01-01"},"context":{"operator_id":"EMP-1001","purpose":"building_permit","case_ref":"SHR-2025-000123"}}'
SOAP='<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:nid="urn:bawaba:sandbox:national-id"><soap:Body><nid:GetCitizenRequest><nid:NationalId>{ID}</nid:NationalId></nid:GetCitizenRequest></soap:Body></soap:Envelope>'

run() { # name connections url [env...]
  local name=$1 conns=$2 url=$3; shift 3
  local out; out=$(env "$@" wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s benches/wrk-post.lua "$url" | grep '^RESULT')
  read -r _ rps p50 p99 errors total <<<"$out"
  printf '%s %s %s %s %s %s\n' "$name" "$rps" "$p50" "$p99" "$errors" "$total" >>"$WORK/results"
}

# Warm the fixture record once, then measure.
curl -sf -X POST "http://$API/v1/national-id/verify" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "${VERIFY//\{ID\}/29001011300036}" >/dev/null
run bare 64 "http://$BARE/hello" BODY="${VERIFY//\{ID\}/29001011300036}"
run hit 64 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="${VERIFY//\{ID\}/29001011300036}"
run sandbox 8 "http://$SANDBOX/national-id/soap" BODY="$SOAP" IDS_FILE="$WORK/ids-a" CONTENT_TYPE='text/xml; charset=utf-8' \
  SOAP_ACTION='"urn:bawaba:sandbox:national-id#GetCitizen"'
run miss 8 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="$VERIFY" IDS_FILE="$WORK/ids-b"

STATS=$(curl -sf "http://$SANDBOX/_stats")
python3 - "$WORK/results" "$STATS" <<'PY'
import sys, json
rows = {l.split()[0]: l.split()[1:] for l in open(sys.argv[1])}
def f(name):
    rps, p50, p99, err, total = rows[name]
    return float(rps), float(p50), float(p99), int(err), int(total)
bare, hit, sb, miss = f("bare"), f("hit"), f("sandbox"), f("miss")
print("| path | req/s | p50 ms | p99 ms | errors | baseline | baseline req/s | baseline p50 ms | baseline p99 ms | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(f"| cache hit (64 conns) | {hit[0]:.0f} | {hit[1]:.2f} | {hit[2]:.2f} | {hit[3]} | bare actix-web JSON | {bare[0]:.0f} | {bare[1]:.2f} | {bare[2]:.2f} | {hit[0]/bare[0]:.2f}× throughput |")
print(f"| cache miss (8 conns) | {miss[0]:.0f} | {miss[1]:.2f} | {miss[2]:.2f} | {miss[3]} | sandbox SOAP direct | {sb[0]:.0f} | {sb[1]:.2f} | {sb[2]:.2f} | +{miss[1]-sb[1]:.2f} ms p50 |")
print()
print(f"sandbox national_id requests during the run: {json.loads(sys.argv[2])['requests']['national_id']} (the miss run sent {miss[4]} verifies)")
PY
