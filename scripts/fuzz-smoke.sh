#!/usr/bin/env bash
# Run every cargo-fuzz target for a short time (FUZZ_SECONDS each, default 20), each seeded from
# real data (scripts/fuzz-seed.sh: the test images when GUESTFIX_TEST_IMAGES is set, and
# ../shared/data). The stable toolchain builds fuzz targets with RUSTC_BOOTSTRAP=1; `-s none` (no
# sanitizer) keeps the build short for CI; `-O -a` builds optimised WITH debug assertions, so an
# integer overflow panics instead of wrapping silently. A crash fails the run and keeps the
# input in fuzz/artifacts/; copy it to fuzz/regressions/TARGET/ so cargo test replays it.
# Longer runs: scripts/fuzz-long.sh MINUTES (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
targets=$(cd fuzz && ls fuzz_targets/*.rs | xargs -n1 basename | sed 's/\.rs$//')
echo "fuzz-smoke: building $(echo $targets | wc -w) targets"
(cd fuzz && cargo fuzz build -s none -O -a >/dev/null)
for t in $targets; do
  corpus=fuzz/corpus/$t
  scripts/fuzz-seed.sh "$t" "$corpus" >/dev/null
  echo "== fuzz $t (${secs}s, $(find "$corpus" -type f | wc -l) inputs to start)"
  (cd fuzz && cargo fuzz run -s none -O -a "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 2>&1 | tail -n 3)
done
echo "fuzz-smoke: no crash in $(echo $targets | wc -w) targets"
