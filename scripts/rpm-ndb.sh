#!/usr/bin/env bash
# Build rpm 4.18 with its ndb database backend, which Debian's `rpm` package leaves out (it
# writes sqlite only and reads Berkeley DB with bdb_ro): the tests use it to write real ndb
# `Packages.db` files and to judge our ndb reader with `rpm -qa`. Debian's own source package,
# fetched with apt-get through a private source list (the machine's apt configuration is not
# touched), configured with --enable-ndb, installed under the cache. Prints the install's bin
# folder (holding rpm and rpmdb). Build dependencies: scripts/install-deps.sh.
#   scripts/rpm-ndb.sh
set -euo pipefail
cache=${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/rpm-ndb
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"  # one build at a time (tests run in parallel)
flock 9
if [ -x "$cache/inst/bin/rpmdb" ]; then
  rc=$("$cache/inst/bin/rpm" --showrc 2>/dev/null || true)
  if grep -q 'backends.*ndb' <<<"$rc"; then echo "$cache/inst/bin"; exit 0; fi
fi

# debian_uri: the URI of the machine's Debian (bookworm) entry (as install-deps.sh).
# shellcheck source=lib-debian.sh
source "$(dirname "$0")/lib-debian.sh"

rm -rf "$cache"; mkdir -p "$cache/apt/lists/partial" "$cache/src"
uri=$(debian_uri) || { echo "rpm-ndb: no bookworm entry in the apt sources" >&2; exit 2; }
echo "deb-src $uri bookworm main" >"$cache/apt/sources.list"
apt_o=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o "Dir::State::Lists=$cache/apt/lists" -o APT::Sandbox::User=root)
apt-get "${apt_o[@]}" update -qq >&2
(cd "$cache/src" && apt-get "${apt_o[@]}" source --download-only rpm >&2)
tar -xf "$cache"/src/rpm_4.18*.orig.tar.* -C "$cache/src"
cd "$cache"/src/rpm-4.18*/
./configure --prefix="$cache/inst" --enable-ndb --enable-sqlite=no --disable-openmp \
  --disable-plugins --enable-zstd=no --with-crypto=openssl --without-archive --disable-nls \
  >"$cache/configure.log" 2>&1 || { tail -20 "$cache/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$cache/make.log" 2>&1 || { tail -20 "$cache/make.log" >&2; exit 1; }
make install >>"$cache/make.log" 2>&1 || { tail -20 "$cache/make.log" >&2; exit 1; }
rm -rf "$cache/src"
echo "$cache/inst/bin"
