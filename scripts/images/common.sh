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
