# shellcheck shell=bash
# Shared helpers for scripts/make-test-images.sh and scripts/images/*.sh (sourced, not run).
set -euo pipefail

GF_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/guestfix"
GF_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { echo "[images] $*" >&2; }
die() { echo "[images] ERROR: $*" >&2; exit 1; }

# The Debian mirror URI of the machine's main suite (bookworm), read from the apt sources
# (deb822 *.sources first, then one-line sources.list). Hard-codes no host except the fallback.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk 'BEGIN{RS="";FS="\n"}
      { u=""; s=""; for(i=1;i<=NF;i++){ if($i ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",$i); split($i,a," "); u=a[1]}
                                       if($i ~ /^Suites:/){s=$i} }
        if (u!="" && s ~ /(^|[ \t])bookworm([ \t]|$)/) { print u; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri=$(awk '$1=="deb" && $0 ~ / bookworm( |$)/ { for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo "http://deb.debian.org/debian"
}

# sha256 of a string
sha() { sha256sum | cut -c1-16; }

# Apply the debian12 guest configuration (the defects the import service must fix) to a Debian
# root tree: fstab, ifupdown static eth0, hostname, GRUB defaults (root=/dev/sdX, serial console).
#   debian12_configure ROOT OVERLAY
debian12_configure() {
  local root=$1 overlay=$2
  cp -a "$overlay/." "$root/"
  chown -R 0:0 "$root/etc/fstab" "$root/etc/network/interfaces" "$root/etc/hostname" "$root/etc/hosts" \
    "$root/etc/cifs-credentials"
  chmod 0644 "$root/etc/fstab" "$root/etc/network/interfaces" "$root/etc/hostname" "$root/etc/hosts"
  chmod 0600 "$root/etc/cifs-credentials"
  mkdir -p "$root/srv/data" "$root/mnt/share" "$root/media/cdrom0"
  # GRUB: root=/dev/sda1 (no UUID), serial console, short timeout.
  sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
         -e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"/' \
         -e 's/^#\?GRUB_DISABLE_LINUX_UUID=.*/GRUB_DISABLE_LINUX_UUID=true/' \
         -e 's/^#\?GRUB_TERMINAL=.*/GRUB_TERMINAL="console serial"/' "$root/etc/default/grub"
  grep -q '^GRUB_DISABLE_LINUX_UUID=true' "$root/etc/default/grub" || echo 'GRUB_DISABLE_LINUX_UUID=true' >>"$root/etc/default/grub"
  grep -q '^GRUB_TERMINAL=' "$root/etc/default/grub" || echo 'GRUB_TERMINAL="console serial"' >>"$root/etc/default/grub"
  echo 'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' >>"$root/etc/default/grub"
  # root password "guestfix" (for interactive debugging of boot tests only)
  echo 'root:guestfix' | chroot "$root" chpasswd
}
