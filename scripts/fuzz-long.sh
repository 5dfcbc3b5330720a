#!/usr/bin/env bash
# Run every cargo-fuzz target for MINUTES each (default 10), seeded as the smoke run is, with
# overflow checks on (`-O -a`), FUZZ_JOBS targets at a time (default 1). Prints one line per
# target: executions, coverage, features, result. Run it before a release and after a change to
# a parser or a writer (docs/fuzzing.md); CI runs only scripts/fuzz-smoke.sh.
#   scripts/fuzz-long.sh [MINUTES]     (FUZZ_TARGETS="a b" runs only those targets)
# A failure keeps its input in fuzz/artifacts/TARGET/; copy it to fuzz/regressions/TARGET/
# (tests/fuzz_replay.rs replays it in cargo test) and fix it. Exit 1 when any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mins=${1:-10}
jobs=${FUZZ_JOBS:-1}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
targets=${FUZZ_TARGETS:-$(cd fuzz && ls fuzz_targets/*.rs | xargs -n1 basename | sed 's/\.rs$//')}
(cd fuzz && cargo fuzz build -s none -O -a >/dev/null) || exit 2
logs=$(mktemp -d)
echo "fuzz-long: $(echo $targets | wc -w) targets x ${mins} min, $jobs at a time, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
run_one() {
  local t=$1 corpus=fuzz/corpus/$1
  scripts/fuzz-seed.sh "$t" "$corpus" >/dev/null
  (cd fuzz && cargo fuzz run -s none -O -a "$t" "corpus/$t" -- -max_total_time=$((mins * 60)) \
    -max_len=1048576 -rss_limit_mb=2048 -print_final_stats=1) >"$logs/$t.log" 2>&1
  local rc=$?
  local execs cov ft
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*')
  if [ $rc -eq 0 ]; then res=ok; else res="FAILED (rc $rc; input in fuzz/artifacts/$t/)"; fi
  printf '%-20s execs %-12s cov %-7s ft %-7s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$res"
  [ $rc -eq 0 ]
}
fail=0
running=0
for t in $targets; do
  run_one "$t" &
  running=$((running + 1))
  if [ $running -ge "$jobs" ]; then wait -n || fail=1; running=$((running - 1)); fi
done
while [ $running -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
echo "fuzz-long: logs in $logs"
exit $fail
