#!/usr/bin/env bash
# Crash test of `guestfix apply --in-place` (issue #8): kill the apply at many points, run
# `apply --recover`, and require that every image is EITHER byte-identical to the original OR
# byte-identical to a fully applied reference (SHA-256 of the whole raw image), that e2fsck -fn
# is clean on its root filesystem, and that no journal is left.
#
# Kill points: GUESTFIX_CRASH_AFTER_WRITES=N (the apply aborts like kill -9 after N block writes,
# src/apply/journal.rs) for N spread over 0..W (W = the run's write count, found first by
# bisection), plus real `kill -9` at random moments of the write phase. On an idle machine the
# whole write phase takes a few ms, shorter than the shell's reaction time, so those runs set
# GUESTFIX_WRITE_DELAY_MS=5 (a sleep after each block write: the phase lasts ~W x 5 ms) and kill
# within that span; the script requires most of them to land before the apply completed.
# SOURCE_DATE_EPOCH makes the ext4 writer's timestamps fixed so that a complete apply is
# reproducible byte for byte.
#
# usage: crash-test.sh [RUNS]   (default 50; a fifth of them are kill -9 runs)
# env:   GUESTFIX_TEST_IMAGES (default: scripts/make-test-images.sh), CRASH_SEED (random seed,
#        default: $$), CRASH_IMAGE (sample, the default: ext4 judged by e2fsck -fn;
#        debian12-btrfs: the Btrfs writer, judged by btrfs check --readonly; debian12-xfs: the
#        XFS writer, judged by xfs_repair -n (exit 0, nothing but its phase lines); win10: the Windows
#        plan with the test driver folder — hive, new folders and files — through the NTFS
#        writer, judged by ntfsfix -n).
#        The binary is built here with the test-hooks feature.
# Exit 0 when every run ended in one of the two states, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-50}
IMAGES=${GUESTFIX_TEST_IMAGES:-$(scripts/make-test-images.sh | tail -n 1)}
# The fault injection is compiled only with the test-hooks feature (never into the binary users
# run): this test always builds its own binary, with it.
cargo build --quiet --features test-hooks --bin guestfix
GUESTFIX_BIN=target/debug/guestfix
GF=$(realpath "$GUESTFIX_BIN")
RANDOM=${CRASH_SEED:-$$}
export SOURCE_DATE_EPOCH=1700000000
case ${CRASH_IMAGE:-sample} in
  sample) SRC=$IMAGES/sample.raw ROOT_OFF=1048576 ROOT_SIZE=0 ;; # p1 ext4 at 1 MiB (index.json)
  debian12-btrfs) SRC=$IMAGES/debian12-btrfs.raw ROOT_OFF=2097152 ROOT_SIZE=1875902464 FS=btrfs ;; # p2
  debian12-xfs) SRC=$IMAGES/debian12-xfs.raw ROOT_OFF=2097152 ROOT_SIZE=1875902464 FS=xfs ;; # p2
  win10) SRC=$IMAGES/win10.raw ROOT_OFF=1048576 ROOT_SIZE=166723584 FS=ntfs ;; # p1 NTFS C:
  *) echo "crash-test: CRASH_IMAGE=$CRASH_IMAGE: sample, debian12-btrfs, debian12-xfs or win10" >&2; exit 2 ;;
esac
# Windows: the plan with the crafted driver folder (new folders, files, hives).
APPLY_ARGS=()
[ "${FS:-}" != ntfs ] || APPLY_ARGS=(--drivers tests/data/windows-drivers)
# fsck_root IMAGE: the root filesystem's checker, clean (its report in $tmp/fsck.txt)
fsck_root() {
  local dev rc=0
  if [ -z "${FS:-}" ]; then
    e2fsck -fn "$1?offset=$ROOT_OFF" >"$tmp/fsck.txt" 2>&1
    return
  fi
  dev=$(losetup --find --show --read-only --offset "$ROOT_OFF" --sizelimit "$ROOT_SIZE" "$1")
  case $FS in
    ntfs)
      ntfsfix -n "$dev" >"$tmp/fsck.txt" 2>&1 || rc=1
      grep -qi 'error' "$tmp/fsck.txt" && rc=1 ;;
    btrfs)
      btrfs check --readonly "$dev" >"$tmp/fsck.txt" 2>&1 || rc=1
      grep -qiE 'warning|error\(s\) found|errors found|mismatch' "$tmp/fsck.txt" && rc=1 ;;
    xfs)
      # Clean means exit 0 and nothing but xfs_repair's phase progress lines.
      xfs_repair -n "$dev" >"$tmp/fsck.txt" 2>&1 || rc=1
      grep -vE '^(Phase [0-9] - |        - |No modify flag set|\s*$)' "$tmp/fsck.txt" | grep -q . && rc=1 ;;
  esac
  losetup -d "$dev"
  return $rc
}
tmp=$(mktemp -d /tmp/guestfix-crash.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sum() { sha256sum <"$1" | cut -d' ' -f1; }
fresh() { cp --sparse=always "$SRC" "$tmp/work.raw"; rm -f "$tmp/work.raw.guestfix-undo"; }

orig=$(sum "$SRC")
fresh
t0=$(date +%s%N)
"$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >"$tmp/ref.txt"
apply_ms=$((($(date +%s%N) - t0) / 1000000))
ref=$(sum "$tmp/work.raw")
[ ! -e "$tmp/work.raw.guestfix-undo" ] || { echo "crash-test: the reference apply left a journal" >&2; exit 1; }
[ "$ref" != "$orig" ] || { echo "crash-test: the reference apply changed nothing" >&2; exit 1; }
fsck_root "$tmp/work.raw" || { cat "$tmp/fsck.txt" >&2; echo "crash-test: reference not fsck-clean" >&2; exit 1; }
# Reproducible: a second complete apply gives the same bytes.
fresh
"$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >/dev/null
[ "$(sum "$tmp/work.raw")" = "$ref" ] || { echo "crash-test: two complete applies differ (not reproducible)" >&2; exit 1; }

# W: the smallest N for which GUESTFIX_CRASH_AFTER_WRITES=N does not abort.
lo=0 hi=1
until fresh && GUESTFIX_CRASH_AFTER_WRITES=$hi "$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >/dev/null 2>&1; do
  lo=$hi hi=$((hi * 2))
  [ $hi -le 1048576 ] || { echo "crash-test: apply never completes" >&2; exit 1; }
done
while [ $((hi - lo)) -gt 1 ]; do
  mid=$(((lo + hi) / 2))
  if fresh && GUESTFIX_CRASH_AFTER_WRITES=$mid "$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >/dev/null 2>&1; then hi=$mid; else lo=$mid; fi
done
W=$hi
fresh
if GUESTFIX_CRASH_AFTER_WRITES=$((W - 1)) "$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >/dev/null 2>&1; then
  echo "crash-test: bisection inconsistent (N=$((W - 1)) completed)" >&2; exit 1
fi
echo "crash-test: $(basename "$SRC"): an in-place apply makes $W block writes in ${apply_ms} ms; original $orig, applied $ref" >&2

kills=$(((RUNS + 4) / 5))
n_orig=0 n_applied=0 n_bad=0 n_rolled=0 n_completed=0 kill_completed=0
for run in $(seq 1 "$RUNS"); do
  fresh
  if [ "$run" -le $((RUNS - kills)) ]; then
    # N spread evenly over 0..W (N=W: the apply completes), interior points jittered by +-1.
    N=$(((run - 1) * W / (RUNS - kills - 1)))
    if [ $N -gt 0 ] && [ $N -lt "$W" ]; then N=$((N + RANDOM % 3 - 1)); fi
    how="GUESTFIX_CRASH_AFTER_WRITES=$N"
    # (a child shell, so that bash's "Aborted" notice does not clutter the output)
    rc=$(GUESTFIX_CRASH_AFTER_WRITES=$N bash -c '"$0" apply --in-place "${@:2}" "$1" >/dev/null 2>&1; echo $?' \
      "$GF" "$tmp/work.raw" "${APPLY_ARGS[@]}" 2>/dev/null)
  else
    # A real kill -9 at a random moment of the write phase: wait until the journal exists (the
    # writes start right after), then 0 .. W x 5 ms (the slowed write phase).
    delay_ms=$((RANDOM % (W * 5)))
    GUESTFIX_WRITE_DELAY_MS=5 "$GF" apply --in-place "${APPLY_ARGS[@]}" "$tmp/work.raw" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 5000); do
      [ -e "$tmp/work.raw.guestfix-undo" ] || ! kill -0 $pid 2>/dev/null && break
      sleep 0.002
    done
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    how="kill -9 ${delay_ms} ms after the journal appeared"
    kill -9 $pid 2>/dev/null || true
    rc=0; wait $pid 2>/dev/null || rc=$?
    [ $rc -eq 0 ] && kill_completed=$((kill_completed + 1))
  fi
  [ $rc -eq 0 ] && n_completed=$((n_completed + 1))
  rec=$("$GF" apply --recover "$tmp/work.raw" 2>&1) || { echo "crash-test: run $run ($how): --recover failed: $rec" >&2; n_bad=$((n_bad + 1)); continue; }
  case "$rec" in *"rolled back"*) n_rolled=$((n_rolled + 1)) ;; esac
  s=$(sum "$tmp/work.raw")
  state=BAD
  [ "$s" = "$orig" ] && state=original
  [ "$s" = "$ref" ] && state=applied
  fsck=ok
  fsck_root "$tmp/work.raw" || fsck=FAILED
  [ ! -e "$tmp/work.raw.guestfix-undo" ] || state="BAD (journal left after --recover)"
  echo "crash-test: run $run: $how, apply exit $rc -> $state, fsck $fsck" >&2
  if [ "$state" = original ] && [ $fsck = ok ]; then
    n_orig=$((n_orig + 1))
  elif [ "$state" = applied ] && [ $fsck = ok ]; then
    n_applied=$((n_applied + 1))
  else
    n_bad=$((n_bad + 1))
    cat "$tmp/fsck.txt" >&2
  fi
done
echo "crash-test: $RUNS runs ($((RUNS - kills)) with GUESTFIX_CRASH_AFTER_WRITES over 0..$W, $kills with kill -9):" \
  "$n_orig original, $n_applied fully applied, $n_bad BAD;" \
  "$n_completed applies completed before the kill, $n_rolled rolled back by --recover"
[ $n_bad -eq 0 ] || exit 1
# The kill -9 runs must mostly land inside the apply, not after it completed.
echo "crash-test: $kill_completed of $kills kill -9 runs came after the apply had completed" >&2
[ $((kill_completed * 2)) -le "$kills" ] || { echo "crash-test: the kill -9 runs missed the write phase" >&2; exit 1; }
