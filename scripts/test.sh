#!/usr/bin/env bash
# The whole test suite, on a fresh machine: install the Debian packages the tests need, build
# (or reuse from the cache) the test images, then run every test. README command 2; .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== test images (scripts/make-test-images.sh; cached in ~/.cache/guestfix/test-images)"
GUESTFIX_TEST_IMAGES=$(scripts/make-test-images.sh | tail -n 1)
export GUESTFIX_TEST_IMAGES
echo "GUESTFIX_TEST_IMAGES=$GUESTFIX_TEST_IMAGES"

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

echo "== cargo test"
cargo test --all-targets 2>&1 | tee /tmp/guestfix-cargo-test.log
test "${PIPESTATUS[0]}" -eq 0

echo "== check-images (fsck / qemu-img check of every test image)"
scripts/check-images.sh "$GUESTFIX_TEST_IMAGES"

echo "== boot test: debian12-bios reaches its login prompt (SATA, SeaBIOS, TCG)"
scripts/boot-test.sh --bus sata --firmware bios --timeout 300 \
  "$GUESTFIX_TEST_IMAGES/debian12-bios.raw" "$GUESTFIX_TEST_IMAGES/debian12-datadisk.raw"
echo "== virt-inspector comparison"; scripts/compare-virt-inspector.sh "$GUESTFIX_TEST_IMAGES"
echo "== all tests passed"
