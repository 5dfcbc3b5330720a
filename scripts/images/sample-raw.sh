#!/usr/bin/env bash
# The committed test-images/sample.qcow2 as OUT/sample.raw (the base of its container variants),
# with its manifest and index fragment.   sample-raw.sh OUT
source "$(dirname "$0")/common.sh"
out=$1
qemu-img convert -f qcow2 -O raw "$GF_REPO/test-images/sample.qcow2" "$out/sample.raw"
cp "$GF_REPO/test-images/sample.root.manifest.tsv" "$out/sample.root.manifest.tsv"
kver=$(awk -F'\t' '$1 ~ /^\/boot\/vmlinuz-/ {sub("/boot/vmlinuz-","",$1); print $1}' "$out/sample.root.manifest.tsv")
MiB=1048576
cat >"$out/meta/sample.json" <<JSON
{"name": "sample", "file": "sample.raw", "format": "raw", "size": $((32 * MiB)),
 "description": "test-images/sample.qcow2 (committed) as raw: crafted Debian 12 guest made of real Debian 12 files (scripts/images/sample.sh); header-only vmlinuz, real gzip'd newc initramfs with real driver modules; not bootable.",
 "boot": "bios", "partition_table": "mbr", "disk_id": "0x0d12b105",
 "partitions": [
  {"number": 1, "name": "root", "start": $MiB, "size": $((27 * MiB)), "type": "0x83", "bootable": true,
   "fs": "ext4", "uuid": "6d0d1b2a-5c1e-4f3e-9a61-d12b105a0001", "label": "", "mountpoint": "/", "manifest": "sample.root.manifest.tsv"},
  {"number": 2, "name": "swap", "start": $((28 * MiB)), "size": $((4 * MiB)), "type": "0x82",
   "fs": "swap", "uuid": "6d0d1b2a-5c1e-4f3e-9a61-d12b105a0002", "label": ""}],
 "defects": [
  "MOD-L3: /etc/fstab names /dev/sda1 (/) and /dev/sda2 (swap) instead of UUIDs",
  "MOD-L3: /etc/fstab mounts /dev/sdb1 on /srv/data, a data disk that is not in the image (no nofail)",
  "MOD-L3: /etc/fstab has a cifs share (//fileserver.example.com/public) and a cdrom line (/dev/sr0)",
  "MOD-L2/GEN-4: /etc/network/interfaces gives eth0 a static IPv4 192.168.122.50/24",
  "LNX-4: no net.ifnames=0 on the kernel line, yet config uses eth0",
  "MOD-L4: grub.cfg (debian12-bios's, made by grub-mkconfig) says root=/dev/sda1",
  "LNX-3: no ena.ko in /lib/modules nor in the initramfs (virtio_blk, virtio_net, virtio_scsi, nvme are there)"],
 "os": {"type": "linux", "distro": "debian", "version": "12", "arch": "x86_64", "hostname": "debian12-sample",
        "kernel": "$kver", "kernel_cmdline_root": "/dev/sda1", "package_format": "deb", "package_management": "apt",
        "init": "systemd", "bootloader": "grub2",
        "initramfs": {"file": "/boot/initrd.img-$kver", "compression": "gzip", "format": "newc",
                      "modules": ["virtio_blk", "virtio_net", "virtio_scsi", "virtio_pci", "nvme", "nvme-core", "ahci", "sd_mod", "ext4"]}}}
JSON
