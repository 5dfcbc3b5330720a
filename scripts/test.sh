#!/usr/bin/env bash
# The whole test suite, on a fresh machine: install the Debian packages the tests need, build
# (or reuse from the cache) the test images, then run every test. README command 2; .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# rpm with its ndb backend (tests/guest_linux_rpmdb_formats.rs; ~5 min once, then cached): built
# in the background while the images and the crate build; the tests wait on its lock.
mkdir -p "${XDG_CACHE_HOME:-$HOME/.cache}/guestfix"
scripts/rpm-ndb.sh >"${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/rpm-ndb.log" 2>&1 &

echo "== test images (scripts/make-test-images.sh; cached in ~/.cache/guestfix/test-images)"
GUESTFIX_TEST_IMAGES=$(scripts/make-test-images.sh | tail -n 1)
export GUESTFIX_TEST_IMAGES
# Tests that need the images fail (rather than skip) when they are missing.
export GUESTFIX_REQUIRE_IMAGES=1
echo "GUESTFIX_TEST_IMAGES=$GUESTFIX_TEST_IMAGES"

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings

echo "== cargo test"
# Release: the image tests read gigabytes (every container format of a 2 GiB disk).
cargo test --release --all-targets --no-fail-fast 2>&1 | tee /tmp/guestfix-cargo-test.log
test "${PIPESTATUS[0]}" -eq 0
echo "== doctests (--all-targets leaves them out)"
cargo test --release --doc
echo "== library example (examples/inspect_and_plan.rs on the bundled sample image)"
cargo run --release --example inspect_and_plan -- test-images/sample.qcow2 > /dev/null

# The scripts below use the release binary cargo test built (the crash test builds its own, with
# the test-hooks feature).
export GUESTFIX_BIN=$PWD/target/release/guestfix
echo "== check-images (fsck / qemu-img check of every test image)"
scripts/check-images.sh "$GUESTFIX_TEST_IMAGES"

echo "== boot test: debian12-bios reaches its login prompt (SATA, SeaBIOS, TCG)"
scripts/boot-test.sh --bus sata --firmware bios --timeout 300 \
  "$GUESTFIX_TEST_IMAGES/debian12-bios.raw" "$GUESTFIX_TEST_IMAGES/debian12-datadisk.raw"
# GUESTFIX_BOOT_TESTS=all also boots debian12-uefi (OVMF, BOOT-4 fix on a scratch copy),
# debian12-xfs and debian12-btrfs (~2-3 min each under TCG)
if [ "${GUESTFIX_BOOT_TESTS:-}" = all ]; then
  for v in xfs btrfs; do
    echo "== boot test: debian12-$v"
    scripts/boot-test.sh --timeout 400 "$GUESTFIX_TEST_IMAGES/debian12-$v.raw" "$GUESTFIX_TEST_IMAGES/debian12-datadisk.raw"
  done
  echo "== boot test: debian12-uefi (OVMF, scratch copy with EFI/BOOT/BOOTX64.EFI)"
  scripts/boot-test.sh --timeout 400 --firmware uefi --efi-fallback \
    "$GUESTFIX_TEST_IMAGES/debian12-uefi.raw" "$GUESTFIX_TEST_IMAGES/debian12-datadisk.raw"
fi
echo "== apply: boot test (debian12-bios, debian12-uefi, debian12-xfs, debian12-btrfs on virtio: no boot before apply; login + DHCP after)"
scripts/boot-test-apply.sh
echo "== apply: MOD-L1 boot test (a host-only initramfs without virtio/nvme: no boot before apply; the guest's own modules appended: login + DHCP after)"
scripts/boot-test-initramfs.sh "$GUESTFIX_TEST_IMAGES"
echo "== apply: crash test (50 in-place applies killed at random points, then --recover)"
scripts/crash-test.sh 50
echo "== apply: crash test on XFS and Btrfs roots (6 in-place applies each of debian12-xfs and debian12-btrfs; judged by xfs_repair -n and btrfs check --readonly)"
CRASH_IMAGE=debian12-xfs scripts/crash-test.sh 6
CRASH_IMAGE=debian12-btrfs scripts/crash-test.sh 6
echo "== apply: crash test on a Windows guest (10 in-place applies of the win10 plan with drivers: hives, new folders and files on NTFS; judged by ntfsfix -n)"
CRASH_IMAGE=win10 scripts/crash-test.sh 10
echo "== virt-inspector comparison (every field both tools report: debian12 bios/uefi/xfs/btrfs, win2019, win11, win2012r2, win2022 bios/uefi, win10)"
scripts/compare-virt-inspector.sh "$GUESTFIX_TEST_IMAGES"
echo "== fuzz smoke (every cargo-fuzz target, ${FUZZ_SECONDS:-20}s each)"
scripts/fuzz-smoke.sh

echo "== all tests passed"
