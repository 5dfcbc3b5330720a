#!/usr/bin/env bash
# The benchmarks behind the issues' "Done when" figures (#3–#9), in one run. Prints Markdown
# tables (with the exact commands) on stdout; progress on stderr. Not run by the tests.
#   scripts/bench.sh [IMAGES_DIR] > bench-output.md
# IMAGES_DIR defaults to $GUESTFIX_TEST_IMAGES, else the output of scripts/make-test-images.sh.
# Needs: /usr/bin/time (package time), strace, python3, qemu-img; hyperfine if installed (else a
# shell loop); virt-inspector (guestfs-tools) for the comparison columns (left empty without it).
# Environment: BENCH_RUNS (guestfix runs per median, default 5), BENCH_SKIP_VI=1 (no
# virt-inspector), BENCH_SECTIONS (a subset of "inspect checkplan fstab block hive").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RUNS="${BENCH_RUNS:-5}"
SECTIONS=" ${BENCH_SECTIONS:-inspect checkplan fstab block hive} "
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: /usr/bin/time is needed (Debian package: time)" >&2; exit 2; }
for tool in python3 strace qemu-img; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is needed" >&2; exit 2; }
done

IMAGES_DIR="${1:-${GUESTFIX_TEST_IMAGES:-}}"
if [ -z "$IMAGES_DIR" ]; then
  IMAGES_DIR=$(scripts/make-test-images.sh | tail -n 1)
fi
[ -d "$IMAGES_DIR" ] || { echo "bench: no such folder: $IMAGES_DIR" >&2; exit 2; }
I="$IMAGES_DIR"

echo "bench: cargo build --release" >&2
cargo build -q --release --bin guestfix
GF="$CARGO_TARGET_DIR/release/guestfix"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

HAVE_VI=0
if [ -z "${BENCH_SKIP_VI:-}" ] && command -v virt-inspector >/dev/null 2>&1; then
  # shellcheck source=scripts/libguestfs-env.sh
  if source scripts/libguestfs-env.sh; then HAVE_VI=1; fi
fi
HAVE_HF=0
command -v hyperfine >/dev/null 2>&1 && HAVE_HF=1

# median_ms CMD...: median wall time in ms of $RUNS runs (1 warm-up), plus the median
# user+system CPU ms. Non-zero exit codes are accepted (check exits 1 on findings).
# Sets MED_MS and CPU_MS.
median_ms() {
  if [ $HAVE_HF = 1 ]; then
    hyperfine -N -i --warmup 1 --runs "$RUNS" --export-json "$WORK/hf.json" "$(printf '%q ' "$@")" \
      >/dev/null 2>&1
    read -r MED_MS CPU_MS < <(python3 -c '
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
cpu = [u + s for u, s in zip(r["user"], r["system"])] if "user" in r and isinstance(r["user"], list) else [r["user"] + r["system"]]
m = r["median"] * 1000
c = statistics.median(cpu) * 1000
print(f"{m:.1f} {c:.1f}")' "$WORK/hf.json")
  else
    "$@" >/dev/null 2>&1 || true
    : > "$WORK/loop.txt"
    for _ in $(seq "$RUNS"); do
      "$TIME" -f '%e %U %S' -a -o "$WORK/loop.txt" "$@" >/dev/null 2>&1 || true
    done
    read -r MED_MS CPU_MS < <(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and l.split()[0][0].isdigit()]
print(f"{statistics.median(float(r[0]) for r in rows)*1000:.1f} {statistics.median(float(r[1])+float(r[2]) for r in rows)*1000:.1f}")' "$WORK/loop.txt")
  fi
}

# peak_rss_mib CMD...: one run under /usr/bin/time; sets RSS_MIB and WALL_S.
peak_rss() {
  "$TIME" -f '%M %e' -o "$WORK/rss.txt" "$@" >"$WORK/out" 2>"$WORK/err" || true
  read -r kb WALL_S < <(tail -n 1 "$WORK/rss.txt")
  RSS_MIB=$(awk -v k="$kb" 'BEGIN{printf "%.1f", k/1024}')
}

# bytes_read JSON: the inspect JSON's bytes_read and the first image's virtual size.
json_bytes() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d.get("bytes_read", 0), d["images"][0]["virtual_size"])' "$1"
}

# strace_bytes IMAGE CMD...: bytes the process read from IMAGE (sum of the pread64/read/preadv
# results on the file descriptors that opened IMAGE), and the number of such calls.
strace_bytes() {
  local img="$1"; shift
  strace -f -qq -e trace=openat,open,pread64,read,preadv,preadv2,close -o "$WORK/strace.txt" "$@" \
    >/dev/null 2>&1 || true
  python3 - "$img" "$WORK/strace.txt" <<'PY'
import os, re, sys
img = os.path.realpath(sys.argv[1])
fds = set()
total = calls = 0
op = re.compile(r'^(?:\d+\s+)?(openat|open)\((?:AT_FDCWD, )?"([^"]*)".*= (\d+)')
rd = re.compile(r'^(?:\d+\s+)?(pread64|read|preadv|preadv2)\((\d+),.*= (\d+)')
cl = re.compile(r'^(?:\d+\s+)?close\((\d+)\)')
for line in open(sys.argv[2], errors="replace"):
    m = op.match(line)
    if m:
        if os.path.realpath(m.group(2)) == img:
            fds.add(int(m.group(3)))
        else:
            fds.discard(int(m.group(3)))
        continue
    m = rd.match(line)
    if m and int(m.group(2)) in fds:
        total += int(m.group(3)); calls += 1
        continue
    m = cl.match(line)
    if m:
        fds.discard(int(m.group(1)))
print(total, calls)
PY
}

fmt_bytes() {
  awk -v b="$1" 'BEGIN{ if (b >= 1048576) printf "%.2f MiB", b/1048576; else printf "%.1f KiB", b/1024 }'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ printf "%.3f %%", (b > 0) ? 100*a/b : 0 }'; }

NOW=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "# guestfix benchmark run, $NOW"
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM,"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); libguestfs with TCG (no KVM)."
echo "guestfix: \`$GF\` ($(git -C "$ROOT" rev-parse --short HEAD)); $RUNS runs per median"
echo "CPU ms = user+system CPU time (hyperfine: mean over the runs; loop: median), useful on this shared, loaded machine."
echo "($([ $HAVE_HF = 1 ] && hyperfine --version || echo 'shell loop, no hyperfine')); images: \`$I\`."
echo

# ---------------------------------------------------------------------------------------------
if [[ $SECTIONS == *" inspect "* ]]; then
echo "## inspect: guestfix vs virt-inspector"
echo
echo "Commands: \`guestfix inspect --json IMG\`, \`guestfix inspect --json --quick IMG\` (median of"
echo "$RUNS, hyperfine -N --warmup 1), \`virt-inspector -a IMG\` (one run, LIBGUESTFS_BACKEND=direct,"
echo "force_tcg). Bytes read = \`bytes_read\` of the JSON / virtual size. Peak RSS = \`/usr/bin/time -f %M\`"
echo "(for virt-inspector: the largest of the process and its waited-for children, i.e. qemu)."
echo
echo "| image | virtual size | guestfix full ms (CPU ms) | --quick ms (CPU ms) | virt-inspector s | speed-up full / quick | bytes read full | bytes read quick | RSS full / quick / virt-inspector MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for f in debian12-bios.raw debian12-bios.qcow2 debian12-bios.stream.vmdk debian12-bios.vhdx \
         debian12-xfs.raw debian12-btrfs.raw win2019.raw win11.raw win2012r2.raw \
         win2022-bios.raw win2022-uefi.raw win10.raw; do
  img="$I/$f"
  [ -f "$img" ] || { echo "| $f | missing | | | | | | | |"; continue; }
  echo "bench: inspect $f" >&2
  median_ms "$GF" inspect --json "$img"; full_ms=$MED_MS; full_cpu=$CPU_MS
  median_ms "$GF" inspect --json --quick "$img"; quick_ms=$MED_MS; quick_cpu=$CPU_MS
  peak_rss "$GF" inspect --json "$img"; full_rss=$RSS_MIB
  read -r full_b vsize < <(json_bytes "$WORK/out")
  peak_rss "$GF" inspect --json --quick "$img"; quick_rss=$RSS_MIB
  read -r quick_b _ < <(json_bytes "$WORK/out")
  vi_s="-"; vi_rss="-"; sp="-"
  if [ $HAVE_VI = 1 ]; then
    echo "bench: virt-inspector -a $f" >&2
    peak_rss virt-inspector -a "$img"
    if grep -q '<operatingsystem>' "$WORK/out"; then
      vi_s=$WALL_S; vi_rss=$RSS_MIB
    else
      vi_s="failed ($WALL_S s: $(tail -n 1 "$WORK/err" | cut -c1-60))"; vi_rss=$RSS_MIB
    fi
    if [[ $WALL_S =~ ^[0-9.]+$ ]]; then
      sp=$(awk -v v="$WALL_S" -v f="$full_ms" -v q="$quick_ms" 'BEGIN{printf "%.0f× / %.0f×", v*1000/f, v*1000/q}')
    fi
  fi
  echo "| $f | $(fmt_bytes "$vsize") | $full_ms ($full_cpu) | $quick_ms ($quick_cpu) | $vi_s | $sp | $(fmt_bytes "$full_b") ($(pct "$full_b" "$vsize")) | $(fmt_bytes "$quick_b") ($(pct "$quick_b" "$vsize")) | $full_rss / $quick_rss / $vi_rss |"
done
echo

fi

# ---------------------------------------------------------------------------------------------
if [[ $SECTIONS == *" checkplan "* ]]; then
echo "## check and plan (goal ≤ 50 ms each)"
echo
echo "Commands: \`guestfix check IMG\` and \`guestfix plan IMG\` (default target ec2; exit code 1 on"
echo "findings is expected), median of $RUNS (hyperfine -N -i --warmup 1)."
echo
echo "\`--quick\` skips decompressing the initramfs (check: LNX-3/LNX-8 initramfs checks reported as"
echo "not examined; plan: the same changes, without the note of drivers missing from the initramfs)."
echo
echo "| image | check ms (CPU ms) | check exit | plan ms (CPU ms) | plan exit | check --quick ms (CPU ms) | plan --quick ms (CPU ms) | goal met (full / --quick) |"
echo "|---|---|---|---|---|---|---|---|"
for f in debian12-bios.raw debian12-uefi.raw debian12-xfs.raw debian12-btrfs.raw; do
  img="$I/$f"
  [ -f "$img" ] || continue
  echo "bench: check/plan $f" >&2
  median_ms "$GF" check "$img"; c_ms=$MED_MS; c_cpu=$CPU_MS
  c_rc=0; "$GF" check "$img" >/dev/null 2>&1 || c_rc=$?
  median_ms "$GF" plan "$img"; p_ms=$MED_MS; p_cpu=$CPU_MS
  p_rc=0; "$GF" plan "$img" >/dev/null 2>&1 || p_rc=$?
  median_ms "$GF" check --quick "$img"; cq_ms=$MED_MS; cq_cpu=$CPU_MS
  median_ms "$GF" plan --quick "$img"; pq_ms=$MED_MS; pq_cpu=$CPU_MS
  met=$(awk -v c="$c_ms" -v p="$p_ms" 'BEGIN{ print (c <= 50 && p <= 50) ? "yes" : "NO" }')
  metq=$(awk -v c="$cq_ms" -v p="$pq_ms" 'BEGIN{ print (c <= 50 && p <= 50) ? "yes" : "NO" }')
  echo "| $f | $c_ms ($c_cpu) | $c_rc | $p_ms ($p_cpu) | $p_rc | $cq_ms ($cq_cpu) | $pq_ms ($pq_cpu) | $met / $metq |"
done
echo

fi

# ---------------------------------------------------------------------------------------------
if [[ $SECTIONS == *" fstab "* ]]; then
echo "## resolving /etc/fstab (goal < 1 MiB read on the 2 GiB image)"
echo
echo "Command: \`guestfix cat IMG -p /etc/fstab\`; time = median of $RUNS (hyperfine -N); bytes read ="
echo "sum of the results of every read/pread64/preadv call on the image's file descriptors, from"
echo "\`strace -f -e trace=openat,pread64,read,preadv,close\` (\`cat\` has no read counter of its own)."
echo
echo "| image | root fs | ms (CPU ms) | bytes read | read calls | share of image | goal met |"
echo "|---|---|---|---|---|---|---|"
for pair in debian12-bios.raw:ext4 debian12-xfs.raw:xfs debian12-btrfs.raw:btrfs; do
  f=${pair%%:*}; fs=${pair##*:}
  img="$I/$f"
  [ -f "$img" ] || continue
  echo "bench: cat /etc/fstab $f" >&2
  median_ms "$GF" cat "$img" -p /etc/fstab; ms=$MED_MS; cpu=$CPU_MS
  read -r b calls < <(strace_bytes "$img" "$GF" cat "$img" -p /etc/fstab)
  size=$(stat -c %s "$img")
  met=$(awk -v b="$b" 'BEGIN{ print (b < 1048576) ? "yes" : "NO" }')
  echo "| $f | $fs | $ms ($cpu) | $(fmt_bytes "$b") | $calls | $(pct "$b" "$size") | $met |"
done
echo

fi

# ---------------------------------------------------------------------------------------------
if [[ $SECTIONS == *" block "* ]]; then
  echo "## block layer: sequential read throughput vs qemu-img (scripts/bench-block.sh)"
  echo
  blk=()
  blk_failed=()
  for f in debian12-bios.raw debian12-bios.qcow2 debian12-bios.compressed.qcow2 \
           debian12-bios.fixed.vhd debian12-bios.dynamic.vhd debian12-bios.sparse.vmdk \
           debian12-bios.stream.vmdk debian12-bios.vhdx; do
    [ -f "$I/$f" ] && blk+=("$I/$f")
  done
  echo "Command: \`scripts/bench-block.sh $(printf '%s ' "${blk[@]##*/}")\` (in \`$I\`). Targets:"
  echo "throughput ratio guestfix/qemu ≥ 1.0, first MiB < 5 ms, RSS < 64 MiB."
  echo
  # One call per image, so that an image bench-block.sh fails on does not hide the others.
  first=1
  for img in "${blk[@]}"; do
    echo "bench: scripts/bench-block.sh ${img##*/}" >&2
    if scripts/bench-block.sh "$img" > "$WORK/blk.txt" 2> "$WORK/blk.err"; then
      if [ $first = 1 ]; then head -n 2 "$WORK/blk.txt"; first=0; fi
      tail -n +3 "$WORK/blk.txt"
    else
      blk_failed+=("${img##*/}: $(grep -v '^building' "$WORK/blk.err" | tail -n 1)")
    fi
  done
  echo
  for f in "${blk_failed[@]}"; do echo "- bench-block.sh FAILED on $f"; done
  echo
  # qemu-img with the format qemu-img info reports for the image itself (its top-level
  # "format"), decoding the whole disk to the null driver, as the reference throughput.
  echo "qemu-img reading each image in its own format: \`qemu-img convert -f FMT -n IMG --target-image-opts driver=null-co,size=VSIZE\`"
  echo "(FMT = the top-level \"format\" of \`qemu-img info --output=json\`), one run, /usr/bin/time:"
  echo
  echo "| image | qemu format | qemu-img s | qemu-img MB/s | qemu RSS MiB |"
  echo "|---|---|---|---|---|"
  for img in "${blk[@]}"; do
    read -r qfmt vsize < <(qemu-img info --output=json "$img" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["format"], d["virtual-size"])')
    echo "bench: qemu-img convert -f $qfmt ${img##*/}" >&2
    "$TIME" -f '%e %M' -o "$WORK/q.txt" qemu-img convert -f "$qfmt" -n "$img" \
      --target-image-opts "driver=null-co,size=$vsize" >/dev/null 2>"$WORK/q.err" || true
    read -r qs qkb < <(tail -n 1 "$WORK/q.txt")
    awk -v i="${img##*/}" -v f="$qfmt" -v s="$qs" -v v="$vsize" -v k="$qkb" 'BEGIN{
      printf "| %s | %s | %.2f | %.0f | %.1f |\n", i, f, s, (s > 0) ? v / 1048576 / s : 0, k / 1024 }'
  done
  echo
fi

# ---------------------------------------------------------------------------------------------
if [[ $SECTIONS == *" hive "* ]]; then
  echo "## registry hive: open SYSTEM_B with its logs, read CurrentControlSet\\Services"
  echo
  echo "Command: \`cargo test --release --test hive_facts timing_system_b_replay_and_services -- --nocapture\`"
  echo
  echo "bench: hive timing" >&2
  if cargo test -q --release --test hive_facts timing_system_b_replay_and_services -- --nocapture \
      > "$WORK/hive.txt" 2>&1; then
    echo '```'
    grep 'SYSTEM_B' "$WORK/hive.txt" || echo "(no timing line printed)"
    echo '```'
  else
    echo "(the hive timing test failed:)"
    echo '```'
    tail -n 20 "$WORK/hive.txt"
    echo '```'
  fi
  echo
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
