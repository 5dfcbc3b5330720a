#!/usr/bin/env bash
# Make a real rpm database in its SQLite form with the real rpm tools (Debian package `rpm`).
# usage: rpmdb.sh DBDIR < packages
#   one package a line: NAME EPOCH VERSION RELEASE ARCH [DESCRIPTION_BYTES]
#   (EPOCH "-" for none). Empty packages are built with rpmbuild (one spec per arch, the packages
#   as subpackages), then `rpm --initdb` and `rpm -i --justdb` write DBDIR/rpmdb.sqlite.
set -euo pipefail
db=$(realpath -m "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$db" "$work/SPECS"
declare -A specs
while read -r name epoch ver rel arch desc; do
  [ -n "$name" ] || continue
  s="$work/SPECS/seed-$arch.spec"
  if [ -z "${specs[$arch]:-}" ]; then
    specs[$arch]=1
    {
      echo "Name: guestfix-seed-$arch"; echo "Version: 0"; echo "Release: 0"
      echo "Summary: seed"; echo "License: MIT"
      [ "$arch" = noarch ] && echo "BuildArch: noarch"
      printf '%%description\nseed\n%%files\n'
    } > "$s"
  fi
  {
    echo "%package -n $name"
    echo "Version: $ver"; echo "Release: $rel"
    [ "$epoch" = - ] || echo "Epoch: $epoch"
    echo "Summary: $name (guestfix test package)"; echo "License: MIT"
    echo "URL: https://example.org/$name"
    echo "%description -n $name"
    if [ -n "${desc:-}" ]; then head -c "$desc" /dev/zero | tr '\0' 'x' | fold -w 70; echo; else echo "$name"; fi
    echo "%files -n $name"
  } >> "$s"
done
for arch in "${!specs[@]}"; do
  t=(); [ "$arch" = noarch ] || t=(--target "$arch")
  rpmbuild --quiet --define "_topdir $work" "${t[@]}" -bb "$work/SPECS/seed-$arch.spec" >/dev/null 2>&1
done
rpm --dbpath "$db" --define '_db_backend sqlite' --initdb
find "$work/RPMS" -name '*.rpm' ! -name 'guestfix-seed-*' -print0 \
  | xargs -0 rpm -i --justdb --nodeps --ignorearch --ignoreos --dbpath "$db" --define '_db_backend sqlite' 2>/dev/null
rm -f "$db/.rpm.lock"
