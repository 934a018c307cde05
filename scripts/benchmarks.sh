#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one run (issue 11), so that the numbers
# are comparable: same commit, same build, same machine state.
#
#   scripts/benchmarks.sh            # everything, ~25 minutes on 2 cores
#   scripts/benchmarks.sh policy     # or any of: policy store login documents outbox server load
#
# What it runs, in order, from one release build:
#   policy     cargo bench --bench policy     tms vs cedar-policy vs casbin-rs
#   store      cargo bench --bench store      unit of work vs raw sqlx; page p99 at 1,000,000 rows (PostgreSQL)
#   login      cargo bench --bench login      locked-account rejection, in process and over HTTP
#   documents  cargo bench --bench documents  voucher: tms vs WeasyPrint (installed by benches/weasyprint/setup.sh)
#   outbox     cargo bench --bench outbox     courier throughput to an aiosmtpd sink, SQLite and PostgreSQL
#   server     benches/server_figures.py      start-up to ready, idle RSS, login latencies
#   startup    farm-bench                     `tms-server migrate` as a whole process: a fresh
#                                             SQLite (every migration) and an up-to-date one
#   load       scripts/load.sh both           wrk: login, list bookings, create booking
#
# Each step's whole output goes to benches/results/<UTC time>/<step>.txt
# (git-ignored), next to machine.txt: the commit, the toolchain, the CPU and
# the load average before and after each step. Nothing here asserts a time:
# the figures are read, and copied into BENCHMARKS.md, by a person.
#
# Needs what .ci/run installs (PostgreSQL at TMS_TEST_DATABASE_URL, the
# aiosmtpd venv at .ci/venv); WeasyPrint and wrk are installed on first use.
# Measure on a quiet machine: the script warns when the load average is
# above 1.5 before it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(policy store login documents outbox server startup load)
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=("${ALL[@]}")
for step in "${STEPS[@]}"; do
  case " ${ALL[*]} " in *" $step "*) ;; *) echo "unknown step: $step (one of: ${ALL[*]})" >&2; exit 2 ;; esac
done

export TMS_TEST_DATABASE_URL="${TMS_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TMS_TEST_SMTPD="${TMS_TEST_SMTPD:-$PWD/.ci/venv/bin/python}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="benches/results/$(date -u +%Y-%m-%dT%H%M%SZ)"
mkdir -p "$OUT"

load_average() { cut -d' ' -f1-3 /proc/loadavg; }
{
  echo "commit:    $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "toolchain: $(rustc --version)"
  echo "cpu:       $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory:    $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "postgres:  $(psql -tA "$TMS_TEST_DATABASE_URL" -c 'show server_version' 2>/dev/null || echo unavailable)"
  echo "load before the build: $(load_average)"
} | tee "$OUT/machine.txt"

# One release build of everything first, so that no step compiles while
# another is measured.
echo "==> building (release)"
needs_benches=false
for step in "${STEPS[@]}"; do
  case "$step" in policy|store|login|documents|outbox) needs_benches=true ;; esac
done
if $needs_benches; then cargo bench -p tms-benches --no-run 2>&1 | tail -n 3; fi
cargo build --release -p tms-http --bin tms-server 2>&1 | tail -n 1
export TMS_SERVER_BIN="$PWD/$TARGET/release/tms-server"
case "$TARGET" in /*) TMS_SERVER_BIN="$TARGET/release/tms-server" ;; esac

for step in "${STEPS[@]}"; do
  case "$step" in documents) bash benches/weasyprint/setup.sh ;; esac
done

before="$(load_average)"
first="${before%% *}"
if python3 -c "import sys; sys.exit(0 if float('$first') > 1.5 else 1)"; then
  echo "warning: load average $before before measuring; the figures will be of a busy machine" >&2
fi

run() {
  local step="$1"; shift
  echo "==> $step: $*"
  echo "load before $step: $(load_average)" >> "$OUT/machine.txt"
  local start=$SECONDS
  "$@" > "$OUT/$step.txt" 2>&1 || { echo "$step failed; see $OUT/$step.txt" >&2; tail -n 20 "$OUT/$step.txt" >&2; exit 1; }
  echo "load after $step:  $(load_average) ($((SECONDS - start)) s)" >> "$OUT/machine.txt"
  # Criterion's summary lines (the name, then time/thrpt [low estimate high]).
  grep -E '^[a-z_0-9/]+ *$|^[a-z_0-9/]+ +time:|^ +(time|thrpt):|p50|p99|req/s|msg/s|RSS|median|peak|wall' "$OUT/$step.txt" | head -n 60 || true
}

for step in "${STEPS[@]}"; do
  case "$step" in
    policy|store|login|documents|outbox) run "$step" cargo bench -p tms-benches --bench "$step" ;;
    server) run server python3 benches/server_figures.py ;;
    startup)
      # The whole process from outside (farm-bench: wall, CPU and peak
      # memory, min/median/max): what an operator's `migrate` step or a
      # container's start costs before it serves.
      scratch="$(mktemp -d)"
      startup() {
        TMS_DATA_DIR="$scratch/fresh" farm-bench -n 10 --timeout 300 -- \
          sh -c "rm -rf '$scratch/fresh' && exec '$TMS_SERVER_BIN' migrate"
        TMS_DATA_DIR="$scratch/kept" "$TMS_SERVER_BIN" migrate >/dev/null 2>&1
        TMS_DATA_DIR="$scratch/kept" farm-bench -n 20 --timeout 300 -- "$TMS_SERVER_BIN" migrate
      }
      run startup startup
      rm -rf "$scratch"
      ;;
    load) run load scripts/load.sh both ;;
  esac
done

echo "load at the end: $(load_average)" >> "$OUT/machine.txt"
echo "==> results in $OUT"
