#!/usr/bin/env bash
# schemathesis against the server's own OpenAPI document (issue 11).
#
#   scripts/schemathesis.sh [max-examples-per-operation]   (default 20)
#
# Installs schemathesis (pinned, from PyPI) into .ci/venv, starts
# `tms-server` on embedded defaults (SQLite, generated keys) in a temporary
# directory on a free loopback port, signs in as the first run's owner,
# replaces the handed-out password (until then the session is restricted),
# and runs schemathesis with that session as a bearer token. It fails on any
# server error (5xx), any status code the document does not list for the
# operation, and any response body that breaks its documented schema.
#
# The run is bounded (examples per operation, a fixed seed so that CI runs
# are reproducible; SCHEMATHESIS_SEED to vary it) and takes a few minutes on
# two cores. Reports land in $SCHEMATHESIS_REPORT_DIR (default
# target/schemathesis). TMS_SERVER_BIN runs a prebuilt server instead of
# building one.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
MAX_EXAMPLES="${1:-20}"
SEED="${SCHEMATHESIS_SEED:-20261201}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-$TARGET_DIR/schemathesis}"

if [ ! -x .ci/venv/bin/st ] \
  || ! .ci/venv/bin/pip show schemathesis 2>/dev/null | grep "^Version: $SCHEMATHESIS_VERSION\$" >/dev/null; then
  [ -x .ci/venv/bin/pip ] || python3 -m venv .ci/venv
  .ci/venv/bin/pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -z "${TMS_SERVER_BIN:-}" ]; then
  cargo build -q -p tms-http --bin tms-server
  TMS_SERVER_BIN="$TARGET_DIR/debug/tms-server"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(.ci/venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# The outbox worker stays on (mail goes to files under the data dir); the
# retention schedule is off so that nothing runs in the background.
TMS_DATA_DIR="$work/data" TMS_LISTEN="127.0.0.1:$port" TMS_LOG="warn" \
  TMS_RETENTION_INTERVAL_SECS=0 \
  "$TMS_SERVER_BIN" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "tms-server exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null

# The first run prints the owner's one-time password once, on stdout.
password="$(sed -n 's/^  password: //p' "$work/server.out" | sed -n 1p)"
[ -n "$password" ] || { echo "no first-run password in the server's output" >&2; exit 1; }
json() { .ci/venv/bin/python -c "import json, sys; print(json.load(sys.stdin)$1)"; }
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"tenant\":\"demo\",\"email\":\"owner@demo.example\",\"password\":\"$password\"}" | json "['token']")"
# The handed-out password restricts the session until it is changed.
new_password="$(.ci/venv/bin/python -c 'import secrets; print("St-" + secrets.token_urlsafe(24))')"
curl -fsS -o /dev/null -X POST "$base/api/v1/auth/password" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d "{\"current\":\"$password\",\"new\":\"$new_password\"}"
restricted="$(curl -fsS "$base/api/v1/auth/me" -H "authorization: Bearer $token" | json ".get('restricted', False)")"
[ "$restricted" = "False" ] || { echo "the session is still restricted" >&2; exit 1; }

mkdir -p "$REPORT_DIR"
# Excluded, because they end or lock the test's own session, which would
# turn every later request into a 401 and hide real findings:
# - logout and logout-everywhere end the session, and so does revoking a
#   session by id (schemathesis reuses ids from answers, such as the
#   session list's);
# - a password change with a wrong current password counts as a failed
#   sign-in, and enough of them lock the account.
# Everything else runs, critical actions included (without Tms-Confirm they
# must answer the documented 428, with a made-up one 4xx).
# One worker: with two, schemathesis's worker threads parse Python source
# (hypothesis describing a filter) at the same time, which CPython 3.11
# (3.11.7 here) can fail with "SystemError: AST constructor recursion depth
# mismatch" — rare and only with threads (python/cpython#106905,
# pytest-dev/pytest#10763). That is a runtime error of the tool, not a
# finding, and it failed one CI run here. One worker takes ~10 s longer.
status=0
.ci/venv/bin/st run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --workers 1 \
  --phases examples,coverage,fuzzing \
  --request-timeout 30 \
  --exclude-path /api/v1/auth/logout \
  --exclude-path /api/v1/auth/logout-everywhere \
  --exclude-path '/api/v1/auth/sessions/{id}' \
  --exclude-path /api/v1/auth/password \
  --report junit --report-dir "$REPORT_DIR" \
  --warnings off \
  || status=$?

# Findings after the session ended would be 401s that hide real answers.
if ! curl -fsS -o /dev/null "$base/api/v1/auth/me" -H "authorization: Bearer $token"; then
  echo "the test session ended during the run: exclude what ended it" >&2
  status=1
fi
if grep -q "panicked" "$work/server.err"; then
  echo "tms-server panicked during the run:" >&2
  grep -A3 "panicked" "$work/server.err" >&2
  status=1
fi
exit "$status"
