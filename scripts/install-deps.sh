#!/usr/bin/env bash
# Install the Debian packages the tests need (idempotent). Runs as root (CI and developer machines
# here are root); uses sudo otherwise.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  e2fsprogs xfsprogs btrfs-progs dosfstools mtools ntfs-3g libhivex-bin gdisk fdisk
  debootstrap cpio zstd xz-utils lz4 bzip2 libxml2-utils sqlite3 python3 qemu-utils
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
