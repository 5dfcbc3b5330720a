#!/usr/bin/env bash
# Block-layer benchmark: for each IMAGE, guestfix's full sequential read throughput (a tiny
# program reading the whole disk through guestfix::block, and `guestfix convert --format raw`
# to /dev/null) against `qemu-img convert -O raw` (to qemu's null driver, so neither side pays
# for writing; -O raw output to a null target), the time to open the image and read its first MiB, and peak RSS
# (/usr/bin/time -v). Prints a Markdown table.
#   scripts/bench-block.sh IMAGE...
# Targets: throughput ratio guestfix/qemu >= 1.0, first MiB < 5 ms, RSS < 64 MiB.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 IMAGE..." >&2; exit 2; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench-block: /usr/bin/time is needed (Debian package: time)" >&2; exit 2; }

# The tiny reader, built against this checkout with the crate's release profile.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src"
cat > "$WORK/Cargo.toml" <<TOML
[package]
name = "bench-block-reader"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
guestfix = { path = "$ROOT" }
[profile.release]
debug = 1
[workspace]
TOML
cat > "$WORK/src/main.rs" <<'RS'
use guestfix::block::{self, OpenOptions};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = (args[1].as_str(), std::path::Path::new(&args[2]));
    let t0 = Instant::now();
    let dev = block::open(path, &OpenOptions::default()).expect("open");
    let mut buf = vec![0u8; 4 << 20];
    match mode {
        "first-mib" => {
            let n = dev.len().min(1 << 20) as usize;
            dev.read_at(0, &mut buf[..n]).expect("read");
            println!("{:.3}", t0.elapsed().as_secs_f64() * 1000.0);
        }
        _ => {
            let mut off = 0u64;
            let mut sum = 0u64;
            while off < dev.len() {
                let n = ((dev.len() - off) as usize).min(buf.len());
                dev.read_at(off, &mut buf[..n]).expect("read");
                sum = sum.wrapping_add(buf[n / 2] as u64);
                off += n as u64;
            }
            println!("{} {:.3} {}", dev.len(), t0.elapsed().as_secs_f64(), sum);
        }
    }
}
RS
echo "building (release)…" >&2
cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin guestfix
cargo build -q --release --manifest-path "$WORK/Cargo.toml"
READER="$CARGO_TARGET_DIR/release/bench-block-reader"
GF="$CARGO_TARGET_DIR/release/guestfix"

# Run a command under /usr/bin/time -v; sets SECS and RSS_KB.
timed() {
  local log="$WORK/time.log"
  "$TIME" -v "$@" >"$WORK/out" 2>"$log"
  SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
}

echo "| image | format | virtual size | guestfix read MB/s | guestfix convert MB/s | qemu-img MB/s | ratio (read/qemu) | first MiB ms | guestfix RSS MiB | qemu RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for img in "$@"; do
  # Warm the page cache so that no contender pays for the first cold read.
  cat "$img" > /dev/null
  fmt=$(qemu-img info --output=json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')
  timed "$READER" read-all "$img"
  read -r size gsecs _ < "$WORK/out"
  grss=$RSS_KB
  timed "$GF" convert "$img" /dev/null --format raw
  csecs=$SECS
  timed qemu-img convert -f "$fmt" -n "$img" --target-image-opts "driver=null-co,size=$size"
  qsecs=$SECS; qrss=$RSS_KB
  # First MiB: best of 5 runs (page cache warm).
  best=""
  for _ in 1 2 3 4 5; do
    ms=$("$READER" first-mib "$img")
    best=$(awk -v a="$best" -v b="$ms" 'BEGIN{ if (a=="" || b<a) print b; else print a }')
  done
  awk -v img="$(basename "$img")" -v fmt="$fmt" -v size="$size" -v g="$gsecs" -v c="$csecs" -v q="$qsecs" \
      -v ms="$best" -v grss="$grss" -v qrss="$qrss" 'BEGIN{
    mb = size / 1048576; gt = (g > 0) ? mb / g : 0; ct = (c > 0) ? mb / c : 0; qt = (q > 0) ? mb / q : 0;
    printf "| %s | %s | %.0f MiB | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f |\n",
      img, fmt, mb, gt, ct, qt, (qt > 0) ? gt / qt : 0, ms, grss / 1024, qrss / 1024 }'
done
