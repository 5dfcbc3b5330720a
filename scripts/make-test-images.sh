#!/usr/bin/env bash
# Build (or reuse) the project's test images. Idempotent; no loop devices, no kernel mounts.
# Output: ${XDG_CACHE_HOME:-$HOME/.cache}/guestfix/test-images/<hash of the builder's inputs>
# (this script, scripts/images/**, test-images/trees/**, test-images/sample.*); that folder's path is the LAST stdout
# line. --print-dir prints it without building. See docs/test-images.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/images/common.sh

inputs_hash() {
  { echo scripts/make-test-images.sh; echo test-images/sample.qcow2; echo test-images/sample.root.manifest.tsv
    find scripts/images test-images/trees -type f -o -type l; } |
    LC_ALL=C sort | while read -r f; do
      printf '%s\0' "$f"
      if [ -L "$f" ]; then readlink "$f"; else sha256sum <"$f"; fi
    done | sha256sum | cut -c1-16
}
OUT="$GF_CACHE_ROOT/test-images/$(inputs_hash)"
if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi
if [ -f "$OUT/.complete" ]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
# one builder per output folder (several checkouts of the same commit may build at once)
mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
flock 9
if [ -f "$OUT/.complete" ]; then log "cached (built by another run): $OUT"; echo "$OUT"; exit 0; fi

# Each step leaves a stamp file so that an interrupted build resumes where it stopped.
mkdir -p "$OUT/meta"
step() { # step NAME command...
  local n=$1; shift
  if [ -f "$OUT/.done-$n" ]; then log "step $n: cached"; return 0; fi
  local t0=$SECONDS
  log "step $n ..."
  "$@" >&2
  touch "$OUT/.done-$n"
  log "step $n: ok ($((SECONDS - t0)) s)"
}

# guestfish (Btrfs subvolumes, LVM, NTFS directories) needs the libguestfs set-up of this machine
# kind: direct backend, TCG, a supermin kernel (scripts/libguestfs-env.sh)
source scripts/libguestfs-env.sh >&2 || log "WARNING: libguestfs unusable: the guestfish-made images will fail"

TARBALL=$(scripts/images/debootstrap.sh)
step debian12-bios scripts/images/debian12.sh bios "$OUT" "$TARBALL"
step debian12-datadisk scripts/images/datadisk.sh "$OUT"
step sample scripts/images/sample-raw.sh "$OUT"
step sample-containers scripts/images/containers.sh "$OUT" sample "$OUT/debian12-datadisk.raw" --damaged
step debian12-bios-containers scripts/images/containers.sh "$OUT" debian12-bios "$OUT/debian12-datadisk.raw"
for v in uefi xfs btrfs; do
  step "debian12-$v" scripts/images/debian12.sh "$v" "$OUT" "$TARBALL"
done
for t in test-images/trees/*/image.json; do
  n=$(basename "$(dirname "$t")")
  step "$n" python3 scripts/images/crafted.py "$n" "$OUT"
done
# Windows-like guests: NTFS directories need guestfish (libguestfs appliance, TCG)
for t in test-images/trees/*/windows.json; do
  n=$(basename "$(dirname "$t")")
  step "$n" python3 scripts/images/windows.py "$n" "$OUT"
done
# More Windows guests (Server 2012 R2 …) made from specs the script writes to a scratch folder
step windows-extra scripts/images/windows-extra.sh "$OUT"

python3 scripts/images/index.py "$OUT"
touch "$OUT/.complete"
log "all images built in $OUT"
echo "$OUT"
