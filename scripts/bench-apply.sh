#!/usr/bin/env bash
# Benchmark: `guestfix apply` vs `virt-v2v -i disk -o local` on the same image (default: the
# 2 GiB debian12-bios), in the same run. Prints a Markdown table (command lines, wall-clock
# seconds, exit code, output size). Not run by scripts/test.sh (virt-v2v takes minutes under TCG).
#
# usage: bench-apply.sh [IMAGE [DRIVERS]]    (default: $GUESTFIX_TEST_IMAGES/debian12-bios.raw)
#        DRIVERS: a driver folder for Windows guests, passed to `guestfix apply --drivers`
#        (virt-v2v looks for its own in /usr/share/virtio-win; without them it still converts).
# env:   GUESTFIX_TEST_IMAGES (default: scripts/make-test-images.sh), GUESTFIX_BIN (default:
#        target/release/guestfix, built with cargo build --release)
# Needs: virt-v2v, nbdkit, libnbd-bin (virt-v2v -i disk uses them), qemu-utils.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGES=${GUESTFIX_TEST_IMAGES:-$(scripts/make-test-images.sh | tail -n 1)}
IMAGE=${1:-$IMAGES/debian12-bios.raw}
DRIVERS=${2:-}
drv=()
[ -z "$DRIVERS" ] || drv=(--drivers "$(realpath "$DRIVERS")")
if [ -z "${GUESTFIX_BIN:-}" ]; then
  cargo build --quiet --release --bin guestfix
  GUESTFIX_BIN=target/release/guestfix
fi
GF=$(realpath "$GUESTFIX_BIN")
tmp=$(mktemp -d /tmp/guestfix-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rows=()

# timed LABEL CMD... : run, record wall time and exit code
timed() {
  local label=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$@" >"$tmp/$label.out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  echo "bench-apply: $label: exit $rc, ${secs} s" >&2
  [ $rc -eq 0 ] || tail -n 20 "$tmp/$label.out" >&2
  last_secs=$secs last_rc=$rc
}

size_of() { du -sh --apparent-size "$1" 2>/dev/null | cut -f1 || echo -; }
alloc_of() { { du -sh "$1" 2>/dev/null || echo "- (none)"; } | cut -f1; }

echo "bench-apply: image $IMAGE ($(size_of "$IMAGE") virtual, $(alloc_of "$IMAGE") allocated); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# 1. guestfix apply --out (overlay)
ov=$tmp/fixed.qcow2
timed apply-out "$GF" apply "$IMAGE" "${drv[@]}" --out "$ov"
rows+=("| guestfix apply (overlay) | \`guestfix apply $IMAGE ${drv[*]} --out fixed.qcow2\` | $last_secs | $last_rc | $(alloc_of "$ov") qcow2 overlay |")

# 2. guestfix apply --in-place on a sparse copy (the copy is not timed)
cp --sparse=always "$IMAGE" "$tmp/copy.raw"
timed apply-in-place "$GF" apply --in-place "$tmp/copy.raw" "${drv[@]}"
rows+=("| guestfix apply (in place, journal) | \`guestfix apply copy.raw --in-place ${drv[*]}\` | $last_secs | $last_rc | changes written into the raw copy |")
rm -f "$tmp/copy.raw"

# 3. virt-v2v -i disk -o local
v2v_rc=skipped v2v_secs=-
if command -v virt-v2v >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  source scripts/libguestfs-env.sh
  mkdir -p "$tmp/v2v"
  timed virt-v2v virt-v2v -i disk "$IMAGE" -o local -os "$tmp/v2v" -on bench
  v2v_rc=$last_rc v2v_secs=$last_secs
  rows+=("| virt-v2v 2.2 (libguestfs appliance, TCG) | \`virt-v2v -i disk $IMAGE -o local -os OUT -on bench\` | $v2v_secs | $v2v_rc | $(alloc_of "$tmp/v2v") (full raw copy + XML) |")
else
  echo "bench-apply: virt-v2v is not installed: only guestfix was measured" >&2
  rows+=("| virt-v2v | not installed | - | - | - |")
fi

echo
echo "Image: \`$(basename "$IMAGE")\` ($(size_of "$IMAGE") virtual, $(alloc_of "$IMAGE") allocated), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| tool | command | wall time (s) | exit | output |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
