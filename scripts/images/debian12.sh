#!/usr/bin/env bash
# Build a real Debian 12 guest disk from the cached debootstrap tarball.
#   debian12.sh VARIANT OUTDIR TARBALL
# VARIANT: bios  - debian12-bios.raw: 2 GiB, MBR, p1 ext4 root, p2 swap, GRUB boot code in MBR + gap.
#          uefi  - GPT, p1 ESP (FAT32, EFI/debian/grubx64.efi, NO EFI/BOOT/BOOTX64.EFI), p2 ext4, p3 swap.
#          xfs   - GPT, p1 bios_grub (core.img), p2 xfs (mkfs.xfs -p protofile), p3 swap.
#          btrfs - GPT, p1 bios_grub (core.img), p2 btrfs (mkfs.btrfs --rootdir), p3 swap.
# Writes OUTDIR/debian12-VARIANT.raw, OUTDIR/debian12-VARIANT.<part>.manifest.tsv,
# OUTDIR/meta/debian12-VARIANT.json (index.json fragment) and OUTDIR/debian12-VARIANT.grub.cfg (a copy of the guest grub.cfg).
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
MiB=$((1024 * 1024))
DISK_MIB=2048
ROOT_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0001
SWAP_UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0002
ESP_ID=D12B0E5F
case "$variant" in
  bios)  PARTMAP=msdos; ROOT_FS=ext4;  GRUB_FS=ext2;  ROOT_PARTNO=1; SWAP_PARTNO=2; DISK_ID=0x0d12b105 ;;
  uefi)  PARTMAP=gpt;   ROOT_FS=ext4;  GRUB_FS=ext2;  ROOT_PARTNO=2; SWAP_PARTNO=3; ESP_PARTNO=1
         DISK_ID=6d0d1b2a-5c1e-4f3e-9a61-d12b1050ef10 ;;
  xfs)   PARTMAP=gpt;   ROOT_FS=xfs;   GRUB_FS=xfs;   ROOT_PARTNO=2; SWAP_PARTNO=3; BIOSGRUB_PARTNO=1
         DISK_ID=6d0d1b2a-5c1e-4f3e-9a61-d12b10500f50 ;;
  btrfs) PARTMAP=gpt;   ROOT_FS=btrfs; GRUB_FS=btrfs; ROOT_PARTNO=2; SWAP_PARTNO=3; BIOSGRUB_PARTNO=1
         DISK_ID=6d0d1b2a-5c1e-4f3e-9a61-d12b105b7f50 ;;
  *) die "unknown variant $variant" ;;
esac
ROOT_DEV=/dev/sda$ROOT_PARTNO; SWAP_DEV=/dev/sda$SWAP_PARTNO
# partitions (MiB): [first] ESP 128 (uefi) | bios_grub 1 (xfs, btrfs) ; root ; swap 256
if [ "$variant" = bios ]; then FIRST_MIB=0; else FIRST_MIB=$([ "$variant" = uefi ] && echo 128 || echo 1); fi
ROOT_START_MIB=$((1 + FIRST_MIB)); SWAP_MIB=256
SWAP_START_MIB=$((DISK_MIB - 1 - SWAP_MIB)); [ "$variant" = bios ] && SWAP_START_MIB=$((DISK_MIB - SWAP_MIB))
ROOT_MIB=$((SWAP_START_MIB - ROOT_START_MIB))

debian12_configure "$root" "$overlay"
if [ "$variant" != bios ]; then
  # the same guest on another layout: its fstab names that layout's partitions
  sed -i -e "s|^# / was on /dev/sda1 during installation|# / was on $ROOT_DEV during installation|" \
         -e "s|^/dev/sda1       /               ext4    errors=remount-ro 0       1|$ROOT_DEV       /               $ROOT_FS    $([ $ROOT_FS = ext4 ] && echo 'errors=remount-ro 0       1' || echo 'defaults        0       0')|" \
         -e "s|^# swap was on /dev/sda2 during installation|# swap was on $SWAP_DEV during installation|" \
         -e "s|^/dev/sda2       none|$SWAP_DEV       none|" "$root/etc/fstab"
  if [ "$variant" = uefi ]; then
    sed -i "s|^# swap was on|# /boot/efi was on /dev/sda1 during installation\n/dev/sda1       /boot/efi       vfat    umask=0077      0       1\n&|" "$root/etc/fstab"
    mkdir -p "$root/boot/efi"
  fi
  grep -q "^$ROOT_DEV " "$root/etc/fstab" || die "$name: fstab edit failed"
fi

# ---- grub.cfg by the guest's own grub-mkconfig (grub-probe/grub-mkrelpath stood in) ------------
for t in grub-probe grub-mkrelpath; do
  p=$(chroot "$root" sh -c "command -v $t") || die "$name: $t missing in the guest"
  mv "$root$p" "$root$p.guestfix-real"
done
sed -e "s|@DEVICE@|$ROOT_DEV|" -e "s|@DISK@|/dev/sda|" -e "s|@FS@|$GRUB_FS|" \
    -e "s|@UUID@|$ROOT_UUID|" -e "s|@LABEL@||" -e "s|@PARTUUID@|$ROOT_UUID|" \
    -e "s|@PARTMAP@|$PARTMAP|g" -e "s|@PARTNO@|$ROOT_PARTNO|g" "$here/fake-grub-probe.in" >"$root/usr/sbin/grub-probe"
printf '#!/bin/sh\n# stand-in while the test-image builder runs grub-mkconfig: / is one filesystem\nfor a; do p="$a"; done; echo "$p"\n' \
  >"$root/usr/bin/grub-mkrelpath"
chmod 0755 "$root/usr/sbin/grub-probe" "$root/usr/bin/grub-mkrelpath"
chroot "$root" grub-mkconfig -o /boot/grub/grub.cfg >"$work/mkconfig.log" 2>&1 || { cat "$work/mkconfig.log" >&2; die "$name: grub-mkconfig failed"; }
for t in /usr/sbin/grub-probe /usr/bin/grub-mkrelpath; do mv "$root$t.guestfix-real" "$root$t"; done
grep -q "root=$ROOT_DEV " "$root/boot/grub/grub.cfg" || die "$name: grub.cfg lacks root=$ROOT_DEV"
grep -q "console=ttyS0" "$root/boot/grub/grub.cfg" || die "$name: grub.cfg lacks console=ttyS0"
chroot "$root" grub-editenv /boot/grub/grubenv create

# ---- boot code, as grub-install would lay it out -----------------------------------------------
if [ "$variant" = uefi ]; then
  # x86_64-efi GRUB from the host's grub-efi-amd64-bin (same GRUB 2.06 as the guest's grub-pc)
  mkdir -p "$root/boot/grub/x86_64-efi" "$work/esp/EFI/debian"
  cp /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst "$root/boot/grub/x86_64-efi/"
  grub-mkimage -O x86_64-efi -d /usr/lib/grub/x86_64-efi -o "$work/esp/EFI/debian/grubx64.efi" \
    -p /EFI/debian part_gpt fat ext2 search search_fs_uuid configfile normal echo
  printf "search.fs_uuid %s root hd0,gpt%s \nset prefix=(\$root)'/boot/grub'\nconfigfile \$prefix/grub.cfg\n" \
    "$ROOT_UUID" "$ROOT_PARTNO" >"$work/esp/EFI/debian/grub.cfg"
  # BOOT-4: deliberately NO EFI/BOOT/BOOTX64.EFI
else
  mkdir -p "$root/boot/grub/i386-pc"
  cp "$root"/usr/lib/grub/i386-pc/*.mod "$root"/usr/lib/grub/i386-pc/*.lst "$root"/usr/lib/grub/i386-pc/boot.img "$root/boot/grub/i386-pc/"
  part_mod=part_$PARTMAP
  chroot "$root" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o /boot/grub/i386-pc/core.img \
    -p "(hd0,$PARTMAP$ROOT_PARTNO)/boot/grub" biosdisk "$part_mod" "$GRUB_FS"
  cp "$root/boot/grub/i386-pc/core.img" "$root/boot/grub/i386-pc/boot.img" "$work/"
  [ "$(stat -c %s "$work/core.img")" -lt $((MiB - 512)) ] || die "$name: core.img does not fit"
fi

# ---- filesystems and disk ------------------------------------------------------------------------
log "$name: manifest + mkfs.$ROOT_FS"
truncate -s $((ROOT_MIB * MiB)) "$work/root.img"
case "$ROOT_FS" in
  ext4)
    python3 "$here/manifest.py" "$root" >"$out/$name.root.manifest.tsv"
    mkfs.ext4 -q -F -U "$ROOT_UUID" -d "$root" "$work/root.img" ;;
  xfs)
    python3 "$here/manifest.py" --xfs-proto "$root" >"$out/$name.root.manifest.tsv"
    python3 "$here/xfsproto.py" "$root" >"$work/proto"
    mkfs.xfs -q -f -m uuid="$ROOT_UUID" -p "$work/proto" "$work/root.img" ;;
  btrfs)
    python3 "$here/manifest.py" "$root" >"$out/$name.root.manifest.tsv"
    mkfs.btrfs -q -f -U "$ROOT_UUID" --rootdir "$root" "$work/root.img" >/dev/null ;;
esac
truncate -s $((SWAP_MIB * MiB)) "$work/swap.img"
chmod 0600 "$work/swap.img"
mkswap -U "$SWAP_UUID" "$work/swap.img" >/dev/null 2>&1
disk="$work/$name.raw"
truncate -s $((DISK_MIB * MiB)) "$disk"
case "$variant" in
  bios) sfdisk -q "$disk" <<SFD
label: dos
label-id: $DISK_ID
unit: sectors
start=$((ROOT_START_MIB * 2048)), size=$((ROOT_MIB * 2048)), type=83, bootable
start=$((SWAP_START_MIB * 2048)), size=$((SWAP_MIB * 2048)), type=82
SFD
  ;;
  *) first_type=$([ "$variant" = uefi ] && echo C12A7328-F81F-11D2-BA4B-00A0C93EC93B || echo 21686148-6449-6E6F-744E-656564454649)
     first_name=$([ "$variant" = uefi ] && echo "EFI system partition" || echo "BIOS boot partition")
     sfdisk -q "$disk" <<SFD
label: gpt
label-id: $DISK_ID
unit: sectors
start=2048, size=$((FIRST_MIB * 2048)), type=$first_type, uuid=6d0d1b2a-5c1e-4f3e-9a61-d12b105a0b01, name="$first_name"
start=$((ROOT_START_MIB * 2048)), size=$((ROOT_MIB * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$ROOT_UUID, name="root"
start=$((SWAP_START_MIB * 2048)), size=$((SWAP_MIB * 2048)), type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=$SWAP_UUID, name="swap"
SFD
  ;;
esac
dd if="$work/root.img" of="$disk" bs=1M seek=$ROOT_START_MIB conv=notrunc,sparse status=none
dd if="$work/swap.img" of="$disk" bs=1M seek=$SWAP_START_MIB conv=notrunc,sparse status=none
case "$variant" in
  bios)
    dd if="$work/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
    dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none ;;
  xfs|btrfs)
    # core.img into the bios_grub partition (LBA 2048): boot.img's kernel sector (0x5c) and
    # core.img's first blocklist (diskboot.img, last 12 bytes of its sector) point there.
    python3 - "$work/boot.img" "$work/core.img" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); c = bytearray(open(sys.argv[2], "rb").read())
struct.pack_into("<Q", b, 0x5c, 2048)
start, length, seg = struct.unpack_from("<QHH", c, 0x200 - 12)
assert start == 2, start
struct.pack_into("<Q", c, 0x200 - 12, 2049)
open(sys.argv[1], "wb").write(b); open(sys.argv[2], "wb").write(c)
PY
    dd if="$work/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
    dd if="$work/core.img" of="$disk" bs=512 seek=2048 conv=notrunc status=none ;;
  uefi)
    truncate -s $((FIRST_MIB * MiB)) "$work/esp.img"
    mkfs.vfat -F 32 -i "$ESP_ID" -n EFI "$work/esp.img" >/dev/null
    python3 "$here/manifest.py" "$work/esp" >"$out/$name.esp.manifest.tsv"
    mmd -i "$work/esp.img" ::EFI ::EFI/debian
    mcopy -i "$work/esp.img" "$work/esp/EFI/debian/grubx64.efi" "$work/esp/EFI/debian/grub.cfg" ::EFI/debian/
    dd if="$work/esp.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none ;;
esac
cp "$root/boot/grub/grub.cfg" "$out/$name.grub.cfg"
kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)"); kver=${kver#vmlinuz-}
mv "$disk" "$out/$name.raw"

# ---- index.json fragment -------------------------------------------------------------------------
mkdir -p "$out/meta"
export name variant kver MiB DISK_MIB DISK_ID PARTMAP ROOT_FS ROOT_UUID SWAP_UUID ESP_ID ROOT_PARTNO SWAP_PARTNO \
  FIRST_MIB ROOT_START_MIB ROOT_MIB SWAP_START_MIB SWAP_MIB ROOT_DEV SWAP_DEV
python3 - "$out/meta/$name.json" <<'PY'
import json, os, sys
e = os.environ
v, M = e["variant"], int(e["MiB"])
parts = []
if v == "uefi":
    parts.append({"number": 1, "name": "esp", "start": M, "size": int(e["FIRST_MIB"]) * M, "type": "EFI system partition",
                  "fs": "vfat", "uuid": e["ESP_ID"][:4] + "-" + e["ESP_ID"][4:], "label": "EFI", "mountpoint": "/boot/efi",
                  "manifest": e["name"] + ".esp.manifest.tsv"})
elif v in ("xfs", "btrfs"):
    parts.append({"number": 1, "name": "bios_grub", "start": M, "size": M, "type": "BIOS boot partition", "fs": "bios_grub",
                  "content": "GRUB core.img (i386-pc)"})
root = {"number": int(e["ROOT_PARTNO"]), "name": "root", "start": int(e["ROOT_START_MIB"]) * M, "size": int(e["ROOT_MIB"]) * M,
        "fs": e["ROOT_FS"], "uuid": e["ROOT_UUID"], "label": "", "mountpoint": "/", "manifest": e["name"] + ".root.manifest.tsv"}
swap = {"number": int(e["SWAP_PARTNO"]), "name": "swap", "start": int(e["SWAP_START_MIB"]) * M, "size": int(e["SWAP_MIB"]) * M,
        "fs": "swap", "uuid": e["SWAP_UUID"], "label": ""}
if v == "bios":
    root.update(type="0x83", bootable=True); swap["type"] = "0x82"
else:
    root.update(type="Linux filesystem", partuuid=e["ROOT_UUID"]); swap.update(type="Linux swap", partuuid=e["SWAP_UUID"])
parts += [root, swap]
rd, sd = e["ROOT_DEV"], e["SWAP_DEV"]
defects = [
    "MOD-L3: /etc/fstab names %s (/) and %s (swap)%s instead of UUIDs" % (rd, sd, " and /dev/sda1 (/boot/efi)" if v == "uefi" else ""),
    "MOD-L3: /etc/fstab mounts /dev/sdb1 on /srv/data, a data disk that is not in the image (no nofail)",
    "MOD-L3: /etc/fstab has a cifs share (//fileserver.example.com/public) and a cdrom line (/dev/sr0)",
    "MOD-L2/GEN-4: /etc/network/interfaces gives eth0 a static IPv4 192.168.122.50/24",
    "LNX-4: no net.ifnames=0 on the kernel line (predictable interface names), yet config uses eth0",
    "MOD-L4: grub.cfg (made by the guest's grub-mkconfig, GRUB_DISABLE_LINUX_UUID=true) says root=%s" % rd]
if v == "uefi":
    defects.append("BOOT-4: the ESP has EFI/debian/grubx64.efi but no EFI/BOOT/BOOTX64.EFI")
boot = {"bios": "bios", "uefi": "uefi", "xfs": "bios", "btrfs": "bios"}[v]
how = {"bios": "GRUB boot.img in the MBR, core.img in the MBR gap",
       "uefi": "GRUB x86_64-efi EFI/debian/grubx64.efi on the ESP (no fallback loader), no BIOS boot code",
       "xfs": "GRUB boot.img in the protective MBR, core.img in the bios_grub partition",
       "btrfs": "GRUB boot.img in the protective MBR, core.img in the bios_grub partition"}[v]
desc = ("Real Debian 12 (debootstrap bookworm: linux-image-amd64, grub-pc, ifupdown, isc-dhcp-client, openssh-server, "
        "systemd-sysv) on %s, %s root; %s; serial console." % ({"msdos": "MBR", "gpt": "GPT"}[e["PARTMAP"]], e["ROOT_FS"], how))
d = {"name": e["name"], "file": e["name"] + ".raw", "format": "raw", "size": int(e["DISK_MIB"]) * M,
     "description": desc, "boot": boot, "partition_table": {"msdos": "mbr", "gpt": "gpt"}[e["PARTMAP"]],
     "disk_id": e["DISK_ID"], "partitions": parts, "defects": defects,
     "os": {"type": "linux", "distro": "debian", "version": "12", "arch": "x86_64", "hostname": "debian12-test",
            "kernel": e["kver"], "kernel_cmdline_root": rd, "package_format": "deb", "package_management": "apt",
            "init": "systemd", "bootloader": "grub2", "grub_cfg": "/boot/grub/grub.cfg"},
     "boots": ("login prompt under qemu-system-x86_64 -accel tcg, SATA disks, %s; attach debian12-datadisk.raw as the "
               "second disk (/dev/sdb1)" % ("OVMF, only after adding EFI/BOOT/BOOTX64.EFI to a scratch copy" if v == "uefi" else "SeaBIOS"))}
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
log "$name: done"
