#!/usr/bin/env bash
# cargo-fuzz targets (issue 11): runs every target of fuzz/ for a fixed time.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]   (default 60, all)
#
# Needs the nightly toolchain (libFuzzer and the sanitizers); installs
# cargo-fuzz from crates.io when it is missing. Each target starts from its
# seed corpus under fuzz/corpus/<target>/ (small, hand-written, committed);
# what a run adds goes to a scratch copy, so the committed corpus stays
# small. A crash leaves its input under fuzz/artifacts/<target>/ and stops
# the script with a non-zero status: turn it into a fix plus a unit test
# next to the code (`cargo fuzz fmt <target> <file>` prints the input).
#
# FUZZ_TARGET_DIR (default target/fuzz) is the build's target dir.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
shift || true
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"

TARGETS=(
  csv_import   # tms-core/src/service/import.rs: the streaming CSV parser
  money        # tms-core/src/money.rs: amounts and currency codes
  template     # tms-core/src/service/outreach/render.rs: templates (fuel-bounded)
  jwt          # tms-core/src/security/jwt.rs: session token verification
  credentials  # tms-core/src/security/credentials.rs: Cookie / Authorization headers
  contact      # tms-core/src/domain/text.rs: phone, email, names, passport numbers
  # --- MIME parsing (issue 10) ---
  mime
)
[ "$#" -gt 0 ] && TARGETS=("$@")

rustup toolchain list | grep "^$TOOLCHAIN" >/dev/null || rustup toolchain install "$TOOLCHAIN" --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
cd fuzz
cargo "+$TOOLCHAIN" fuzz build -O

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${TARGETS[@]}"; do
  printf '\n==> fuzz %s for %ss\n' "$target" "$SECONDS_PER_TARGET"
  mkdir -p "$scratch/$target"
  # -timeout: one input taking over 10 s is a hang (a finding);
  # -rss_limit_mb: so is one that needs over 2 GiB.
  if ! cargo "+$TOOLCHAIN" fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit "$status"
