#!/usr/bin/env bash
# Seed one cargo-fuzz target's corpus folder from real data: the test images (GUESTFIX_TEST_IMAGES,
# when set) and ../shared/data beside the checkout. Used by fuzz-smoke.sh and fuzz-long.sh.
#   scripts/fuzz-seed.sh TARGET CORPUS_DIR
# Seeds are at most 1 MiB (the runs' -max_len); copying never overwrites an evolved corpus file.
set -euo pipefail
cd "$(dirname "$0")/.."
t=$1 corpus=$2
mkdir -p "$corpus"
shared=../shared/data
imgs=${GUESTFIX_TEST_IMAGES:-}

small() { # small FOLDER find-args...: files under FOLDER of at most 1 MiB
  local d=$1; shift
  [ -d "$d" ] && find "$d" -type f -size -1025k "$@" 2>/dev/null || true
}
copy_all() { while IFS= read -r f; do
  cp -n "$f" "$corpus/$(echo "$f" | sha256sum | cut -c1-16)" 2>/dev/null || true; done; }
hives() { small "$shared/registry" | while IFS= read -r f; do
  cmp -s -n 4 <(printf regf) "$f" && echo "$f"; done; }
head_of() { # head_of FOLDER PATTERN BYTES: the first BYTES of each matching image
  [ -n "$imgs" ] || return 0
  find "$imgs" -maxdepth 2 -name "$2" -type f 2>/dev/null | head -n 8 | while IFS= read -r f; do
    head -c "$3" "$f" >"$corpus/head-$(basename "$f")"; done; }

case $t in
  block_qcow2) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 -name '*.qcow2' | copy_all ;;
  block_vhd) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 -name '*.vhd' | copy_all ;;
  block_vhdx) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 -name '*.vhdx' | copy_all ;;
  block_vmdk) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 -name '*.vmdk' | copy_all ;;
  block_ova) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 -name '*.ova' | copy_all ;;
  block_extents) [ -n "$imgs" ] && small "$imgs" -maxdepth 2 \( -name '*.qcow2' -o -name '*.vhd' \) | copy_all ;;
  volume_mbr_gpt) head_of "$imgs" '*.raw' 65536 ;;
  hive | windows_facts | windows_sam) hives | copy_all ;;
  linuxcfg_editors | linuxcfg_parsers) small "$shared/linux" -size -65k | copy_all ;;
  inf) find tests/data/windows-drivers -name '*.inf' | copy_all ;;
  rpmdb) # a real rpmdb.sqlite made by rpm (scripts/images/rpmdb.sh), behind the body's mode
    # byte 0 (the whole input is the database)
    if command -v rpmbuild >/dev/null && [ ! -e "$corpus/seed-rpmdb" ]; then
      d=$(mktemp -d)
      printf 'kernel-core - 6.5.6 300.fc39 x86_64\nshadow-utils 2 4.14.0 2.fc39 x86_64\nglibc - 2.38 14.fc39 i686\n' \
        | bash scripts/images/rpmdb.sh "$d" >/dev/null 2>&1 || true
      [ -f "$d/rpmdb.sqlite" ] && { printf '\0'; cat "$d/rpmdb.sqlite"; } | head -c 1048576 >"$corpus/seed-rpmdb"
      rm -rf "$d"
    fi ;;
  rpmdb_bdb | rpmdb_ndb) # a real rpm database of three packages: rpmdb.sh's sqlite one, its
    # header blobs written as a Berkeley DB hash Packages by db_load (512-byte pages: bucket and
    # overflow pages), or imported into an ndb Packages.db by rpm built with ndb (rpm-ndb.sh)
    if command -v rpmbuild >/dev/null && [ ! -e "$corpus/seed-$t" ]; then
      d=$(mktemp -d)
      printf 'kernel-core - 6.5.6 300.el8 x86_64\nshadow-utils 2 4.6 17.el8 x86_64\nglibc - 2.28 236.el8 i686 3000\n' \
        | bash scripts/images/rpmdb.sh "$d/sq" >/dev/null 2>&1 || true
      if [ "$t" = rpmdb_bdb ] && [ -f "$d/sq/rpmdb.sqlite" ] && command -v db_load >/dev/null; then
        { printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n'
          sqlite3 "$d/sq/rpmdb.sqlite" 'SELECT hnum, lower(hex(blob)) FROM Packages;' | while IFS='|' read -r n h; do
            printf ' %02x%02x%02x%02x\n %s\n' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24)) "$h"; done
          printf 'DATA=END\n'; } >"$d/dump"
        db_load -f "$d/dump" "$d/Packages" 2>/dev/null && head -c 1048576 "$d/Packages" >"$corpus/seed-$t"
      fi
      if [ "$t" = rpmdb_ndb ] && [ -f "$d/sq/rpmdb.sqlite" ] && bin=$(scripts/rpm-ndb.sh 2>/dev/null); then
        mkdir "$d/nd"
        "$bin/rpmdb" --define '_db_backend ndb' --dbpath "$d/nd" --initdb 2>/dev/null \
          && rpmdb --exportdb --dbpath "$d/sq" 2>/dev/null \
          | "$bin/rpmdb" --define '_db_backend ndb' --dbpath "$d/nd" --importdb 2>/dev/null \
          && head -c 1048576 "$d/nd/Packages.db" >"$corpus/seed-$t"
      fi
      rm -rf "$d"
    fi ;;
  fs_btrfs) # the non-zero pages of real Btrfs images, in the target's paged input format, when
    # scripts/images/btrfs-fixtures.sh (run by tests/fs_btrfs_guestfish.rs) has built them
    for d in "${XDG_CACHE_HOME:-$HOME/.cache}"/guestfix/fixtures/btrfs-*/fuzz-seed; do
      small "$d" | copy_all; done ;;
  ext4w) # small ext4 volumes made by mke2fs holding the files the body edits
    if command -v mke2fs >/dev/null; then
      d=$(mktemp -d); mkdir -p "$d/root/etc" "$d/root/boot/grub"
      printf 'UUID=0b9a / ext4 defaults 0 1\n/dev/sdb1 /srv ext4 defaults 0 2\n' >"$d/root/etc/fstab"
      echo guest >"$d/root/etc/hostname"; head -c 3000 /dev/zero | tr '\0' 'x' >"$d/root/boot/grub/grub.cfg"
      mke2fs -q -F -t ext4 -b 1024 -O ^has_journal -d "$d/root" "$corpus/seed-1k.img" 1024 >/dev/null 2>&1 || true
      mke2fs -q -F -t ext4 -b 1024 -N 64 -d "$d/root" "$corpus/seed-1k-journal.img" 1024 >/dev/null 2>&1 || true
      mke2fs -q -F -t ext4 -b 4096 -N 32 -O ^has_journal,^resize_inode -d "$d/root" "$corpus/seed-4k.img" 256 >/dev/null 2>&1 || true
      rm -rf "$d"
    fi ;;
  volume_lvm) [ -n "$imgs" ] && for f in "$imgs"/*lvm*.raw; do
      # the LVM2 text metadata sits in the first MiBs of the PV (printable text, kept whole)
      [ -f "$f" ] && head -c 4194304 "$f" | strings -n 3 | head -c 1048576 >"$corpus/text-$(basename "$f")"
    done ;;
  *) ;;
esac
echo "$(find "$corpus" -type f | wc -l) seeds in $corpus"
