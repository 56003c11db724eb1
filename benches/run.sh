#!/usr/bin/env bash
# Bawaba's benchmarks: loads a release gateway on loopback and prints every
# figure of BENCHMARKS.md, each beside a baseline measured in the same run
# (these machines are shared and noisy: compare ratios, not absolute numbers).
#
#   bash benches/run.sh [seconds per wrk run, default 8]
#
# Baselines: a bare actix-web JSON endpoint with the gateway's worker count
# (for every path the gateway answers itself), and each sandbox registry called
# directly over the same loopback (for every path that reaches a registry).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-8}
command -v wrk >/dev/null && command -v nginx >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq wrk nginx >/dev/null; }
cargo build --release --quiet --bin bawaba --example bench_baseline

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

API=127.0.0.1:18080; SANDBOX=127.0.0.1:18090; BARE=127.0.0.1:18181; API_NORMAL=127.0.0.1:18082; NGINX=127.0.0.1:18183
# The SMSC rate limit is lifted so that dispatch speed itself is measured.
BAWABA__SERVER__LISTEN=$API BAWABA__SANDBOX__LISTEN=$SANDBOX BAWABA__SERVER__WORKERS=2 \
BAWABA__STORE__URL="sqlite://$WORK/bench.db" BAWABA__LOG__LEVEL=warn BAWABA__SMS__MESSAGES_PER_SECOND=1000000 \
  target/release/bawaba serve >"$WORK/gateway.log" 2>&1 & PIDS+=($!)
# A second gateway, identical but for store.sqlite_synchronous = normal: the cost of fsync per commit.
BAWABA__SERVER__LISTEN=$API_NORMAL BAWABA__SANDBOX__ENABLED=false BAWABA__SERVER__WORKERS=2 \
BAWABA__STORE__URL="sqlite://$WORK/bench-normal.db" BAWABA__STORE__SQLITE_SYNCHRONOUS=normal BAWABA__LOG__LEVEL=warn \
BAWABA__REGISTRIES__NATIONAL_ID__BASE_URL="http://$SANDBOX" \
  target/release/bawaba serve >"$WORK/gateway-normal.log" 2>&1 & PIDS+=($!)
target/release/examples/bench_baseline $BARE 2 >"$WORK/bare.log" 2>&1 & PIDS+=($!); BARE_PID=$!
# What an operator would put in front instead: Debian's nginx, one worker, a
# proxy_cache hit for every request (no authentication, no audit).
# nginx's worker runs as nobody: it must reach its cache through the work directory.
mkdir -p "$WORK/nginx/cache" && chmod -R 777 "$WORK/nginx" && chmod 711 "$WORK"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
user nobody nogroup;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;
  log_format cache \$upstream_cache_status;
  access_log $WORK/nginx/access.log cache buffer=256k flush=2s;
  proxy_cache_path $WORK/nginx/cache keys_zone=bench:10m;
  upstream bare { server $BARE; keepalive 16; }
  server {
    listen $NGINX;
    location / {
      proxy_pass http://bare; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache bench; proxy_cache_methods POST; proxy_cache_key \$request_method\$request_uri;
      proxy_cache_valid 200 1h; proxy_ignore_headers Cache-Control Expires Set-Cookie;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" & PIDS+=($!); NGINX_PID=$!
for _ in $(seq 100); do curl -sf "http://$API/healthz" >/dev/null && curl -sf "http://$API_NORMAL/healthz" >/dev/null \
  && curl -sf -X POST "http://$BARE/hello" >/dev/null && curl -sf -X POST "http://$NGINX/hello" >/dev/null && break; sleep 0.1; done
# The nginx baseline must be a cache hit.
curl -sf -o /dev/null -D - -X POST "http://$NGINX/hello" | grep -qi '^X-Cache-Status: HIT' \
  || { echo "nginx baseline is not a cache hit" >&2; exit 1; }
GATEWAY_PID=${PIDS[0]}

json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
TOKEN=$(curl -sf -X POST "http://$API/oauth/token" -d grant_type=client_credentials \
  -d client_id=center-demo -d client_secret=center-demo-secret | json 'd["access_token"]')
curl -sf "http://$SANDBOX/_population?limit=100000" | json '"\n".join(d["national_ids"])' >"$WORK/ids"
curl -sf "http://$SANDBOX/_population?registry=commercial_register&limit=20000" \
  | json '"\n".join(c["office"]+"|"+c["registration_number"] for c in d["companies"])' >"$WORK/companies"
curl -sf "http://$SANDBOX/_population?registry=real_estate&limit=50000" | json '"\n".join(d["property_ids"])' >"$WORK/properties"
# Disjoint halves: one for the registry baseline, one for the gateway's misses.
split_half() { local n; n=$(wc -l <"$1"); head -n $((n / 2)) "$1" >"$1-a"; tail -n $((n - n / 2)) "$1" >"$1-b"; }
for f in ids companies properties; do split_half "$WORK/$f"; done
# The REST baseline needs the office and number as path segments.
sed 's#|#/registrations/#' "$WORK/companies-a" >"$WORK/companies-a-path"

# CPU time (user + system, clock ticks) of the given processes' threads. A
# thread's name may hold spaces ("actix-server worker 0"): the fields are
# counted after the name's closing parenthesis (utime and stime are then 12, 13).
cpu_ticks() { local t=0 p; for p in "$@"; do for s in /proc/"$p"/task/*/stat; do
  t=$((t + $(sed 's/^.*) //' "$s" 2>/dev/null | awk '{print $12 + $13}' || echo 0))); done; done; echo "$t"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
run() { # name connections url [env...]; CPU_PIDS: the server processes whose CPU is counted
  local name=$1 conns=$2 url=$3; shift 3
  local pids=${CPU_PIDS:-$GATEWAY_PID} before after
  # shellcheck disable=SC2086
  before=$(cpu_ticks $pids)
  local out; out=$(env "$@" wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s benches/wrk-post.lua "$url" | grep '^RESULT')
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  read -r _ rps p50 p99 errors total <<<"$out"
  local cpu_us; cpu_us=$(python3 -c "print(f'{($after - $before) * $TICK_US / max($total, 1):.1f}')")
  printf '%s %s %s %s %s %s %s\n' "$name" "$rps" "$p50" "$p99" "$errors" "$total" "$cpu_us" >>"$WORK/results"
}
CTX='"context":{"operator_id":"EMP-1001","purpose":"PURPOSE","case_ref":"SHR-2025-000123"}'
ctx() { echo "${CTX/PURPOSE/$1}"; }
NID_BODY="{\"national_id\":\"{ID}\",\"claims\":{\"full_name\":\"محمد احمد علي\",\"birth_date\":\"1990-01-01\"},$(ctx building_permit)}"
CR_BODY="{\"office\":\"{OFFICE}\",\"registration_number\":\"{NUMBER}\",\"claims\":{\"trade_name\":\"مخبز النور\"},$(ctx shop_license)}"
RE_BODY="{\"property_id\":\"{ID}\",\"claims\":{\"owner_national_id\":\"29001011300036\"},$(ctx property_services)}"
SOAP_NID='<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:nid="urn:bawaba:sandbox:national-id"><soap:Body><nid:GetCitizenRequest><nid:NationalId>{ID}</nid:NationalId></nid:GetCitizenRequest></soap:Body></soap:Envelope>'
SOAP_RE='<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:re="urn:bawaba:sandbox:real-estate"><soap:Body><re:GetPropertyRequest><re:PropertyId>{ID}</re:PropertyId></re:GetPropertyRequest></soap:Body></soap:Envelope>'
# Company keys are "OFFICE|NUMBER": each line becomes the office and number fields of one body.
CR_BODY_ID="{\"office\":\"{ID}\",\"claims\":{\"trade_name\":\"مخبز النور\"},$(ctx shop_license)}"
python3 - "$WORK/companies-b" <<'PY'
import sys
p = sys.argv[1]
rows = [l.strip().split("|") for l in open(p) if l.strip()]
open(p + "-body", "w").write("\n".join(f'{o}","registration_number":"{n}' for o, n in rows))
PY
warm() { curl -sf -X POST "http://$API$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2" >/dev/null; }

echo "== verify: cache hit and miss, per registry" >&2
CPU_PIDS=$BARE_PID run bare 64 "http://$BARE/hello" BODY="${NID_BODY//\{ID\}/29001011300036}"
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
: >"$WORK/nginx/access.log"
CPU_PIDS="$NGINX_PID $NGINX_WORKERS" run nginx 64 "http://$NGINX/hello" BODY="${NID_BODY//\{ID\}/29001011300036}"
warm /v1/national-id/verify "${NID_BODY//\{ID\}/29001011300036}"
run nid_hit 64 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="${NID_BODY//\{ID\}/29001011300036}"
NTOKEN=$(curl -sf -X POST "http://$API_NORMAL/oauth/token" -d grant_type=client_credentials \
  -d client_id=center-demo -d client_secret=center-demo-secret | json 'd["access_token"]')
curl -sf -X POST "http://$API_NORMAL/v1/national-id/verify" -H "Authorization: Bearer $NTOKEN" -H 'Content-Type: application/json' \
  -d "${NID_BODY//\{ID\}/29001011300036}" >/dev/null
CPU_PIDS=${PIDS[1]} run nid_hit_normal 64 "http://$API_NORMAL/v1/national-id/verify" TOKEN="$NTOKEN" BODY="${NID_BODY//\{ID\}/29001011300036}"
run nid_hit_256 256 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="${NID_BODY//\{ID\}/29001011300036}"
CPU_PIDS=$BARE_PID run bare_256 256 "http://$BARE/hello" BODY="${NID_BODY//\{ID\}/29001011300036}"
# The miss path at one connection: what the gateway adds to the registry's own latency.
CPU_PIDS=${PIDS[0]} run nid_direct_1 1 "http://$SANDBOX/national-id/soap" BODY="$SOAP_NID" IDS_FILE="$WORK/ids-a" CONTENT_TYPE='text/xml; charset=utf-8' \
  SOAP_ACTION='"urn:bawaba:sandbox:national-id#GetCitizen"'
run nid_miss_1 1 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="$NID_BODY" IDS_FILE="$WORK/ids-b"
run nid_direct 8 "http://$SANDBOX/national-id/soap" BODY="$SOAP_NID" IDS_FILE="$WORK/ids-a" CONTENT_TYPE='text/xml; charset=utf-8' \
  SOAP_ACTION='"urn:bawaba:sandbox:national-id#GetCitizen"'
run nid_miss 8 "http://$API/v1/national-id/verify" TOKEN="$TOKEN" BODY="$NID_BODY" IDS_FILE="$WORK/ids-b"
CR_FIX=${CR_BODY/\{OFFICE\}/ZAGAZIG}; CR_FIX=${CR_FIX/\{NUMBER\}/123456}
warm /v1/commercial-register/verify "$CR_FIX"
run cr_hit 64 "http://$API/v1/commercial-register/verify" TOKEN="$TOKEN" BODY="$CR_FIX"
run cr_direct 8 "http://$SANDBOX/" METHOD=GET REQ_PATH="/commercial-register/v1/offices/{ID}" IDS_FILE="$WORK/companies-a-path"
run cr_miss 8 "http://$API/v1/commercial-register/verify" TOKEN="$TOKEN" BODY="${CR_BODY_ID}" IDS_FILE="$WORK/companies-b-body"
warm /v1/real-estate/verify "${RE_BODY//\{ID\}/SHR-ZAG-000123}"
run re_hit 64 "http://$API/v1/real-estate/verify" TOKEN="$TOKEN" BODY="${RE_BODY//\{ID\}/SHR-ZAG-000123}"
run re_direct 8 "http://$SANDBOX/real-estate/soap" BODY="$SOAP_RE" IDS_FILE="$WORK/properties-a" CONTENT_TYPE='text/xml; charset=utf-8' \
  SOAP_ACTION='"urn:bawaba:sandbox:real-estate#GetProperty"'
run re_miss 8 "http://$API/v1/real-estate/verify" TOKEN="$TOKEN" BODY="$RE_BODY" IDS_FILE="$WORK/properties-b"

RSS_AFTER_HITS=$(awk '/^VmRSS/{print $2/1024 " MiB"}' /proc/"$GATEWAY_PID"/status)
RSS_PEAK_HITS=$(awk '/^VmHWM/{print $2/1024 " MiB"}' /proc/"$GATEWAY_PID"/status)
# The disk's own fsync latency, in the same run, beside the miss path.
python3 - "$WORK/fsync.probe" >"$WORK/fsync.json" <<'PY'
import json, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
ts = []
for _ in range(500):
    os.write(fd, b"x" * 4096)
    t = time.perf_counter(); os.fsync(fd); ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({"n": len(ts), "p50_ms": ts[len(ts) // 2] * 1e3, "p99_ms": ts[int(len(ts) * 0.99)] * 1e3}))
PY

# The asynchronous parts come before the SMS load, whose delivery reports keep
# the gateway busy for a while after it.
echo "== security checks (python driver)" >&2
python3 benches/drive.py security "http://$API" "http://$SANDBOX" "$TOKEN" "$WORK/ids-b" >"$WORK/drive-security.json"

echo "== SMS: accepted per second at the API, dispatch, outage" >&2
SMS_BODY='{"to":"01001234567","template":"request_status","lang":"ar","params":{"case_ref":"SHR-2025-000123","status":"approved","center":"الزقازيق"},"context":{"operator_id":"EMP-1","purpose":"status_notification","case_ref":"SHR-2025-000123"}}'
run sms_accept 64 "http://$API/v1/sms" TOKEN="$TOKEN" BODY="$SMS_BODY" IDEMPOTENCY=1
sleep 5
python3 benches/drive.py sms "http://$API" "http://$SANDBOX" "$TOKEN" "$WORK/ids-b" >"$WORK/drive-sms.json"
# Last: the SMSC alone (its delivery reports for unknown messages load the gateway afterwards).
run smsc_direct 64 "http://$SANDBOX/smsc/v1/messages" \
  BODY='{"client_ref":"{UUID}","from":"5960","to":"+201001234567","text":"bench","encoding":"gsm7","segments":1}' IDEMPOTENCY=1
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); a.update(json.load(open(sys.argv[2]))); print(json.dumps(a))' \
  "$WORK/drive-security.json" "$WORK/drive-sms.json" >"$WORK/drive.json"

python3 - "$WORK/results" "$WORK/drive.json" "$(curl -sf "http://$API/metrics")" "$WORK/fsync.json" "$RSS_AFTER_HITS" "$RSS_PEAK_HITS" <<'PY'
import sys, json, re
rows = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(sys.argv[1])}
drive = json.load(open(sys.argv[2]))
metrics = sys.argv[3]
def row(label, g, base, blabel, kind, base2=None, b2label=None):
    a, b = rows[g], rows[base]
    if kind == "x":
        ratio = f"{a[0]/b[0]:.2f}× {blabel}"
        if base2:
            ratio += f", {a[0]/rows[base2][0]:.2f}× {b2label}"
    else:
        ratio = f"+{a[1]-b[1]:.2f} ms p50, +{a[2]-b[2]:.2f} ms p99"
    print(f"| {label} | {a[0]:.0f} | {a[1]:.2f} | {a[2]:.2f} | {int(a[3])} | {a[5]:.1f} | {blabel} | {b[0]:.0f} | {b[1]:.2f} | {b[2]:.2f} | {b[5]:.1f} | {ratio} |")
print("| path | req/s | p50 ms | p99 ms | errors | server CPU µs/req | baseline | req/s | p50 ms | p99 ms | CPU µs/req | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
row("nginx proxy_cache hit (one worker, 64 conns)", "nginx", "bare", "bare actix-web JSON", "x")
row("national ID, cache hit (64 conns)", "nid_hit", "bare", "bare", "x", "nginx", "nginx")
row("national ID, cache hit, store.sqlite_synchronous=normal", "nid_hit_normal", "bare", "bare", "x", "nginx", "nginx")
row("national ID, cache hit (256 conns)", "nid_hit_256", "bare_256", "bare (256 conns)", "x")
row("national ID, cache miss (1 conn)", "nid_miss_1", "nid_direct_1", "sandbox SOAP direct (1 conn)", "ms")
row("national ID, cache miss (8 conns)", "nid_miss", "nid_direct", "sandbox SOAP direct", "ms")
row("commercial register, cache hit", "cr_hit", "bare", "bare", "x", "nginx", "nginx")
row("commercial register, cache miss", "cr_miss", "cr_direct", "sandbox REST direct", "ms")
row("real estate, cache hit", "re_hit", "bare", "bare", "x", "nginx", "nginx")
row("real estate, cache miss", "re_miss", "re_direct", "sandbox SOAP direct", "ms")
row("SMS accepted at the API (64 conns)", "sms_accept", "bare", "bare", "x")
row("SMSC submit direct (the dispatch baseline)", "smsc_direct", "bare", "bare", "x")
f = json.load(open(sys.argv[4]))
print(f"\nfsync of a 4 KiB write on the store's disk, same run: p50 {f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms ({f['n']} fsyncs)")
print(f"gateway memory after the hit-path loads: RSS {sys.argv[5]} (peak {sys.argv[6]})")
print()
s = drive["security"]
print(f"| security checks | {s['n']} checks decided in {s['gateway_s']:.1f} s = **{s['gateway_per_min']:.0f}/min** | baseline: the directorate driven directly (submit + poll) | {s['direct_s']:.1f} s = {s['direct_per_min']:.0f}/min | ratio {s['gateway_per_min']/s['direct_per_min']:.2f} |")
d = drive["dispatch"]
print(f"| SMS dispatch, rate limit lifted | {d['n']} messages reached the SMSC in {d['seconds']:.1f} s = **{d['per_s']:.0f}/s** | baseline: SMSC submit direct (above) | {rows['smsc_direct'][0]:.0f}/s | ratio {d['per_s']/rows['smsc_direct'][0]:.2f} |")
o = drive["outage"]
print(f"| SMSC outage | {o['accepted']} accepted in {o['seconds']:.0f} s ({o['accepted']/o['seconds']:.0f}/s): outbox grew to **{o['queued_peak']}** | after recovery: drained in {o['drain_s']:.1f} s; {o['delivered']} of {o['accepted']} reached the SMSC | | |")
def metric(name):
    m = re.search(rf"^bawaba_{name} (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else 0.0
batches = metric("audit_batch_size_count"); events = metric("audit_batch_size_sum")
commit = metric("audit_commit_seconds_sum")
if batches:
    print(f"\naudit group commit over the whole run: {events:.0f} events in {batches:.0f} commits (mean batch {events/batches:.1f}, mean commit {1000*commit/batches:.2f} ms)")
PY

# The audit writer at 64 appenders on both stores (PostgreSQL over TCP with
# and without TLS), then the SQLite store's own transaction without the
# writer around it, and without its parts: the floor the writer stands on.
echo "== the audit writer and its floor" >&2
cargo build --release --quiet --example bench_audit
PG=${BAWABA_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
echo
target/release/examples/bench_audit --seconds 5 --tasks 64 --dir "$WORK" --pg "$PG" --pg "$PG?sslmode=disable"
echo
target/release/examples/bench_audit --floor --seconds 5 --dir "$WORK"
