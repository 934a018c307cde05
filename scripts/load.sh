#!/usr/bin/env bash
# Load test on loopback (issue 11): login, list bookings, create booking,
# with real sessions, on SQLite (embedded defaults) and on PostgreSQL.
#
#   scripts/load.sh [sqlite|postgres|both]   (default both)
#
# Builds `tms-server` in release mode, provisions a tenant with
# `tms-server init --password-stdin` (an owner's own password: a full
# session, not a restricted one), signs in for real sessions, creates a
# client and 200 bookings so that the list has pages, then drives each
# endpoint with wrk (Debian's `wrk`; installed when missing) and prints
# throughput and the latency percentiles wrk reports (p50, p90, p99).
# Every answer must be 2xx: a run with errors fails.
#
# Knobs: LOAD_DURATION (seconds per endpoint, default 20), LOAD_CONNECTIONS
# (default 8), LOAD_THREADS (default 2), LOAD_LOGIN_CONNECTIONS (default 4),
# TMS_TEST_DATABASE_URL (the PostgreSQL server; a database `tms_load_<pid>`
# is created there and dropped at the end), TMS_SERVER_BIN (a prebuilt
# binary).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS="${1:-both}"
DURATION="${LOAD_DURATION:-20}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
THREADS="${LOAD_THREADS:-2}"
LOGIN_CONNECTIONS="${LOAD_LOGIN_CONNECTIONS:-4}"
PG_URL="${TMS_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -z "${TMS_SERVER_BIN:-}" ]; then
  cargo build -q --release -p tms-http --bin tms-server
  TMS_SERVER_BIN="${CARGO_TARGET_DIR:-target}/release/tms-server"
fi

work="$(mktemp -d)"
server_pid=""
pg_db=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() {
  stop_server
  if [ -n "$pg_db" ]; then psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
password="Load-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# One wrk run; prints a summary line and fails on any non-2xx answer.
drive() {
  local name="$1" connections="$2" script="$3" url="$4" out="$work/wrk-$1.txt"
  wrk -t"$THREADS" -c"$connections" -d"${DURATION}s" --timeout 10s --latency -s "scripts/load/$script" "$url" >"$out"
  python3 - "$name" "$out" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def pct(p):
    m = re.search(r"^\s+%s%%\s+(\S+)" % p, text, re.M)
    return m.group(1) if m else "?"
rps = re.search(r"Requests/sec:\s+(\S+)", text).group(1)
total = re.search(r"(\d+) requests in", text).group(1)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(f"  {name:<15} {float(rps):>9.1f} req/s  p50 {pct(50):>8}  p90 {pct(90):>8}  p99 {pct(99):>8}  ({total} requests, {sys.argv[0] and ''}{bad.group(1) if bad else 0} non-2xx)")
if bad or errors:
    print(text, file=sys.stderr)
    sys.exit(1)
PY
}

run_backend() {
  local backend="$1" port base
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  export TMS_DATA_DIR="$work/$backend" TMS_LISTEN="127.0.0.1:$port" TMS_LOG=warn \
    TMS_FIRST_RUN=false TMS_WORKER=false TMS_RETENTION_INTERVAL_SECS=0 \
    TMS_TRUSTED_PROXIES=127.0.0.1
  unset TMS_DATABASE_URL
  if [ "$backend" = postgres ]; then
    pg_db="tms_load_$$"
    PGOPTIONS="--client-min-messages=warning" psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db" >/dev/null
    export TMS_DATABASE_URL="${PG_URL%/*}/$pg_db"
  fi
  "$TMS_SERVER_BIN" migrate >/dev/null
  printf '%s\n' "$password" | "$TMS_SERVER_BIN" init --slug load --name "Load Agency" --currency SAR \
    --branch Main --email owner@load.example --owner-name Owner --password-stdin >/dev/null
  "$TMS_SERVER_BIN" >"$work/server-$backend.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "$base/readyz" >/dev/null

  export TMS_LOAD_LOGIN="{\"tenant\":\"load\",\"email\":\"owner@load.example\",\"password\":\"$password\"}"
  local tokens="" i
  for i in $(seq 1 "$THREADS"); do
    tokens="$tokens $(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
      -H "x-forwarded-for: 10.255.0.$i" -d "$TMS_LOAD_LOGIN" | json "['token']")"
  done
  export TMS_LOAD_TOKENS="$tokens"
  local token="${tokens# }"; token="${token%% *}"
  local branch client
  branch="$(curl -fsS "$base/api/v1/branches" -H "authorization: Bearer $token" | json "['items'][0]['id']")"
  client="$(curl -sS --fail-with-body -X POST "$base/api/v1/clients" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\":\"Amina Khan\",\"branch_id\":\"$branch\"}" | json "['client']['id']")"
  export TMS_LOAD_BOOKING="{\"branch_id\":\"$branch\",\"client_id\":\"$client\",\"travellers\":[{\"name\":\"Amina Khan\",\"latin_name\":\"KHAN AMINA\",\"date_of_birth\":\"1990-05-17\"}],\"items\":[{\"kind\":\"hotel\",\"description\":\"Makkah hotel, 3 nights\",\"supplier_cost\":{\"amount\":\"900\",\"currency\":\"SAR\"},\"sell_price\":{\"amount\":\"1200.50\",\"currency\":\"SAR\"}}]}"
  for i in $(seq 1 200); do
    curl -sS --fail-with-body -o /dev/null -X POST "$base/api/v1/bookings" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "$TMS_LOAD_BOOKING"
  done

  echo "$backend ($(nproc) cores, wrk -t$THREADS, ${DURATION}s each):"
  drive "list bookings" "$CONNECTIONS" bearer.lua "$base/api/v1/bookings?limit=50"
  drive "create booking" "$CONNECTIONS" create_booking.lua "$base/api/v1/bookings"
  drive "login" "$LOGIN_CONNECTIONS" login.lua "$base/api/v1/auth/login"
  stop_server
}

case "$BACKENDS" in
  sqlite) run_backend sqlite ;;
  postgres) run_backend postgres ;;
  both) run_backend sqlite; run_backend postgres ;;
  *) echo "usage: scripts/load.sh [sqlite|postgres|both]" >&2; exit 2 ;;
esac
