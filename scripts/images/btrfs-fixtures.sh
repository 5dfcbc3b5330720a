#!/usr/bin/env bash
# Build (once, cached) the Btrfs fixture that mkfs.btrfs --rootdir cannot make: compressed files
# (zlib, lzo, zstd), subvolumes @, @/home, @/.snapshots, a snapper-style read-only snapshot
# @/.snapshots/1/snapshot, holes and preallocated extents, default subvolume @.
# Uses guestfish (libguestfs, under TCG via scripts/libguestfs-env.sh).
#
# Prints the fixture folder on stdout. It holds:
#   disk.img          the raw image (whole-disk Btrfs, no partition table)
#   src/…             the host files uploaded, byte for byte
#   sha256.tsv        guest-path <TAB> sha256 of what each guest file must read back as
#   subvolumes.txt    guestfish `btrfs-subvolume-list /` output (the real tool's view)
#   default.txt       guestfish `btrfs-subvolume-get-default /` output
#   holes.img         a second Btrfs made with `-O ^no-holes` (holes are explicit extent items:
#                     disk_bytenr 0) holding /sparse, written by the kernel
#   snapfirst.img     a third Btrfs whose default (top level) holds no system; in id order:
#                     `base` (256, its /etc removed), `snaps/1` (257, a read-only snapshot of
#                     base while it held a system), `root` (258, the system): a root search that
#                     took snapshots for systems would pick the snapshot first
#   snapfirst-subvolumes.txt  guestfish `btrfs-subvolume-list /` of snapfirst.img
#   fuzz-seed/        seed inputs for the fs_btrfs fuzz target: the non-zero 4 KiB pages of
#                     small real images as [page u32 LE][4096 bytes] records
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hash=$(sha256sum "$0" | cut -c1-12)
out="${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/fixtures/btrfs-$hash"
if [ -f "$out/done" ]; then
  echo "$out"
  exit 0
fi
# shellcheck source=../libguestfs-env.sh
source "$here/../libguestfs-env.sh" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp/src"
cd "$out.tmp"

# Compressible, deterministic content: > 128 KiB so it spans several compressed extents.
text() { # $1 = lines, $2 = tag
  awk -v n="$1" -v t="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s line %07d: the quick brown fox %d jumps over %x\n", t, i, i * 7919 % 1000003, i * i }'
}
text 12000 zlib > src/zlib.txt          # ~ 800 KiB
text 12000 lzo > src/lzo.txt
text 12000 zstd > src/zstd.txt
text 40 small-zlib > src/small-zlib.txt  # ~ 3 KiB: an inline compressed extent
text 40 small-lzo > src/small-lzo.txt
text 40 small-zstd > src/small-zstd.txt
printf 'UUID=0 / btrfs subvol=@ 0 0\nUUID=0 /home btrfs subvol=@/home 0 0\nUUID=0 /.snapshots btrfs subvol=@/.snapshots 0 0\n' > src/fstab
printf 'before-snapshot\n' > src/hostname-old
printf 'after-snapshot\n' > src/hostname-new
printf 'home of user\n' > src/notes.txt
printf 'NAME="Fedora Linux"\nVERSION_ID=42\nID=fedora\n' > src/os-release
printf '<?xml version="1.0"?>\n<snapshot><type>single</type><num>1</num><description>first root filesystem</description></snapshot>\n' > src/info.xml

# Explicit hole extents only exist without the no-holes feature (a mkfs.btrfs 6.2 default).
truncate -s 200M holes.img
mkfs.btrfs -q -O ^no-holes -L holes holes.img >&2
truncate -s 200M snapfirst.img
mkfs.btrfs -q -L snapfirst snapfirst.img >&2

guestfish --rw <<'GF' >&2
sparse disk.img 512M
add holes.img format:raw
add snapfirst.img format:raw
run
mount /dev/sdc /
btrfs-subvolume-create /base
mkdir /base/etc
upload src/fstab /base/etc/fstab
upload src/os-release /base/etc/os-release
mkdir /snaps
btrfs-subvolume-snapshot /base /snaps/1 ro:true
rm-rf /base/etc
btrfs-subvolume-create /root
mkdir /root/etc
upload src/fstab /root/etc/fstab
upload src/os-release /root/etc/os-release
btrfs-subvolume-list / | cat > snapfirst-subvolumes.txt
umount /
mount /dev/sdb /
touch /sparse
pwrite /sparse "start" 0
truncate-size /sparse 6291456
pwrite /sparse "middle" 2097152
pwrite /sparse "end" 6291453
umount /
mkfs btrfs /dev/sda label:gfbtrfs
mount /dev/sda /
btrfs-subvolume-create /@
btrfs-subvolume-create /@/home
btrfs-subvolume-create /@/.snapshots
mkdir-p /@/etc
mkdir-p /@/var/data
mkdir-p /@/home/user
upload src/fstab /@/etc/fstab
upload src/hostname-old /@/etc/hostname
upload src/notes.txt /@/home/user/notes.txt
touch /@/var/data/sparse
truncate-size /@/var/data/sparse 8388608
pwrite /@/var/data/sparse "middle" 3145728
pwrite /@/var/data/sparse "tail" 8388600
fallocate64 /@/var/data/prealloc 1048576
pwrite /@/var/data/prealloc "head" 0
umount /
mount-options compress=zlib /dev/sda /
upload src/zlib.txt /@/var/data/zlib.txt
upload src/small-zlib.txt /@/var/data/small-zlib.txt
sync
umount /
mount-options compress=lzo /dev/sda /
upload src/lzo.txt /@/var/data/lzo.txt
upload src/small-lzo.txt /@/var/data/small-lzo.txt
sync
umount /
mount-options compress=zstd /dev/sda /
upload src/zstd.txt /@/var/data/zstd.txt
upload src/small-zstd.txt /@/var/data/small-zstd.txt
sync
umount /
mount /dev/sda /
mkdir /@/.snapshots/1
upload src/info.xml /@/.snapshots/1/info.xml
btrfs-subvolume-snapshot /@ /@/.snapshots/1/snapshot ro:true
upload src/hostname-new /@/etc/hostname
btrfs-subvolume-set-default 256 /
btrfs-subvolume-list / | cat > subvolumes.txt
btrfs-subvolume-get-default / | cat > default.txt
umount /
GF

{
  printf '/etc/fstab\t%s\n' "$(sha256sum < src/fstab | cut -d' ' -f1)"
  printf '/etc/hostname\t%s\n' "$(sha256sum < src/hostname-new | cut -d' ' -f1)"
  printf '/home/user/notes.txt\t%s\n' "$(sha256sum < src/notes.txt | cut -d' ' -f1)"
  for f in zlib lzo zstd small-zlib small-lzo small-zstd; do
    printf '/var/data/%s.txt\t%s\n' "$f" "$(sha256sum < "src/$f.txt" | cut -d' ' -f1)"
  done
} > sha256.tsv
btrfs check --readonly disk.img >&2
btrfs check --readonly holes.img >&2
btrfs check --readonly snapfirst.img >&2
btrfs inspect-internal dump-tree -t 5 holes.img > holes-tree.txt
# Fuzz seeds: a small mkfs.btrfs --rootdir image, and holes.img (kernel-written).
mkdir -p seedtree/etc seedtree/d fuzz-seed
printf 'UUID=1 / btrfs defaults 0 0\n' > seedtree/etc/fstab
ln -s ../etc/fstab seedtree/d/link
head -c 3000 src/zlib.txt > seedtree/d/inline
truncate -s 128M seed.img
mkfs.btrfs -q --rootdir seedtree seed.img >&2
for img in seed.img holes.img; do
  python3 - "$img" "fuzz-seed/${img%.img}" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, 'rb') as f, open(dst, 'wb') as o:
    page = 0
    while True:
        b = f.read(4096)
        if len(b) < 4096 or page >= 65536:
            break
        if any(b):
            o.write(struct.pack('<I', page) + b)
        page += 1
PY
done
rm -rf seedtree seed.img
cd /
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/done"
echo "$out"
