#!/usr/bin/env bash
# Install the Debian packages the tests need (idempotent). Runs as root (CI and developer machines
# here are root); uses sudo otherwise.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  e2fsprogs xfsprogs btrfs-progs dosfstools mtools ntfs-3g libhivex-bin gdisk fdisk
  debootstrap cpio zstd xz-utils lz4 bzip2 libxml2-utils sqlite3 python3 qemu-utils rpm
  # test-image builder (scripts/make-test-images.sh) and checkers (scripts/check-images.sh)
  grub-pc-bin grub-efi-amd64-bin grub-common cryptsetup-bin lvm2 libguestfs-tools
  libwin-hivex-perl guestfs-tools kmod util-linux tar gzip file binutils
  # MOD-L1 driver injection tests: lsinitramfs/unmkinitramfs; gcc makes module-shaped objects
  initramfs-tools-core gcc
  # MOD-L2 snapshot tests validate the edited netplan YAML with the real `netplan generate`
  netplan.io
  # remote images (tests/block_remote.rs): a real HTTP server with Range on and off
  nginx
  # rpm databases (tests/guest_linux_rpmdb_formats.rs): db_load/db_dump write and judge Berkeley DB hash
  # files; the build dependencies of scripts/rpm-ndb.sh (rpm with its ndb backend)
  db5.3-util libpopt-dev liblua5.4-dev libmagic-dev libssl-dev zlib1g-dev pkg-config make
)
# qemu-system comes from bookworm-backports (it must match the preinstalled qemu-utils 10.x from
# backports; bookworm's 7.2 fails with "held broken packages"), see docs/tooling-notes.
BPO_PKGS=(qemu-system-x86 qemu-system-data seabios ovmf)

apt_retry() { # other users may hold the apt/dpkg lock: wait and retry
  local i
  for i in $(seq 1 60); do
    if $SUDO apt-get -o DPkg::Lock::Timeout=60 "$@"; then return 0; fi
    echo "install-deps: apt-get $1 failed (attempt $i), retrying in 10 s" >&2; sleep 10
  done
  return 1
}

# debian_uri: the URI of the machine's Debian (bookworm) entry.
# shellcheck source=lib-debian.sh
source "$(dirname "$0")/lib-debian.sh"

need_update=0
if ! grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(debian_uri) || { echo "install-deps: no bookworm entry in the apt sources" >&2; exit 2; }
  echo "install-deps: adding bookworm-backports from $uri"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" | $SUDO tee /etc/apt/sources.list.d/guestfix-backports.sources >/dev/null
  need_update=1
fi

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=(); missing_bpo=()
for p in "${PKGS[@]}"; do is_installed "$p" || missing+=("$p"); done
for p in "${BPO_PKGS[@]}"; do is_installed "$p" || missing_bpo+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_bpo[@]} -gt 0 ] || [ $need_update = 1 ]; then
  apt_retry update -qq
fi
if [ ${#missing_bpo[@]} -gt 0 ]; then
  echo "install-deps: installing from bookworm-backports: ${missing_bpo[*]}"
  apt_retry install -y -qq -t bookworm-backports "${missing_bpo[@]}" >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt_retry install -y -qq "${missing[@]}" >/dev/null
fi

# regipy (PyPI): a second, independent hive reader judging the hive writer (tests/hive_write.rs).
if ! python3 -c 'import regipy' 2>/dev/null; then
  echo "install-deps: pip install regipy"
  python3 -m pip install -q regipy || python3 -m pip install -q --break-system-packages regipy
fi

# moto (PyPI, `moto_server` = `python3 -m moto.server`): the S3-compatible server
# tests/block_remote.rs starts on loopback.
if ! python3 -c 'import moto.server, flask' 2>/dev/null; then
  echo "install-deps: pip install moto[server]"
  python3 -m pip install -q 'moto[server]' || python3 -m pip install -q --break-system-packages 'moto[server]'
fi
