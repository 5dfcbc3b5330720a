#!/usr/bin/env bash
# Block-layer benchmark: for each IMAGE, guestfix's full read throughput (a tiny program reading
# the whole disk through guestfix::block the way `qemu-img convert` does: allocation status,
# several reads in flight, zero test per 64 KiB; the same program reading every byte on one
# thread; and `guestfix convert --format raw` to /dev/null) against `qemu-img convert` of the
# image in its own format (the one guestfix detects; an OVA's disk through qemu's raw driver
# with the tar member's offset) to qemu's null driver, so neither side pays for writing; the
# time to open the image and read its first MiB; and peak RSS (/usr/bin/time). Medians of
# BENCH_RUNS (default 3) runs. Prints a Markdown table.
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
# The same dependency versions as the crate (and its already built artifacts).
cp "$ROOT/Cargo.lock" "$WORK/Cargo.lock"
cat > "$WORK/src/main.rs" <<'RS'
use guestfix::block::{self, BlockDev, OpenOptions, alloc, writer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = (args[1].as_str(), std::path::Path::new(&args[2]));
    let t0 = Instant::now();
    if mode == "qemu-opts" {
        // How qemu-img should open this image: the format guestfix detects by content (a fixed
        // VHD has no header, so qemu's probe would say raw); an OVA's first disk is read in
        // place through qemu's raw driver with the member's offset and size.
        let info = block::info(path, &OpenOptions::default()).expect("info");
        let p = path.canonicalize().expect("path").display().to_string();
        match info.disks.first() {
            Some(d) => println!(
                "driver={},file.driver=raw,file.offset={},file.size={},file.file.filename={p}",
                writer::qemu_format_name(&d.format).expect("qemu format"),
                d.offset,
                d.file_size
            ),
            None => println!(
                "driver={},file.filename={p}",
                writer::qemu_format_name(&info.format).expect("qemu format")
            ),
        }
        return;
    }
    let dev = block::open(path, &OpenOptions::default()).expect("open");
    match mode {
        "first-mib" => {
            let mut buf = vec![0u8; 1 << 20];
            let n = dev.len().min(1 << 20) as usize;
            dev.read_at(0, &mut buf[..n]).expect("read");
            println!("{:.3}", t0.elapsed().as_secs_f64() * 1000.0);
        }
        // Every byte, one thread, 4 MiB reads, no allocation status: the plain reference.
        "read-seq" => {
            let mut buf = vec![0u8; 4 << 20];
            let mut off = 0u64;
            let mut nonzero = 0u64;
            while off < dev.len() {
                let n = ((dev.len() - off) as usize).min(buf.len());
                dev.read_at(off, &mut buf[..n]).expect("read");
                for blk in buf[..n].chunks(writer::COPY_BLOCK) {
                    if !writer::is_zero(blk) {
                        nonzero += blk.len() as u64;
                    }
                }
                off += n as u64;
            }
            println!("{} {:.3} {}", dev.len(), t0.elapsed().as_secs_f64(), nonzero);
        }
        // The work of `qemu-img convert` to a null target: ask the allocation status, read the
        // data ranges with several reads in flight, test each 64 KiB block for zeros.
        _ => {
            let nonzero = AtomicU64::new(0);
            alloc::for_each_data(
                &*dev,
                alloc::default_threads(),
                writer::COPY_BLOCK as u64,
                &|_, data| {
                    for blk in data.chunks(writer::COPY_BLOCK) {
                        if !writer::is_zero(blk) {
                            nonzero.fetch_add(blk.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                },
                &mut |_, _| Ok(()),
                &mut |_| {},
            )
            .expect("read");
            println!("{} {:.3} {}", dev.len(), t0.elapsed().as_secs_f64(), nonzero.into_inner());
        }
    }
}
RS
echo "building (release)…" >&2
cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin guestfix
cargo build -q --release --manifest-path "$WORK/Cargo.toml"
READER="$CARGO_TARGET_DIR/release/bench-block-reader"
GF="$CARGO_TARGET_DIR/release/guestfix"

# Run a command under /usr/bin/time; sets SECS (wall, from bash's clock), CPU (user+system
# seconds) and RSS_KB.
timed() {
  local log="$WORK/time.log" t0 t1
  t0=$EPOCHREALTIME
  "$TIME" -f "%M %U %S" -o "$log" "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }
  t1=$EPOCHREALTIME
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.4f", b - a }')
  read -r RSS_KB u s < <(tail -1 "$log")
  CPU=$(awk -v u="$u" -v s="$s" 'BEGIN{ printf "%.2f", u + s }')
}

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
# largest of the numbers given as arguments
largest() { printf '%s\n' "$@" | sort -g | tail -1; }

RUNS="${BENCH_RUNS:-3}"
echo "| image | qemu-img source | virtual size | non-zero MiB | guestfix read MB/s | guestfix 1-thread plain read MB/s | guestfix convert MB/s | qemu-img MB/s | ratio (read/qemu) | ratio (convert/qemu) | CPU s read / qemu-img | first MiB ms | guestfix RSS MiB | qemu RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for img in "$@"; do
  # Warm the page cache so that no contender pays for the first cold read.
  cat "$img" > /dev/null
  opts=$("$READER" qemu-opts "$img")
  qsrc=${opts%%,file.file*}; qsrc=${qsrc%%,file.filename*}
  G=(); S=(); C=(); Q=(); GR=(); QR=(); GC=(); QC=()
  for _ in $(seq "$RUNS"); do
    timed "$READER" read-all "$img"
    read -r size _ nonzero < "$WORK/out"
    G+=("$SECS"); GR+=("$RSS_KB"); GC+=("$CPU")
    timed "$READER" read-seq "$img"
    read -r _ _ nonzero_seq < "$WORK/out"
    [ "$nonzero" = "$nonzero_seq" ] || { echo "bench-block: $img: read-all saw $nonzero non-zero bytes, read-seq $nonzero_seq" >&2; exit 1; }
    S+=("$SECS"); GR+=("$RSS_KB")
    # convert takes one disk: an OVA with several disks has no convert figure.
    if timed "$GF" convert "$img" /dev/null --format raw 2>/dev/null; then
      C+=("$SECS"); GR+=("$RSS_KB")
    else
      C+=(0)
    fi
    timed qemu-img convert --image-opts -n --target-image-opts "$opts" "driver=null-co,size=$size"
    Q+=("$SECS"); QR+=("$RSS_KB"); QC+=("$CPU")
  done
  # First MiB: best of 5 runs (page cache warm), open included.
  best=""
  for _ in 1 2 3 4 5; do
    ms=$("$READER" first-mib "$img")
    best=$(awk -v a="$best" -v b="$ms" 'BEGIN{ if (a=="" || b<a) print b; else print a }')
  done
  awk -v img="$(basename "$img")" -v qsrc="$qsrc" -v size="$size" -v nz="$nonzero" \
      -v g="$(median "${G[@]}")" -v s="$(median "${S[@]}")" -v c="$(median "${C[@]}")" -v q="$(median "${Q[@]}")" \
      -v gc="$(median "${GC[@]}")" -v qc="$(median "${QC[@]}")" \
      -v ms="$best" -v grss="$(largest "${GR[@]}")" -v qrss="$(largest "${QR[@]}")" 'BEGIN{
    mb = size / 1048576; gt = (g > 0) ? mb / g : 0; st = (s > 0) ? mb / s : 0; ct = (c > 0) ? mb / c : 0; qt = (q > 0) ? mb / q : 0;
    cs = (ct > 0) ? sprintf("%.0f", ct) : "—"; cr = (ct > 0 && qt > 0) ? sprintf("%.2f", ct / qt) : "—";
    printf "| %s | %s | %.0f MiB | %.0f | %.0f | %.0f | %s | %.0f | %.2f | %s | %.2f / %.2f | %.2f | %.1f | %.1f |\n",
      img, qsrc, mb, nz / 1048576, gt, st, cs, qt, (qt > 0) ? gt / qt : 0, cr, gc, qc, ms, grss / 1024, qrss / 1024 }'
done
