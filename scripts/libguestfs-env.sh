#!/usr/bin/env bash
# Source this to make libguestfs (guestfish, virt-inspector, virt-v2v) work on this kind of
# machine: direct backend, TCG (the appliance hangs under KVM here), and a supermin kernel taken
# from a Debian kernel package, cached outside the checkout. See ../shared/docs/tooling-notes.md.
# Returns non-zero (and says why) when libguestfs is not installed.
#
# With GUESTFIX_KERNEL_NTFS3=1 set before sourcing, the appliance runs the newest Debian kernel
# package that has the kernel's NTFS driver (ntfs3; Debian's 6.1 kernel is built without it), in
# its own cache: the kernel judge of the NTFS writer (tests/apply_windows.rs) mounts with it.
# Everything else keeps linux-image-amd64's kernel, which built the cached test images.

_gf_base="${XDG_CACHE_HOME:-$HOME/.cache}/guestfix"

# The Debian kernel package to use: linux-image-amd64's, or with GUESTFIX_KERNEL_NTFS3 the
# newest linux-image-X.Y.Z+debN-amd64(-unsigned) the archive has.
_gf_pkg() {
  if [ "${GUESTFIX_KERNEL_NTFS3:-}" = 1 ]; then
    apt-cache search --names-only '^linux-image-[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64-unsigned$' 2>/dev/null \
      | awk '{print $1}' | sort -V | tail -n1
  else
    apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
  fi
}

_gf_setup() {
  command -v guestfish >/dev/null 2>&1 || { echo "libguestfs-env: guestfish is not installed" >&2; return 1; }
  local cache="$_gf_base/supermin-kernel"
  [ "${GUESTFIX_KERNEL_NTFS3:-}" = 1 ] && cache="$_gf_base/supermin-kernel-ntfs3"
  local vmlinuz
  mkdir -p "$cache"
  # tests run side by side: one of them prepares the kernel, the others wait for it
  exec {_gf_lock}>"$cache.lock"
  flock "$_gf_lock"
  vmlinuz=$(ls "$cache"/root/boot/vmlinuz-* 2>/dev/null | head -n1)
  if [ -z "$vmlinuz" ]; then
    echo "libguestfs-env: preparing a supermin kernel in $cache" >&2
    rm -rf "$cache/dl" "$cache/root" "$cache/root.tmp"
    mkdir -p "$cache/dl" "$cache/root.tmp"
    local pkg
    pkg=$(_gf_pkg)
    [ -n "$pkg" ] || { echo "libguestfs-env: no Debian kernel package found (apt-get update?)" >&2; return 1; }
    (cd "$cache/dl" && apt-get download "$pkg" >/dev/null 2>&1) || return 1
    dpkg -x "$cache"/dl/"$pkg"_*.deb "$cache/root.tmp" || return 1
    vmlinuz=$(ls "$cache"/root.tmp/boot/vmlinuz-* | head -n1)
    local kver=${vmlinuz##*/vmlinuz-}
    depmod -b "$cache/root.tmp" "$kver" || return 1
    # only a complete kernel folder is ever seen under root/
    mv "$cache/root.tmp" "$cache/root" || return 1
    rm -rf "$cache/dl"
    vmlinuz="$cache/root/boot/vmlinuz-$kver"
  fi
  flock -u "$_gf_lock"
  exec {_gf_lock}>&-
  local kver=${vmlinuz##*/vmlinuz-}
  if [ "${GUESTFIX_KERNEL_NTFS3:-}" = 1 ] && ! ls "$cache/root/lib/modules/$kver/kernel/fs/ntfs3/"ntfs3.ko* >/dev/null 2>&1; then
    echo "libguestfs-env: the newest kernel package ($kver) has no ntfs3 module" >&2
    return 1
  fi
  # supermin insists on a host /lib/modules folder.
  [ -d /lib/modules ] || mkdir -p /lib/modules 2>/dev/null || true
  export LIBGUESTFS_BACKEND=direct
  export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
  export SUPERMIN_KERNEL="$vmlinuz"
  export SUPERMIN_MODULES="$cache/root/lib/modules/$kver"
  # supermin's --if-newer does not look at the kernel: one appliance cache per kernel.
  if [ "${GUESTFIX_KERNEL_NTFS3:-}" = 1 ]; then
    export LIBGUESTFS_CACHEDIR="$cache/appliance"
    mkdir -p "$LIBGUESTFS_CACHEDIR"
  fi
}

_gf_setup
