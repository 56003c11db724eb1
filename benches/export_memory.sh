#!/usr/bin/env bash
# Does an audit export stream in constant memory? Exports logs of 100,000,
# 1,000,000 and 2,000,000 events through the API and the CLI, on SQLite and on
# PostgreSQL, and prints the peak anonymous (heap) memory of the gateway during
# the export, beside the same before it, and of the CLI. File-backed memory is
# left out on purpose: SQLite memory-maps up to 256 MiB of the database file
# (store pragmas), which the kernel counts as resident but can drop at any time.
# SQLite's own page cache (64 MiB per pooled connection) is heap and shows here.
#
#   bash benches/export_memory.sh [largest log, default 2000000]
#   PG=postgres://postgres@127.0.0.1:5432/test (default) names the PostgreSQL server;
#   BACKENDS="sqlite postgres" (default) chooses the stores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${1:-2000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
PGDB=bawaba_export_$$
cargo build --release --quiet --bin bawaba
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" 2>/dev/null || true; }
trap cleanup EXIT

# A log of N events in SQLite: the product's schema (opened once by the CLI), rows made up.
make_log() { # file n
  printf '[store]\nurl = "%s"\n[audit]\ncheckpoint_key_file = "%s/key.pem"\n' "sqlite://$1" "$WORK" >"$WORK/cli.toml"
  target/release/bawaba audit export --config "$WORK/cli.toml" --format csv >/dev/null 2>&1
  python3 - "$1" "$2" <<'PY'
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
def rows():
    for i in range(1, n + 1):
        yield (i, f"0194{i:028x}", f"2026-11-{1 + i * 20 // n:02d}T10:00:00.{i % 1000000:06d}Z", "center-demo",
               "SHR-ZAG-01", f"EMP-{i % 300}", "national_id.verify", f"2900101{i % 100000:07d}", "building_permit",
               f"SHR-2025-{i:06d}", "match", 200, "hit", 1, "0" * 64, f"{i:064x}")
c.executemany("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
c.execute("UPDATE audit_head SET seq = ?, hash = ?", (n, f"{n:064x}"))
c.commit()
PY
}

# The same in PostgreSQL (a scratch database, made anew for each size).
make_pg_log() { # n
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" -c "CREATE DATABASE $PGDB"
  local url="${PG%/*}/$PGDB"
  printf '[store]\nurl = "%s"\n[audit]\ncheckpoint_key_file = "%s/key.pem"\n' "$url" "$WORK" >"$WORK/cli.toml"
  target/release/bawaba audit export --config "$WORK/cli.toml" --format csv >/dev/null 2>&1
  psql -q "$url" <<SQL
INSERT INTO audit_events SELECT i, '0194' || lpad(to_hex(i), 28, '0'),
  '2026-11-' || lpad((1 + i * 20 / $1)::text, 2, '0') || 'T10:00:00.' || lpad((i % 1000000)::text, 6, '0') || 'Z',
  'center-demo', 'SHR-ZAG-01', 'EMP-' || (i % 300), 'national_id.verify', '2900101' || lpad((i % 100000)::text, 7, '0'),
  'building_permit', 'SHR-2025-' || lpad(i::text, 6, '0'), 'match', 200, 'hit', 1, repeat('0', 64), lpad(to_hex(i), 64, '0')
FROM generate_series(1, $1) AS i;
UPDATE audit_head SET seq = $1, hash = lpad(to_hex($1), 64, '0');
SQL
  STORE_URL=$url
}

anon() { awk '/RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Samples a process's anonymous memory every 50 ms until it exits; prints the peak.
peak_while() { local pid=$1 top=0 v; while kill -0 "$pid" 2>/dev/null; do v=$(anon "$pid"); v=${v:-0}
  [ "$v" -gt "$top" ] && top=$v; sleep 0.05; done; echo "$top"; }
measure() { # backend n
  local db="$WORK/log.db"
  if [ "$1" = sqlite ]; then make_log "$db" "$2"; STORE_URL="sqlite://$db"; else make_pg_log "$2"; fi
  shift
  BAWABA__SERVER__LISTEN=127.0.0.1:18480 BAWABA__SANDBOX__LISTEN=127.0.0.1:18490 BAWABA__SERVER__WORKERS=2 \
  BAWABA__STORE__URL="$STORE_URL" BAWABA__AUDIT__CHECKPOINT_KEY_FILE="$WORK/key.pem" BAWABA__LOG__LEVEL=warn \
    target/release/bawaba serve >"$WORK/gw.log" 2>&1 & PID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18480/healthz >/dev/null && break; sleep 0.1; done
  local token; token=$(curl -sf -X POST http://127.0.0.1:18480/oauth/token -u auditor-demo:auditor-demo-secret \
    -d grant_type=client_credentials | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  local before; before=$(anon $PID)
  local t0; t0=$(date +%s.%N)
  curl -sf -H "Authorization: Bearer $token" -o "$WORK/export.csv" \
    "http://127.0.0.1:18480/v1/audit/export?format=csv&action=national_id.verify" & local curl_pid=$!
  local top=0 v; while kill -0 $curl_pid 2>/dev/null; do v=$(anon $PID); [ "$v" -gt "$top" ] && top=$v; sleep 0.05; done
  wait $curl_pid
  local t1; t1=$(date +%s.%N)
  local bytes; bytes=$(wc -c <"$WORK/export.csv"); rm -f "$WORK/export.csv"
  local after=$top
  kill $PID; wait $PID 2>/dev/null || true; PID=
  target/release/bawaba audit export --config "$WORK/cli.toml" --format ndjson --action national_id.verify \
    >/dev/null 2>&1 & local cli_pid=$!
  local cli; cli=$(peak_while $cli_pid); wait $cli_pid
  rm -f "$db"*
  printf '%-9s %-10s %10s %12s %14s %14s %10s %12s\n' "$BACKEND" "$1" "$((bytes / 1048576)) MiB" \
    "$(python3 -c "print(f'{$1/($t1-$t0):,.0f}')")/s" "${before} KiB" "${after} KiB" \
    "$(python3 -c "print(f'{($after-$before)/1024:.1f}')") MiB" "${cli} KiB"
}
printf '%-9s %-10s %10s %12s %14s %14s %10s %12s\n' store events csv rate "heap before" "heap peak" growth "CLI heap peak"
for BACKEND in ${BACKENDS:-sqlite postgres}; do
  measure $BACKEND 100000
  measure $BACKEND 1000000
  measure $BACKEND "$BIG"
done
