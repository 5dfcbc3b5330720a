#!/usr/bin/env bash
# MOD-L1 boot test (issue 26): the boot drivers come from the guest's OWN kernel modules.
#
# A host-only initramfs is made from debian12-bios, on a scratch copy: its initramfs unpacked,
# every virtio and NVMe module deleted, modules.dep rebuilt by depmod, repacked (as dracut or
# mkinitramfs on a VMware host would have left it). Then:
#  1. BEFORE apply, on virtio-blk: the initramfs cannot see its root disk and gives up
#     (rootdelay=20 on the kernel command line so that it says so quickly);
#  2. `guestfix apply` with a rules folder whose initramfs-drivers rule asks for virtio_pci,
#     virtio_blk, virtio_scsi, virtio_net and nvme, and NO modules_dir: the modules are taken from
#     the guest's /usr/lib/modules/<kver> with their dependencies and appended to the initramfs;
#     unpacked as the kernel does they are there, modprobe resolves them, and
#     /etc/initramfs-tools/modules names them for the next rebuild;
#  3. AFTER apply, on virtio-blk with a virtio NIC: the console shows the disk (vda) found from the
#     initramfs, a login prompt, and a DHCP lease (the static address is gone: MOD-L2).
# A missing qemu-system-x86_64 fails the test (scripts/boot-lib.sh).
# usage: scripts/boot-test-initramfs.sh [IMAGES-FOLDER]   (default: $GUESTFIX_TEST_IMAGES)
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-${GUESTFIX_TEST_IMAGES:?set GUESTFIX_TEST_IMAGES or pass the images folder}}
src=$images/debian12-bios.raw
kver=6.1.0-50-amd64
gf=$(realpath "${GUESTFIX_BIN:-target/release/guestfix}")
[ -x "$gf" ] || cargo build --release --quiet
tmp=$(mktemp -d /tmp/guestfix-modl1.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
# shellcheck source=boot-lib.sh
source scripts/boot-lib.sh
require_qemu boot-test-initramfs || exit 1
fail() { echo "boot-test-initramfs: FAIL: $*" >&2; exit 1; }
ok() { echo "boot-test-initramfs: ok: $*" >&2; }

# --- the host-only guest (scratch copy) ---
cp --sparse=always "$src" "$tmp/hostonly.raw"
off=$(partition_offset "$tmp/hostonly.raw" 1)
fs="$tmp/hostonly.raw?offset=$off"
"$gf" cat "$src" -p "/boot/initrd.img-$kver" >"$tmp/initrd.orig"
mkdir "$tmp/un"
unmkinitramfs "$tmp/initrd.orig" "$tmp/un"
main=$tmp/un; [ -d "$tmp/un/main" ] && main=$tmp/un/main
moddir=$main/usr/lib/modules/$kver
[ -d "$moddir" ] || fail "no $moddir in the unpacked initramfs"
n=$(find "$moddir" \( -name 'virtio*.ko*' -o -name 'nvme*.ko*' \) | wc -l)
[ "$n" -ge 5 ] || fail "expected the virtio/nvme modules in the original initramfs, found $n"
find "$moddir" \( -name 'virtio*.ko*' -o -name 'nvme*.ko*' \) -delete
depmod -b "$main/usr" "$kver"
grep -q virtio "$moddir/modules.dep" && fail "depmod left virtio in modules.dep"
(cd "$main" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -n -6) >"$tmp/initrd.hostonly"
lsinitramfs "$tmp/initrd.hostonly" | grep -qE 'virtio|nvme' && fail "repacked initramfs still has virtio/nvme"
debugfs -w -R "rm /boot/initrd.img-$kver" "$fs" >/dev/null 2>&1
debugfs -w -R "write $tmp/initrd.hostonly /boot/initrd.img-$kver" "$fs" >/dev/null 2>&1
debugfs -R "dump /boot/grub/grub.cfg $tmp/grub.cfg" "$fs" 2>/dev/null
sed -i -E 's/ quiet( |$)/ loglevel=7 rootdelay=20\1/' "$tmp/grub.cfg"
grep -q 'rootdelay=20' "$tmp/grub.cfg" || fail "grub.cfg: no 'quiet' to replace"
debugfs -w -R "rm /boot/grub/grub.cfg" "$fs" >/dev/null 2>&1
debugfs -w -R "write $tmp/grub.cfg /boot/grub/grub.cfg" "$fs" >/dev/null 2>&1
cmp -s "$tmp/initrd.hostonly" <("$gf" cat "$tmp/hostonly.raw" -p "/boot/initrd.img-$kver") \
  || fail "the host-only initramfs did not land in the scratch image"
ok "host-only initramfs: $n virtio/nvme modules removed"

# --- 1. before apply: no root disk ---
before=$tmp/before.log
scripts/boot-test.sh --bus virtio --net virtio --timeout "${BEFORE_TIMEOUT:-300}" \
  --expect 'login:|ALERT!|Gave up waiting for root' --log "$before" "$tmp/hostonly.raw" >/dev/null 2>&1 || true
grep -aq 'login:' "$before" && fail "the host-only guest reached a login prompt before apply"
grep -aqE 'ALERT!|Gave up waiting for root' "$before" \
  || { tail -c 3000 "$before"; fail "before apply: the initramfs did not give up on its root"; }
ok "before apply: $(tr -d '\r\033' <"$before" | grep -aoE 'ALERT! .*|Gave up waiting for root.*' | head -n 1)"

# --- 2. apply, drivers from the guest itself ---
mkdir -p "$tmp/rules/ec2"
cp rules/ec2/*.toml "$tmp/rules/ec2/"
python3 - "$tmp/rules/ec2/linux.toml" <<'EOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
n = s.count('drivers = ["nvme", "ena"], modules_dir = ""')
assert n == 1, "initramfs-drivers rule not found in rules/ec2/linux.toml"
s = s.replace('drivers = ["nvme", "ena"], modules_dir = ""',
              'drivers = ["virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "nvme"], modules_dir = ""')
open(p, "w").write(s)
EOF
t0=$(date +%s.%N)
GUESTFIX_RULES_DIR=$tmp/rules "$gf" plan "$tmp/hostonly.raw" >"$tmp/plan.txt" || true
t1=$(date +%s.%N)
grep -q "adding modules .*virtio_blk" "$tmp/plan.txt" || { cat "$tmp/plan.txt"; fail "the plan appends no virtio_blk"; }
grep -q "^+virtio_blk" "$tmp/plan.txt" || fail "the plan does not add virtio_blk to /etc/initramfs-tools/modules"
t2=$(date +%s.%N)
GUESTFIX_RULES_DIR=$tmp/rules "$gf" apply "$tmp/hostonly.raw" --out "$tmp/fixed.qcow2" >"$tmp/apply.txt" \
  || { cat "$tmp/apply.txt"; fail "apply failed"; }
t3=$(date +%s.%N)
echo "boot-test-initramfs: timing: plan $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s, apply --out $(awk "BEGIN{printf \"%.2f\", $t3-$t2}") s, overlay $(stat -c %s "$tmp/fixed.qcow2") bytes (BENCHMARKS.md)" >&2
qemu-img convert -O raw "$tmp/fixed.qcow2" "$tmp/fixed.raw"
rm "$tmp/fixed.qcow2" "$tmp/hostonly.raw"
"$gf" cat "$tmp/fixed.raw" -p "/boot/initrd.img-$kver" >"$tmp/initrd.fixed"
# The fixed initramfs is the host-only one, byte for byte, then our archive (a gzip member, as
# its last archive is). lsinitramfs still reads it, and lists what it listed before (its cpio
# stops at the first trailer); unpack it as the kernel does: the original, then ours over it.
osize=$(stat -c %s "$tmp/initrd.hostonly")
cmp -s -n "$osize" "$tmp/initrd.hostonly" "$tmp/initrd.fixed" || fail "the original initramfs bytes changed"
[ "$(lsinitramfs "$tmp/initrd.fixed" | md5sum)" = "$(lsinitramfs "$tmp/initrd.hostonly" | md5sum)" ] \
  || fail "lsinitramfs reads the fixed initramfs differently"
tail -c +$((osize + 1)) "$tmp/initrd.fixed" >"$tmp/appended.gz"
mkdir "$tmp/unfixed"
unmkinitramfs "$tmp/initrd.hostonly" "$tmp/unfixed"
fmain=$tmp/unfixed; [ -d "$tmp/unfixed/main" ] && fmain=$tmp/unfixed/main
(cd "$fmain" && zcat "$tmp/appended.gz" | cpio -idmu --quiet) || fail "the appended archive does not unpack"
listed=$(cd "$fmain" && find . -name '*.ko*')
for m in virtio_pci virtio_blk virtio_scsi virtio_net nvme virtio virtio_ring; do
  grep -qE "/$m\.ko" <<<"$listed" || { grep -A30 'MOD-L1' "$tmp/plan.txt" >&2; fail "$m.ko is not in the fixed initramfs"; }
done
# kmod on the result: modprobe resolves virtio_blk to the appended module and its dependencies
deps=$(modprobe -d "$fmain/usr" -S "$kver" --show-depends virtio_blk) || fail "modprobe --show-depends virtio_blk failed"
for m in virtio_blk virtio_ring virtio; do
  grep -qE "insmod .*/updates/guestfix/$m\.ko" <<<"$deps" || { echo "$deps" >&2; fail "modprobe: $m not from updates/guestfix"; }
done
grep -qx virtio_blk "$fmain/conf/modules" || fail "conf/modules does not load virtio_blk"
"$gf" cat "$tmp/fixed.raw" -p /etc/initramfs-tools/modules | grep -qx virtio_blk \
  || fail "/etc/initramfs-tools/modules does not name virtio_blk"
ok "apply appended the guest's own virtio/nvme modules (lsinitramfs agrees)"

# --- 3. after apply: root found on virtio, login, DHCP ---
add_net_probe "$tmp/fixed.raw" "$off" || fail "probe unit"
after=$tmp/after.log
scripts/boot-test.sh --bus virtio --net virtio --timeout "${TIMEOUT:-600}" --log "$after" "$tmp/fixed.raw" >/dev/null 2>&1 \
  || { tr -d '\033' <"$after" | tail -c 3000; fail "no login prompt after apply"; }
clean=$(tr -d '\r\033' <"$after")
grep -aq 'Initramfs unpacking failed' <<<"$clean" && fail "the kernel rejected the initramfs"
grep -aqE 'virtio_blk .*\[vda\]' <<<"$clean" || fail "the console shows no vda from virtio_blk"
# the probe prints before the getty: wait for it in the log written so far
net=$(grep -a 'GUESTFIX-NET:' <<<"$clean" | tail -n 1 || true)
echo "boot-test-initramfs: console: ${net:-<no GUESTFIX-NET line>}" >&2
echo "$net" | grep -q 'inet 10\.0\.2\.15/24 .*dynamic' || fail "no DHCP lease after apply"
ok "after apply: root on virtio-blk from the initramfs, login prompt, DHCP lease"
