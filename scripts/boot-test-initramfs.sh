#!/usr/bin/env bash
# MOD-L1 boot test: the kernel unpacks the archive `guestfix apply` appends to the initramfs and
# initramfs-tools loads the injected drivers. debian12-bios is fixed with a rules folder whose
# initramfs-drivers rule asks for wanxl (a PCI WAN driver Debian's initrd lacks) from a modules
# folder holding the image's own wanxl.ko and its dependency hdlc.ko; the result (a scratch raw
# copy whose grub.cfg says loglevel=7 instead of quiet, edited with debugfs) is booted on
# virtio-blk: the console must show both modules' load messages from the initramfs ("Loading
# essential drivers"), no "Initramfs unpacking failed", then a login prompt.
# SKIPPED (exit 0, loud) when qemu-system-x86_64 is missing (scripts/boot-test.sh).
# usage: scripts/boot-test-initramfs.sh [IMAGES-FOLDER]   (default: $GUESTFIX_TEST_IMAGES)
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-${GUESTFIX_TEST_IMAGES:?set GUESTFIX_TEST_IMAGES or pass the images folder}}
src=$images/debian12-bios.raw
kver=6.1.0-50-amd64
gf=${GUESTFIX:-target/release/guestfix}
[ -x "$gf" ] || cargo build --release --quiet
tmp=$(mktemp -d /tmp/guestfix-modl1.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/mods" "$tmp/rules/ec2"
for m in wanxl hdlc; do
  "$gf" cat "$src" -p "/usr/lib/modules/$kver/kernel/drivers/net/wan/$m.ko" > "$tmp/mods/$m.ko"
done
cp rules/ec2/*.toml "$tmp/rules/ec2/"
sed -i "s|params = { drivers = \[\"nvme\", \"ena\"\], modules_dir = \"\" }|params = { drivers = [\"nvme\", \"ena\", \"wanxl\"], modules_dir = \"$tmp/mods\" }|" \
  "$tmp/rules/ec2/linux.toml"
grep -q "\"wanxl\"" "$tmp/rules/ec2/linux.toml" || { echo "boot-test-initramfs: rule not found in rules/ec2/linux.toml" >&2; exit 1; }

GUESTFIX_RULES_DIR=$tmp/rules "$gf" apply "$src" --out "$tmp/fixed.qcow2" | grep -E '^ *append ' \
  || { echo "boot-test-initramfs: apply appended nothing to the initramfs" >&2; exit 1; }
qemu-img convert -O raw "$tmp/fixed.qcow2" "$tmp/fixed.raw"
rm "$tmp/fixed.qcow2"
fs="$tmp/fixed.raw?offset=1048576"
debugfs -R "dump /boot/grub/grub.cfg $tmp/grub.cfg" "$fs" 2>/dev/null
sed -i 's/ quiet / loglevel=7 /' "$tmp/grub.cfg"
grep -q 'loglevel=7' "$tmp/grub.cfg"
debugfs -w -R "rm /boot/grub/grub.cfg" "$fs" 2>/dev/null
debugfs -w -R "write $tmp/grub.cfg /boot/grub/grub.cfg" "$fs" >/dev/null 2>&1

log=$tmp/console.log
scripts/boot-test.sh --bus virtio --net virtio --timeout "${TIMEOUT:-900}" --log "$log" "$tmp/fixed.raw"
command -v qemu-system-x86_64 >/dev/null 2>&1 || exit 0
clean=$(tr -d '\033' < "$log")
fail=0
for want in 'hdlc: HDLC support module' 'wanxl: wanXL serial card driver' 'login:'; do
  grep -aq "$want" <<<"$clean" || { echo "boot-test-initramfs: missing on the console: $want" >&2; fail=1; }
done
if grep -aq 'Initramfs unpacking failed' <<<"$clean"; then
  echo "boot-test-initramfs: the kernel rejected the initramfs" >&2; fail=1
fi
[ $fail -eq 0 ] || { tail -c 3000 <<<"$clean"; exit 1; }
echo "boot-test-initramfs: OK - the injected hdlc and wanxl were loaded from the initramfs"
