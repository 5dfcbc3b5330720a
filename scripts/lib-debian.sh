#!/usr/bin/env bash
# Shell functions shared by scripts/install-deps.sh and scripts/rpm-ndb.sh (sourced).

# The URI of the machine's Debian (bookworm) entry, read from its apt sources; hard-codes no host.
debian_uri() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk 'BEGIN{RS="";FS="\n"}
      { u=""; s=""; for(i=1;i<=NF;i++){ if($i ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",$i); split($i,a," "); u=a[1]}
                                       if($i ~ /^Suites:/){s=$i} }
        if (u!="" && s ~ /(^|[ \t])bookworm([ \t]|$)/) { print u; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri=$(awk '$1=="deb" && $0 ~ / bookworm( |$)/ { for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}
