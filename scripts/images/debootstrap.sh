#!/usr/bin/env bash
# Cached Debian 12 root tree: prints the path of a tarball of a fresh `debootstrap` of bookworm
# with the packages the debian12-* images need. Cached separately from the image folder (keyed by
# this script's content only) so that a builder change does not re-debootstrap.
source "$(dirname "$0")/common.sh"

PKGS="linux-image-amd64,grub-pc,ifupdown,isc-dhcp-client,openssh-server,systemd-sysv"
key=$( (cat "$0"; echo "$PKGS") | sha)
out="$GF_CACHE_ROOT/debootstrap/bookworm-$key.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$GF_CACHE_ROOT/debootstrap"
mirror=$(debian_mirror)
work=$(mktemp -d "$GF_CACHE_ROOT/debootstrap/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "debootstrap bookworm from $mirror (a few minutes)"
DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$PKGS" \
  bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || { tail -30 "$work/log" >&2; die "debootstrap failed"; }
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
tar --numeric-owner --xattrs -C "$work/root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
