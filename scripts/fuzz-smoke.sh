#!/usr/bin/env bash
# Run every cargo-fuzz target for a short time (FUZZ_SECONDS each, default 20), seeded from the
# small test images when GUESTFIX_TEST_IMAGES is set. The stable toolchain builds fuzz targets
# with RUSTC_BOOTSTRAP=1; `-s none` (no sanitizer) keeps the build short for CI, and debug
# assertions still turn overflows into crashes. A crash fails the run and keeps the input in
# fuzz/artifacts/.
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
(cd fuzz && cargo fuzz build -s none -O >/dev/null)
for t in $targets; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  # Seeds: small real container files for the block formats.
  if [ -n "${GUESTFIX_TEST_IMAGES:-}" ]; then
    case $t in
      block_qcow2) pat='*.qcow2' ;; block_vhd) pat='*.vhd' ;; block_vhdx) pat='*.vhdx' ;;
      block_vmdk) pat='*.vmdk' ;; block_ova) pat='*.ova' ;; *) pat='' ;;
    esac
    if [ -n "$pat" ]; then
      find "$GUESTFIX_TEST_IMAGES" -maxdepth 2 -name "$pat" -size -2M -exec cp -n {} "$corpus/" \; 2>/dev/null || true
    fi
  fi
  echo "== fuzz $t (${secs}s)"
  (cd fuzz && cargo fuzz run -s none -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 2>&1 | tail -n 3)
done
echo "fuzz-smoke: no crash in $(echo $targets | wc -w) targets"
