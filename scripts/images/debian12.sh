#!/usr/bin/env bash
# Build a real Debian 12 guest disk from the cached debootstrap tarball.
#   debian12.sh VARIANT OUTDIR TARBALL
# VARIANT: bios  - debian12-bios.raw: 2 GiB, MBR, p1 ext4 root, p2 swap, GRUB BIOS boot code.
# Writes OUTDIR/debian12-VARIANT.raw, OUTDIR/debian12-VARIANT.<part>.manifest.tsv,
# OUTDIR/meta/debian12-VARIANT.json (index.json fragment) and, for bios, OUTDIR/grub.cfg copies.
# Runs as root (chroot, device nodes in the tree); uses no loop device and no kernel mount.
source "$(dirname "$0")/common.sh"
variant=$1 out=$2 tarball=$3
name="debian12-$variant"
here="$(cd "$(dirname "$0")" && pwd)"
overlay="$GF_REPO/test-images/trees/debian12-overlay"
[ "$(id -u)" -eq 0 ] || die "$name: needs root (chroot and device nodes of the Debian tree)"

work=$(mktemp -d "$out/.work-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir "$root"
log "$name: unpacking the Debian 12 tree"
tar --numeric-owner --xattrs -C "$root" -xf "$tarball"

# Fixed identities so the image (and its index.json) is reproducible.
DISK_ID=0x0d12b105
ROOT_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0001
SWAP_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0002
ROOT_FS=ext4; GRUB_FS=ext2; PARTMAP=msdos; ROOT_PARTNO=1; ROOT_DEV=/dev/sda1
MiB=$((1024 * 1024))
DISK_MIB=2048; ROOT_START_MIB=1; ROOT_MIB=1791; SWAP_START_MIB=1792; SWAP_MIB=256

debian12_configure "$root" "$overlay"
ls "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* >/dev/null || die "$name: no kernel/initrd in the debootstrap tree"

# ---- grub.cfg by the guest's own grub-mkconfig (grub-probe/grub-mkrelpath stood in) ------------
for t in grub-probe grub-mkrelpath; do
  p=$(chroot "$root" sh -c "command -v $t") || die "$name: $t missing in the guest"
  mv "$root$p" "$root$p.guestfix-real"
done
sed -e "s|@DEVICE@|$ROOT_DEV|" -e "s|@DISK@|${ROOT_DEV%[0-9]}|" -e "s|@FS@|$GRUB_FS|" \
    -e "s|@UUID@|$ROOT_UUID|" -e "s|@LABEL@||" -e "s|@PARTUUID@|0d12b105-01|" \
    -e "s|@PARTMAP@|$PARTMAP|g" -e "s|@PARTNO@|$ROOT_PARTNO|g" "$here/fake-grub-probe.in" >"$root/usr/sbin/grub-probe"
printf '#!/bin/sh\n# stand-in while the test-image builder runs grub-mkconfig: / is one filesystem\nfor a; do p="$a"; done; echo "$p"\n' \
  >"$root/usr/bin/grub-mkrelpath"
chmod 0755 "$root/usr/sbin/grub-probe" "$root/usr/bin/grub-mkrelpath"
chroot "$root" grub-mkconfig -o /boot/grub/grub.cfg >"$work/mkconfig.log" 2>&1 || { cat "$work/mkconfig.log" >&2; die "$name: grub-mkconfig failed"; }
for t in /usr/sbin/grub-probe /usr/bin/grub-mkrelpath; do mv "$root$t.guestfix-real" "$root$t"; done
grep -q "root=$ROOT_DEV " "$root/boot/grub/grub.cfg" || die "$name: grub.cfg lacks root=$ROOT_DEV"
grep -q "console=ttyS0" "$root/boot/grub/grub.cfg" || die "$name: grub.cfg lacks console=ttyS0"
chroot "$root" grub-editenv /boot/grub/grubenv create

# ---- BIOS boot code, as grub-install would lay it out ----------------------------------------
mkdir -p "$root/boot/grub/i386-pc"
cp "$root"/usr/lib/grub/i386-pc/*.mod "$root"/usr/lib/grub/i386-pc/*.lst "$root"/usr/lib/grub/i386-pc/boot.img "$root/boot/grub/i386-pc/"
chroot "$root" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o /boot/grub/i386-pc/core.img \
  -p "(hd0,$PARTMAP$ROOT_PARTNO)/boot/grub" biosdisk part_msdos ext2
cp "$root/boot/grub/i386-pc/core.img" "$root/boot/grub/i386-pc/boot.img" "$work/"
[ "$(stat -c %s "$work/core.img")" -lt $(( (ROOT_START_MIB * MiB) - 512 )) ] || die "$name: core.img does not fit the MBR gap"

# ---- filesystems and disk ------------------------------------------------------------------------
log "$name: manifest + mkfs.ext4 -d"
python3 "$here/manifest.py" "$root" >"$out/$name.root.manifest.tsv"
truncate -s $((ROOT_MIB * MiB)) "$work/root.img"
mkfs.ext4 -q -F -U "$ROOT_UUID" -d "$root" "$work/root.img"
truncate -s $((SWAP_MIB * MiB)) "$work/swap.img"
chmod 0600 "$work/swap.img"
mkswap -U "$SWAP_UUID" "$work/swap.img" >/dev/null 2>&1
disk="$work/$name.raw"
truncate -s $((DISK_MIB * MiB)) "$disk"
sfdisk -q "$disk" <<SFD
label: dos
label-id: $DISK_ID
unit: sectors
start=$((ROOT_START_MIB * 2048)), size=$((ROOT_MIB * 2048)), type=83, bootable
start=$((SWAP_START_MIB * 2048)), size=$((SWAP_MIB * 2048)), type=82
SFD
dd if="$work/root.img" of="$disk" bs=1M seek=$ROOT_START_MIB conv=notrunc,sparse status=none
dd if="$work/swap.img" of="$disk" bs=1M seek=$SWAP_START_MIB conv=notrunc,sparse status=none
dd if="$work/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
cp "$root/boot/grub/grub.cfg" "$out/$name.grub.cfg"
kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)"); kver=${kver#vmlinuz-}
mv "$disk" "$out/$name.raw"

# ---- index.json fragment -------------------------------------------------------------------------
mkdir -p "$out/meta"
python3 - "$out/meta/$name.json" <<PY
import json, sys
json.dump({
  "name": "$name", "file": "$name.raw", "format": "raw", "size": $((DISK_MIB * MiB)),
  "description": "Real Debian 12 (debootstrap bookworm: linux-image-amd64, grub-pc, ifupdown, isc-dhcp-client, openssh-server, systemd-sysv), legacy BIOS boot via GRUB 2 in the MBR gap, serial console.",
  "boot": "bios", "partition_table": "mbr", "disk_id": "$DISK_ID",
  "partitions": [
    {"number": 1, "name": "root", "start": $((ROOT_START_MIB * MiB)), "size": $((ROOT_MIB * MiB)), "type": "0x83", "bootable": True,
     "fs": "ext4", "uuid": "$ROOT_UUID", "label": "", "mountpoint": "/", "manifest": "$name.root.manifest.tsv"},
    {"number": 2, "name": "swap", "start": $((SWAP_START_MIB * MiB)), "size": $((SWAP_MIB * MiB)), "type": "0x82",
     "fs": "swap", "uuid": "$SWAP_UUID", "label": ""}],
  "defects": [
    "MOD-L3: /etc/fstab names /dev/sda1 (/) and /dev/sda2 (swap) instead of UUIDs",
    "MOD-L3: /etc/fstab mounts /dev/sdb1 on /srv/data, a data disk that is not in the image (no nofail)",
    "MOD-L3: /etc/fstab has a cifs share (//fileserver.example.com/public) and a cdrom line (/dev/sr0)",
    "MOD-L2/GEN-4: /etc/network/interfaces gives eth0 a static IPv4 192.168.122.50/24",
    "LNX-4: no net.ifnames=0 on the kernel line (predictable interface names), yet config uses eth0",
    "MOD-L4: grub.cfg (made by the guest's grub-mkconfig, GRUB_DISABLE_LINUX_UUID=true) says root=/dev/sda1"],
  "os": {"type": "linux", "distro": "debian", "version": "12", "arch": "x86_64", "hostname": "debian12-test",
         "kernel": "$kver", "kernel_cmdline_root": "$ROOT_DEV", "package_format": "deb",
         "package_management": "apt", "init": "systemd", "bootloader": "grub2"},
  "boots": "login prompt under qemu-system-x86_64 -accel tcg (SATA disk, SeaBIOS); needs debian12-datadisk.raw as the second SATA disk for /dev/sdb1",
}, open(sys.argv[1], "w"), indent=1)
PY
log "$name: done"
