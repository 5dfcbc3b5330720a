#!/usr/bin/env bash
# Remake the committed test-images/sample.qcow2 (and test-images/sample.root.manifest.tsv): a small
# crafted Debian 12 guest with the same defects as debian12-bios, made of REAL Debian 12 files
# (from the cached debootstrap tree) plus a crafted header-only vmlinuz and a real gzip'd newc
# cpio initramfs holding real driver modules.
#   sample.sh [BUILDER_OUT_DIR]   (default: the make-test-images.sh output; needs debian12-bios.grub.cfg)
# MBR: p1 ext4 root (27 MiB, same UUID as debian12-bios so its grub.cfg applies), p2 swap (4 MiB);
# GRUB boot.img in the MBR and core.img in the MBR gap. Not bootable (the kernel is a header).
source "$(dirname "$0")/common.sh"
here="$(cd "$(dirname "$0")" && pwd)"
bout=${1:-$("$GF_REPO/scripts/make-test-images.sh" | tail -1)}
tarball=$("$here/debootstrap.sh")
[ -f "$bout/debian12-bios.grub.cfg" ] || die "no $bout/debian12-bios.grub.cfg"
work=$(mktemp -d /tmp/guestfix-sample.XXXXXX)
trap 'rm -rf "$work"' EXIT
full="$work/full" root="$work/root"
mkdir "$full" "$root"
tar --numeric-owner -C "$full" -xf "$tarball"
debian12_configure "$full" "$GF_REPO/test-images/trees/debian12-overlay"
cp -a "$GF_REPO/test-images/trees/sample-overlay/." "$full/"
kver=$(basename "$(ls "$full"/boot/vmlinuz-* | sort -V | tail -1)"); kver=${kver#vmlinuz-}

# real files picked from the Debian 12 tree (paths relative to /)
pick=(
  bin sbin lib lib64 etc/os-release usr/lib/os-release etc/debian_version etc/issue etc/issue.net
  etc/passwd etc/group etc/shadow etc/gshadow etc/shells etc/nsswitch.conf etc/hostname etc/hosts
  etc/fstab etc/cifs-credentials etc/network etc/default/grub etc/default/networking
  etc/ssh/sshd_config etc/ssh/ssh_config etc/dhcp/dhclient.conf etc/systemd/system
  etc/apt/sources.list.d etc/initramfs-tools/initramfs.conf etc/initramfs-tools/modules
  usr/lib/systemd/system/ssh.service usr/lib/systemd/system/ssh.socket
  usr/lib/systemd/system/networking.service usr/lib/systemd/system/getty@.service
  usr/lib/systemd/system/serial-getty@.service usr/lib/systemd/systemd usr/sbin/init
  usr/sbin/sshd usr/sbin/dhclient usr/sbin/ifup usr/sbin/ifdown usr/bin/dash usr/bin/sh
  var/lib/dpkg/status boot/config-$kver srv mnt media root home tmp var/tmp var/log/apt
)
for p in "${pick[@]}"; do
  [ -e "$full/$p" ] || [ -L "$full/$p" ] || die "sample: $p missing from the Debian tree"
  (cd "$full" && cp -a --parents "$p" "$root/")
done
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib64" "$root/proc" "$root/sys" "$root/dev" "$root/run"
# the same guest had these; the sample does not carry the ssh host keys (private keys)
# kernel modules: real .ko files of the Debian kernel (no ena.ko: LNX-3 defect)
mods=(
  drivers/block/virtio_blk.ko drivers/net/virtio_net.ko drivers/net/net_failover.ko net/core/failover.ko
  drivers/scsi/virtio_scsi.ko drivers/virtio/virtio_pci.ko drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/nvme/host/nvme.ko drivers/nvme/host/nvme-core.ko
  drivers/ata/ahci.ko drivers/ata/libahci.ko drivers/ata/libata.ko drivers/scsi/sd_mod.ko
  drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko drivers/net/ethernet/intel/e1000/e1000.ko
  fs/ext4/ext4.ko fs/jbd2/jbd2.ko fs/mbcache.ko lib/crc16.ko crypto/crc32c_generic.ko
)
mdir=usr/lib/modules/$kver
for m in "${mods[@]}"; do
  [ -f "$full/$mdir/kernel/$m" ] || die "sample: module $m missing"
  (cd "$full" && cp -a --parents "$mdir/kernel/$m" "$root/")
done
for f in modules.order modules.builtin modules.builtin.modinfo; do cp -a "$full/$mdir/$f" "$root/$mdir/"; done
depmod -b "$root" "$kver"
mkdir -p "$root/boot/grub"
cp "$bout/debian12-bios.grub.cfg" "$root/boot/grub/grub.cfg"
chmod 0444 "$root/boot/grub/grub.cfg"
grub-editenv "$root/boot/grub/grubenv" create
python3 "$here/vmlinuz.py" "$full/boot/vmlinuz-$kver" "$root/boot/vmlinuz-$kver"
ln -s "boot/vmlinuz-$kver" "$root/vmlinuz"; ln -s "boot/initrd.img-$kver" "$root/initrd.img"

# initramfs: a real newc cpio, gzip'd, with the storage/network drivers (initramfs-tools layout)
ir="$work/initrd"
mkdir -p "$ir/usr/bin" "$ir/usr/sbin" "$ir/usr/lib" "$ir/conf" "$ir/scripts" "$ir/etc"
for l in bin sbin lib lib64; do ln -s "usr/$l" "$ir/$l"; done
mkdir -p "$ir/usr/lib64"
cp "$GF_REPO/test-images/trees/sample-init" "$ir/init"; chmod 0755 "$ir/init"
cp "$full/usr/bin/dash" "$ir/usr/bin/sh"
cp "$full/etc/initramfs-tools/initramfs.conf" "$ir/conf/initramfs.conf"
initrd_mods=(drivers/block/virtio_blk.ko drivers/net/virtio_net.ko drivers/net/net_failover.ko net/core/failover.ko
  drivers/scsi/virtio_scsi.ko drivers/virtio/virtio_pci.ko drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/nvme/host/nvme.ko drivers/nvme/host/nvme-core.ko
  drivers/ata/ahci.ko drivers/ata/libahci.ko drivers/ata/libata.ko drivers/scsi/sd_mod.ko
  drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko fs/ext4/ext4.ko fs/jbd2/jbd2.ko fs/mbcache.ko lib/crc16.ko)
for m in "${initrd_mods[@]}"; do (cd "$full" && cp -a --parents "$mdir/kernel/$m" "$ir/"); done
for f in modules.order modules.builtin modules.builtin.modinfo; do cp -a "$full/$mdir/$f" "$ir/$mdir/"; done
depmod -b "$ir" "$kver"
printf '%s\n' virtio_pci virtio_blk virtio_scsi virtio_net nvme ahci sd_mod ext4 >"$ir/conf/modules"
(cd "$ir" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) | gzip -9n >"$root/boot/initrd.img-$kver"
gzip -t "$root/boot/initrd.img-$kver"

# filesystem + disk (same layout/identities as debian12-bios, scaled down)
ROOT_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0001
SWAP_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0002
python3 "$here/manifest.py" "$root" >"$GF_REPO/test-images/sample.root.manifest.tsv"
truncate -s 27M "$work/p1.img"
mkfs.ext4 -q -F -U "$ROOT_UUID" -d "$root" "$work/p1.img"
truncate -s 4M "$work/p2.img"; chmod 0600 "$work/p2.img"
mkswap -U "$SWAP_UUID" "$work/p2.img" >/dev/null 2>&1
truncate -s 32M "$work/disk.raw"
printf 'label: dos\nlabel-id: 0x0d12b105\nstart=2048, size=55296, type=83, bootable\nstart=57344, size=8192, type=82\n' |
  sfdisk -q "$work/disk.raw"
dd if="$work/p1.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/p2.img" of="$work/disk.raw" bs=1M seek=28 conv=notrunc,sparse status=none
grub-mkimage -O i386-pc -d "$full/usr/lib/grub/i386-pc" -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
dd if="$full/usr/lib/grub/i386-pc/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none
e2fsck -fn "$work/p1.img" >/dev/null
qemu-img convert -c -O qcow2 "$work/disk.raw" "$GF_REPO/test-images/sample.qcow2"
ls -la "$GF_REPO/test-images/sample.qcow2" >&2
