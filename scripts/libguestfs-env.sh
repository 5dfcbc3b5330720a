#!/usr/bin/env bash
# Source this to make libguestfs (guestfish, virt-inspector, virt-v2v) work on this kind of
# machine: direct backend, TCG (the appliance hangs under KVM here), and a supermin kernel taken
# from a Debian kernel package, cached outside the checkout. See ../shared/docs/tooling-notes.md.
# Returns non-zero (and says why) when libguestfs is not installed.

_gf_cache="${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/supermin-kernel"

_gf_setup() {
  command -v guestfish >/dev/null 2>&1 || { echo "libguestfs-env: guestfish is not installed" >&2; return 1; }
  local vmlinuz
  vmlinuz=$(ls "$_gf_cache"/root/boot/vmlinuz-* 2>/dev/null | head -n1)
  if [ -z "$vmlinuz" ]; then
    echo "libguestfs-env: preparing a supermin kernel in $_gf_cache" >&2
    mkdir -p "$_gf_cache/dl" "$_gf_cache/root"
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$pkg" ] || { echo "libguestfs-env: no Debian kernel package found (apt-get update?)" >&2; return 1; }
    (cd "$_gf_cache/dl" && apt-get download "$pkg" >/dev/null) || return 1
    dpkg -x "$_gf_cache"/dl/"$pkg"_*.deb "$_gf_cache/root" || return 1
    vmlinuz=$(ls "$_gf_cache"/root/boot/vmlinuz-* | head -n1)
    local kver=${vmlinuz##*/vmlinuz-}
    depmod -b "$_gf_cache/root" "$kver" || return 1
  fi
  local kver=${vmlinuz##*/vmlinuz-}
  # supermin insists on a host /lib/modules folder.
  [ -d /lib/modules ] || mkdir -p /lib/modules 2>/dev/null || true
  export LIBGUESTFS_BACKEND=direct
  export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
  export SUPERMIN_KERNEL="$vmlinuz"
  export SUPERMIN_MODULES="$_gf_cache/root/lib/modules/$kver"
}

_gf_setup
