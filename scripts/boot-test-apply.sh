#!/usr/bin/env bash
# Boot test of `guestfix apply` (issue #8, "Done when"): the Debian 12 test guests do NOT come up
# on the import service's hardware (virtio-blk disk, virtio NIC with DHCP) before apply, and DO
# after: login prompt on the serial console AND an IPv4 address from the user-mode network's
# DHCP server (10.0.2.15), while the image's own configuration says static 192.168.122.50.
#
#   bios: debian12-bios, SeaBIOS. Before: GRUB passes root=/dev/sda1 and the disk is /dev/vda, so
#         the initramfs waits for a root that never appears and, after its ROOTDELAY (180 s),
#         says "Gave up waiting for root file system device" and drops to its (initramfs) shell.
#         That message on the serial console is required: "no login yet" alone proves nothing.
#         (MOD-L3, MOD-L4, MOD-L2/GEN-4, LNX-4 of ../shared/spec/import-requirements.md)
#   uefi: debian12-uefi, OVMF with a fresh NVRAM. Before: no EFI/BOOT/BOOTX64.EFI on the ESP
#         (BOOT-4), so the firmware finds nothing to boot. After: apply added the fallback loader.
#   xfs:  debian12-xfs (root XFS, issue 21), SeaBIOS, the same defects as bios: the fixes are
#         written by the XFS writer (the probe unit is added by a loop mount: XFS has no debugfs).
#   btrfs: debian12-btrfs (root Btrfs, issue 22), SeaBIOS, the same defects as bios: the fixes
#         are written by the Btrfs writer (the probe unit by a loop mount, as for XFS).
#
# The image under test is never written: apply writes an overlay into a temporary folder; the
# overlay is converted to a SCRATCH raw copy to which this script adds one systemd unit
# (debugfs, or a loop mount for XFS) that prints the guest's IPv4 addresses on the serial console before the getty
# starts. The boots themselves go through scripts/boot-test.sh (TCG, snapshot=on, bounded).
#
# usage: boot-test-apply.sh [bios] [uefi] [xfs] [btrfs]      (default: all four)
# env:   GUESTFIX_TEST_IMAGES (default: scripts/make-test-images.sh), GUESTFIX_BIN (default:
#        target/debug/guestfix, built with cargo), BEFORE_TIMEOUT (default 360 s for bios: the
#        180 s ROOTDELAY plus a TCG boot; 120 s for uefi), AFTER_TIMEOUT (default 240 s).
# Exit 0 when every check passed, 1 otherwise; a missing qemu-system-x86_64 fails the test unless
# GUESTFIX_ALLOW_SKIP=1 (scripts/boot-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=boot-lib.sh
source scripts/boot-lib.sh
require_qemu boot-test-apply || exit $?

for a in "$@"; do case "$a" in bios|uefi|xfs|btrfs) ;; *) echo "boot-test-apply: unknown case $a (bios|uefi|xfs|btrfs)" >&2; exit 2 ;; esac; done
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(bios uefi xfs btrfs)
AFTER_TIMEOUT=${AFTER_TIMEOUT:-240}
IMAGES=${GUESTFIX_TEST_IMAGES:-$(scripts/make-test-images.sh | tail -n 1)}
if [ -z "${GUESTFIX_BIN:-}" ]; then
  cargo build --quiet --bin guestfix
  GUESTFIX_BIN=target/debug/guestfix
fi
GF=$(realpath "$GUESTFIX_BIN")
tmp=$(mktemp -d /tmp/guestfix-boot-apply.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "boot-test-apply: FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "boot-test-apply: ok: $*" >&2; }

boot() { # boot LOG TIMEOUT EXPECT boot-test.sh-options... DISK
  local log=$1 timeout=$2 expect=$3; shift 3
  local t0=$SECONDS rc=0
  scripts/boot-test.sh --timeout "$timeout" --expect "$expect" --log "$log" "$@" 2>"$log.err" || rc=$?
  echo "boot-test-apply: boot-test.sh $* -> exit $rc after $((SECONDS - t0)) s" >&2
  return $rc
}

run_case() { # run_case NAME IMAGE FIRMWARE ROOT_PARTITION
  local name=$1 image=$2 firmware=$3 rootpart=$4
  local src_sum
  src_sum=$(sha256sum <"$image")
  echo "== boot-test-apply: $name BEFORE apply ($firmware, virtio-blk, no fix)" >&2
  local before_log=$tmp/$name-before.log before_expect net_before before_timeout
  if [ "$firmware" = bios ]; then
    before_timeout=${BEFORE_TIMEOUT:-360}
    # Failure evidence of the initramfs (after ROOTDELAY, 180 s by default) or a login prompt.
    before_expect='login:|Gave up waiting for root|ALERT!|\(initramfs\)'
    net_before=virtio
  else
    # No NIC: OVMF would otherwise try PXE first. Failure evidence of the firmware, or a login.
    before_expect='login:|No bootable option|Shell>'
    net_before=none
    before_timeout=${BEFORE_TIMEOUT:-120}
  fi
  local rc=0
  boot "$before_log" "$before_timeout" "$before_expect" --bus virtio --firmware "$firmware" \
    --net "$net_before" "$image" || rc=$?
  if grep -aq 'login:' "$before_log"; then
    fail "$name reached a login prompt BEFORE apply (expected not to boot)"
  elif [ "$firmware" = uefi ] && ! grep -aqE 'No bootable option|Shell>' "$before_log"; then
    fail "$name before apply: the firmware did not report a missing boot option (exit $rc)"
    tr -d '\r' <"$before_log" | tail -n 20 >&2
  elif [ "$firmware" = bios ] && ! grep -aqE 'Gave up waiting for root|ALERT!' "$before_log"; then
    fail "$name before apply: no login, but the initramfs did not say it gave up waiting for root within ${before_timeout} s (exit $rc)"
    tr -d '\r' <"$before_log" | tail -n 20 >&2
  else
    local why=
    grep -aqE 'Gave up waiting for root|ALERT!' "$before_log" && why="initramfs gave up waiting for root ($(tr -d '\r' <"$before_log" | grep -aoE 'ALERT! .*' | head -n 1))"
    grep -aq 'No bootable option' "$before_log" && why="OVMF: no bootable option or device"
    grep -aq 'Shell>' "$before_log" && why="OVMF fell back to the UEFI shell"
    ok "$name does not boot before apply: $why"
  fi

  echo "== boot-test-apply: $name: guestfix apply --out" >&2
  local ov=$tmp/$name.fixed.qcow2
  "$GF" apply "$image" --out "$ov" >"$tmp/$name-apply.txt" || { fail "$name: apply failed"; return; }
  [ "$(sha256sum <"$image")" = "$src_sum" ] || fail "$name: apply --out changed the source image"
  local raw=$tmp/$name.scratch.raw
  qemu-img convert -O raw "$ov" "$raw"
  rm -f "$ov"
  local off
  off=$(partition_offset "$raw" "$rootpart")
  add_net_probe "$raw" "$off" || { fail "$name: probe unit"; rm -f "$raw"; return; }

  echo "== boot-test-apply: $name AFTER apply ($firmware, virtio-blk, virtio-net user-mode DHCP)" >&2
  local after_log=$tmp/$name-after.log
  rc=0
  boot "$after_log" "$AFTER_TIMEOUT" 'login:' --bus virtio --firmware "$firmware" --net virtio "$raw" || rc=$?
  if [ $rc -ne 0 ]; then
    fail "$name did not reach the login prompt after apply (exit $rc)"
    cat "$after_log.err" >&2
  else
    ok "$name reaches the login prompt after apply"
  fi
  local net
  net=$(tr -d '\r' <"$after_log" | grep -a 'GUESTFIX-NET:' | tail -n 1 || true)
  echo "boot-test-apply: $name console: ${net:-<no GUESTFIX-NET line>}" >&2
  if echo "$net" | grep -q 'inet 10\.0\.2\.15/24 .*dynamic' && ! echo "$net" | grep -q '192\.168\.122\.50'; then
    ok "$name got its address by DHCP (10.0.2.15 from the user-mode network)"
  else
    fail "$name has no DHCP lease after apply"
  fi
  rm -f "$raw"
}

# The cases run in parallel (each qemu is one TCG thread): about 4-6 minutes in all on 2 cores.
pids=()
for w in "${which[@]}"; do
  case "$w" in
    bios) (run_case debian12-bios "$IMAGES/debian12-bios.raw" bios 1; exit $failures) & pids+=($!) ;;
    uefi) (run_case debian12-uefi "$IMAGES/debian12-uefi.raw" uefi 2; exit $failures) & pids+=($!) ;;
    # issue 21: the XFS writer's output boots (root XFS on p2; the same defects as debian12-bios)
    xfs) (run_case debian12-xfs "$IMAGES/debian12-xfs.raw" bios 2; exit $failures) & pids+=($!) ;;
    # issue 22: the Btrfs writer's output boots (root Btrfs on p2; the same defects as bios)
    btrfs) (run_case debian12-btrfs "$IMAGES/debian12-btrfs.raw" bios 2; exit $failures) & pids+=($!) ;;
    *) echo "boot-test-apply: unknown case $w (bios|uefi|xfs|btrfs)" >&2; exit 2 ;;
  esac
done
for p in "${pids[@]}"; do
  rc=0; wait "$p" || rc=$?
  failures=$((failures + rc))
done
if [ $failures -gt 0 ]; then
  echo "boot-test-apply: $failures check(s) FAILED" >&2
  exit 1
fi
echo "boot-test-apply: all checks passed" >&2
