#!/usr/bin/env bash
# The audit store on SQLite and on PostgreSQL (issue 5). Prints, each beside a
# baseline measured in the same run (the machines are shared and noisy:
# compare ratios, not absolute numbers):
#   1. durable audit events per second through the group-commit writer
#      (examples/bench_audit.rs) beside the same appenders into a no-op sink;
#   2. the national-ID cache-hit verify through the whole gateway over HTTP
#      (examples/bench_gateway.rs, loaded by wrk) with the SQLite store and with
#      the PostgreSQL store, beside the same gateway with a no-op audit sink;
#   3. "all accesses to one citizen" on a 10M-event log (examples/bench_query.rs)
#      beside the same queries on a 100,000-event log; then the inspectors' stats
#      and signals on the same 10M-event log (examples/bench_stats.rs) beside one
#      citizen's events in the same run.
#
#   bash benches/run_audit.sh [--seconds 8] [--audit-seconds 5] [--events N | --skip-10m] [--parts 123] [--reuse DIR]
#
#   --seconds N        per wrk run (default 8; every gateway gets the same connections and duration)
#   --audit-seconds N  per bench_audit measurement (default 5, after 1 s of warm-up)
#   --events N         size of the large log of part 3 (default 10000000)
#   --skip-10m         part 3 on a 1,000,000-event log instead (no 10M generation)
#   --parts 123        which parts to run (default all three)
#   --reuse DIR        keep part 3's large logs (DIR/bench-query-N.db and PostgreSQL
#                      database bawaba_bench_query_N) and reuse them on the next run
#
# PostgreSQL: $BAWABA_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# every part creates scratch databases there and drops them (except --reuse's). Parts 1
# and 2 measure it as given and again with sslmode=disable.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=8; AUDIT_SECONDS=5; EVENTS=10000000; REUSE=""; PARTS=123
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) DURATION=$2; shift 2 ;;
    --audit-seconds) AUDIT_SECONDS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --skip-10m) EVENTS=1000000; shift ;;
    --reuse) REUSE=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    *) sed -n '2,25p' "$0" >&2; exit 2 ;;
  esac
done
PG=${BAWABA_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
# The same server without TLS (sqlx's default sslmode=prefer uses TLS where the server
# offers it): parts 1 and 2 measure both ways (see BENCHMARKS.md on TLS and TCP_NODELAY).
PG_NOTLS=$(python3 - "$PG" <<'PY'
import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
q = [(k, v) for k, v in u.parse_qsl(url.query) if k != "sslmode"] + [("sslmode", "disable")]
print(u.urlunsplit(url._replace(query=u.urlencode(q))))
PY
)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --example bench_audit --example bench_gateway --example bench_query --example bench_stats

# On the repository's disk (not a tmpfs /tmp): SQLite's fsync must reach a real disk.
mkdir -p target
WORK=$(mktemp -d "$PWD/target/bench-audit.XXXXXX")
PIDS=()
SCRATCH_PG_DB=""
cleanup() {
  local status=$?
  # On failure, show what the gateways said before their directory goes.
  [ "$status" -eq 0 ] || for f in "$WORK"/gateway-*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$SCRATCH_PG_DB" ] || psql -q "$PG" -c "DROP DATABASE IF EXISTS $SCRATCH_PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$(date +%s)

part() { [[ $PARTS == *$1* ]]; }

if part 1; then
echo "== 1. durable audit events per second (bench_audit, ${AUDIT_SECONDS} s each)" >&2
target/release/examples/bench_audit --seconds "$AUDIT_SECONDS" --pg "$PG" --pg "$PG_NOTLS" --dir "$WORK" >"$WORK/audit.md"
fi

if part 2; then
echo "== 2. national ID cache hit through the gateway (wrk, ${DURATION} s each)" >&2
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
CTX='"context":{"operator_id":"EMP-1001","purpose":"building_permit","case_ref":"SHR-2025-000123"}'
NID_BODY="{\"national_id\":\"{ID}\",\"claims\":{\"full_name\":\"محمد احمد علي\",\"birth_date\":\"1990-01-01\"},$CTX}"
# The same call without claims: the claim-guessing stop reads the store only for calls that carry
# claims, so this is the hit path without the guessing read (a variant of the benchmark's requests,
# never a setting; it also skips comparing two claims, microseconds of CPU).
NID_BODY_NO_CLAIMS="{\"national_id\":\"{ID}\",$CTX}"
run() { # name connections url [env...]
  local name=$1 conns=$2 url=$3; shift 3
  local out; out=$(env "$@" wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s benches/wrk-post.lua "$url" | grep '^RESULT')
  read -r _ rps p50 p99 errors total <<<"$out"
  printf '%s %s %s %s %s %s\n' "$name" "$rps" "$p50" "$p99" "$errors" "$total" >>"$WORK/results"
}
# Every request a cache hit: 1000 citizens, each verified once before the load.
warm() { # api token ids-file
  python3 - "$1" "$2" "$3" "$NID_BODY" <<'PY'
import http.client, sys, time
host, token, ids, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection(host, timeout=30)
for i in open(ids).read().split():
    for attempt in range(5):
        try:
            c.request("POST", "/v1/national-id/verify", body.replace("{ID}", i).encode(),
                      {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            r = c.getresponse(); r.read()
            break
        except OSError as e:
            print(f"warming {i}: {e}; retrying", file=sys.stderr)
            c.close(); time.sleep(0.5)
    else:
        sys.exit(f"warming {i}: gateway unreachable")
    if r.status != 200:
        sys.exit(f"warming {i}: HTTP {r.status}")
PY
}
gateway() { # name port-offset bench_gateway-args...
  local name=$1 n=$2; shift 2
  local api=127.0.0.1:$((18480 + n)) sandbox=127.0.0.1:$((18490 + n))
  target/release/examples/bench_gateway --listen "$api" --sandbox "$sandbox" --workers 2 --dir "$WORK" "$@" \
    >"$WORK/gateway-$name.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  for _ in $(seq 300); do curl -sf "http://$api/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$api/healthz" >/dev/null || { cat "$WORK/gateway-$name.log" >&2; exit 1; }
  sed -n 's/^bench_gateway store: //p' "$WORK/gateway-$name.log" >"$WORK/label-$name"
  local token
  token=$(curl -sf -X POST "http://$api/oauth/token" -d grant_type=client_credentials \
    -d client_id=center-demo -d client_secret=center-demo-secret | json 'd["access_token"]')
  curl -sf "http://$sandbox/_population?limit=1000" | json '"\n".join(d["national_ids"])' >"$WORK/ids-$name"
  warm "$api" "$token" "$WORK/ids-$name"
  for conns in 64 256; do
    curl -sf "http://$api/metrics" >"$WORK/$name-$conns.before"
    run "$name-$conns" "$conns" "http://$api/v1/national-id/verify" TOKEN="$token" BODY="$NID_BODY" IDS_FILE="$WORK/ids-$name"
    curl -sf "http://$api/metrics" >"$WORK/$name-$conns.after"
  done
  for conns in 64 256; do
    run "$name-noclaims-$conns" "$conns" "http://$api/v1/national-id/verify" TOKEN="$token" BODY="$NID_BODY_NO_CLAIMS" IDS_FILE="$WORK/ids-$name"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
gateway none 0 --audit none
gateway sqlite 1 --audit real
gateway postgres 2 --audit real --store "$PG" --fresh-db
gateway postgres_notls 3 --audit real --store "$PG_NOTLS" --fresh-db
fi

if part 3; then
echo "== 3. all accesses to one citizen (bench_query, $EVENTS events)" >&2
df -h "$WORK" >&2
need=$((EVENTS * 600))  # ~530 bytes an event with its indexes in SQLite (~680 in PostgreSQL, on its server)
avail=$(df --output=avail -B1 "$WORK" | tail -1)
[ "$avail" -gt "$need" ] || { echo "not enough disk for $EVENTS events here (~$((need / 1000000000)) GB)" >&2; exit 1; }
# The large logs stay for bench_stats: in --reuse's DIR and database, else in $WORK and a scratch database.
if [ -n "$REUSE" ]; then
  mkdir -p "$REUSE"
  BIG_DB="$REUSE/bench-query-$EVENTS.db"; BIG_PG="bawaba_bench_query_$EVENTS"
else
  BIG_DB="$WORK/bench-query-$EVENTS.db"; BIG_PG="bawaba_bench_query_scratch_$$"; SCRATCH_PG_DB=$BIG_PG
fi
target/release/examples/bench_query --events "$EVENTS" --pg "$PG" --dir "$WORK" --sqlite "$BIG_DB" --pg-db "$BIG_PG" >"$WORK/query.md"
BIG_PG_URL=$(python3 - "$PG" "$BIG_PG" <<'PY'
import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
print(u.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
)
echo "== 3b. the inspectors' reads on the same log (bench_stats)" >&2
target/release/examples/bench_stats "sqlite://$BIG_DB" 20 SQLite >"$WORK/stats.md"
target/release/examples/bench_stats "$BIG_PG_URL" 20 "PostgreSQL (TCP)" >>"$WORK/stats.md"
fi

if part 1; then
echo
echo "### 1. Durable audit events per second (group commit; $AUDIT_SECONDS s per row)"
echo
cat "$WORK/audit.md"
fi
if part 2; then
echo
echo "### 2. National ID verify, cache hit, through the gateway (wrk, $DURATION s per row)"
echo
python3 - "$WORK" <<'PY'
import sys, re
work = sys.argv[1]
rows = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(f"{work}/results")}
def metrics(path):
    out = {}
    for line in open(path):
        m = re.match(r'^bawaba_(audit_batch_size_(?:sum|count)|audit_commit_seconds_sum) (\S+)$', line)
        if m: out[m.group(1)] = float(m.group(2))
        m = re.match(r'^bawaba_cache_lookups_total\{registry="national_id",result="(\w+)"\} (\S+)$', line)
        if m: out["cache_" + m.group(1)] = float(m.group(2))
    return out
def delta(name, key):
    a, b = metrics(f"{work}/{name}.before"), metrics(f"{work}/{name}.after")
    return b.get(key, 0.0) - a.get(key, 0.0)
print("| store | conns | req/s | p50 ms | p99 ms | errors | cache misses | mean audit batch | mean commit ms "
      "| baseline: no-op audit sink req/s | p50 ms | p99 ms | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for conns in (64, 256):
    base = rows[f"none-{conns}"]
    for store in ("sqlite", "postgres", "postgres_notls"):
        name = f"{store}-{conns}"
        label = open(f"{work}/label-{store}").read().strip() or store
        a = rows[name]
        commits = delta(name, "audit_batch_size_count")
        batch = f"{delta(name, 'audit_batch_size_sum') / commits:.1f}" if commits else "–"
        commit_ms = f"{1000 * delta(name, 'audit_commit_seconds_sum') / commits:.2f}" if commits else "–"
        misses = int(delta(name, "cache_miss") + delta(name, "cache_stale"))
        print(f"| {label} | {conns} | {a[0]:.0f} | {a[1]:.2f} | {a[2]:.2f} | {int(a[3])} | {misses} | {batch} | {commit_ms} "
              f"| {base[0]:.0f} | {base[1]:.2f} | {base[2]:.2f} | {a[0] / base[0]:.2f}× |")
print()
print("The same hit path with the claim-guessing read (two claims) beside the variant without it (no claims):")
print()
print("| store | conns | with the guessing read: req/s | p50 ms | p99 ms | without (no claims): req/s | p50 ms | p99 ms | ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for conns in (64, 256):
    for store in ("none", "sqlite", "postgres", "postgres_notls"):
        label = open(f"{work}/label-{store}").read().strip() or store
        if store == "none":
            label += " (no-op audit sink)"
        a, b = rows[f"{store}-{conns}"], rows[f"{store}-noclaims-{conns}"]
        print(f"| {label} | {conns} | {a[0]:.0f} | {a[1]:.2f} | {a[2]:.2f} | {b[0]:.0f} | {b[1]:.2f} | {b[2]:.2f} | {a[0] / b[0]:.2f}× |")
PY
fi
if part 3; then
echo
echo "### 3. All accesses to one citizen ($EVENTS-event log)"
echo
cat "$WORK/query.md"
echo
echo "### 3b. The inspectors' reads on the same $EVENTS-event log (20 runs each after one warm-up; signals 3)"
echo
echo "| store | read | p50 ms | p95 ms | answer |"
echo "|---|---|---|---|---|"
cat "$WORK/stats.md"
fi
echo
echo "total $(( $(date +%s) - started )) s after the build"
