#!/usr/bin/env bash
# Boot a disk image under qemu-system-x86_64 (TCG, no KVM needed) with a serial console and wait
# (bounded) for a pattern on the console, by default the getty's "login:".
# Exit 0 only when the pattern appeared; 1 on timeout/early exit (the console log is printed);
# 2 on usage errors. When qemu-system-x86_64 is missing the test FAILS (exit 1), unless
# GUESTFIX_ALLOW_SKIP=1 (then it is skipped: exit 0, loud banner).
#
# usage: boot-test.sh [options] DISK [EXTRA-DISK...]
#   --bus sata|ide|virtio|scsi|nvme   disk controller for all disks (default sata: /dev/sdX)
#   --firmware bios|uefi              SeaBIOS (default) or OVMF
#   --net none|e1000|virtio           user-mode network with that NIC model (default none)
#   --expect REGEX                    grep -E pattern to wait for (default 'login:')
#   --timeout SECONDS                 default 240
#   --memory MiB                      default 1024
#   --log FILE                        keep the console log there (default: a temp file)
#   --accel tcg|kvm                   default tcg
#   --efi-fallback                    boot a SCRATCH copy of the first disk to which the BOOT-4 fix
#                                     was applied: EFI/BOOT/BOOTX64.EFI := EFI/<first dir>/grubx64.efi
#                                     on the ESP (mtools); the image itself is not touched
# The images are opened with snapshot=on: they are never modified. Disk formats are detected with
# qemu-img info, so raw/qcow2/vmdk/vhd/vhdx all work.
set -euo pipefail

bus=sata firmware=bios net=none expect='login:' timeout=240 memory=1024 log="" accel=tcg efi_fallback=0
disks=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bus) bus=$2; shift 2 ;;
    --firmware) firmware=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    --expect) expect=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --efi-fallback) efi_fallback=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "boot-test: unknown option $1" >&2; exit 2 ;;
    *) disks+=("$1"); shift ;;
  esac
done
[ ${#disks[@]} -ge 1 ] || { echo "boot-test: no disk given (see --help)" >&2; exit 2; }

# shellcheck source=boot-lib.sh
source "$(dirname "$0")/boot-lib.sh"
require_qemu boot-test || exit 1

args=(-nodefaults -machine pc -accel "$accel" -m "$memory" -smp 1 -display none -no-reboot
      -serial "file:${log:=$(mktemp /tmp/guestfix-boot.XXXXXX.log)}" -monitor none)
: >"$log"
tmp=$(mktemp -d /tmp/guestfix-boot.XXXXXX)
qpid=""
cleanup() { [ -n "$qpid" ] && kill "$qpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

case "$firmware" in
  bios) ;;
  uefi)
    code="" vars=""
    for c in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do [ -f "$c" ] && { code=$c; break; }; done
    for v in /usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_VARS.fd; do [ -f "$v" ] && { vars=$v; break; }; done
    [ -n "$code" ] && [ -n "$vars" ] || { echo "boot-test: OVMF not installed (package ovmf)" >&2; exit 2; }
    cp "$vars" "$tmp/vars.fd"
    args+=(-drive "if=pflash,format=raw,readonly=on,file=$code" -drive "if=pflash,format=raw,file=$tmp/vars.fd") ;;
  *) echo "boot-test: --firmware bios|uefi" >&2; exit 2 ;;
esac

if [ $efi_fallback = 1 ]; then
  qemu-img convert -O raw "${disks[0]}" "$tmp/scratch.raw"
  esp_start=$(sfdisk -J "$tmp/scratch.raw" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
print([p["start"] * t.get("sectorsize", 512) for p in t["partitions"] if p["type"].upper() == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"][0])')
  loader=$(mdir -b -i "$tmp/scratch.raw@@$esp_start" ::EFI | grep -iv '/boot$' | head -n 1)
  mmd -i "$tmp/scratch.raw@@$esp_start" ::EFI/BOOT 2>/dev/null || true
  mcopy -i "$tmp/scratch.raw@@$esp_start" "$loader/grubx64.efi" ::EFI/BOOT/BOOTX64.EFI
  echo "boot-test: scratch copy with ${loader#::}/grubx64.efi as EFI/BOOT/BOOTX64.EFI" >&2
  disks[0]="$tmp/scratch.raw"
fi

case "$bus" in
  sata) args+=(-device ahci,id=ahci) ;;
  scsi) args+=(-device virtio-scsi-pci,id=scsi) ;;
  ide|virtio|nvme) ;;
  *) echo "boot-test: --bus sata|ide|virtio|scsi|nvme" >&2; exit 2 ;;
esac
i=0
for d in "${disks[@]}"; do
  [ -r "$d" ] || { echo "boot-test: cannot read $d" >&2; exit 2; }
  fmt=$(qemu-img info --output=json "$d" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')
  args+=(-drive "if=none,id=d$i,file=$d,format=$fmt,snapshot=on")
  case "$bus" in
    sata) args+=(-device "ide-hd,drive=d$i,bus=ahci.$i,bootindex=$i") ;;
    ide) args+=(-device "ide-hd,drive=d$i,bus=ide.$((i / 2)),unit=$((i % 2)),bootindex=$i") ;;
    virtio) args+=(-device "virtio-blk-pci,drive=d$i,bootindex=$i") ;;
    scsi) args+=(-device "scsi-hd,drive=d$i,bus=scsi.0,bootindex=$i") ;;
    nvme) args+=(-device "nvme,drive=d$i,serial=guestfix$i,bootindex=$i") ;;
  esac
  i=$((i + 1))
done
case "$net" in
  none) ;;
  e1000) args+=(-netdev user,id=n0 -device e1000,netdev=n0) ;;
  virtio) args+=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0) ;;
  *) echo "boot-test: --net none|e1000|virtio" >&2; exit 2 ;;
esac

echo "boot-test: qemu-system-x86_64 ${args[*]}" >&2
qemu-system-x86_64 "${args[@]}" 2>"$tmp/qemu.err" &
qpid=$!
start=$SECONDS
result=timeout
while [ $((SECONDS - start)) -lt "$timeout" ]; do
  if grep -aqE "$expect" "$log"; then result=ok; break; fi
  if ! kill -0 "$qpid" 2>/dev/null; then result=exited; break; fi
  sleep 2
done
if [ $result = ok ]; then
  echo "boot-test: OK - '$expect' on the console after $((SECONDS - start)) s (${disks[0]}, $bus, $firmware)" >&2
  exit 0
fi
echo "boot-test: FAILED ($result after $((SECONDS - start)) s, waiting for '$expect'); console log $log:" >&2
tr -d '\r' <"$log" | tail -n 80 >&2
cat "$tmp/qemu.err" >&2
exit 1
