#!/usr/bin/env bash
# faultline's test command (README "Set-up"; CI runs exactly this through .ci/run).
# Builds once, in the release profile, and runs every unit, property and end-to-end test.
# Tests that need system packages fail with a message naming the package; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found: install a Rust toolchain (https://rustup.rs) first" >&2
  exit 3
fi
if [ ! -f ../shared/data/porcupine/EXPECTED.tsv ] && [ -z "${FAULTLINE_TESTDATA:-}" ]; then
  echo "error: known-answer histories not found at ../shared/data/porcupine;" \
       "check out shared/ beside this repository or set FAULTLINE_TESTDATA" >&2
  exit 3
fi

cargo test --release --workspace --all-targets
