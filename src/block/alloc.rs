//! Allocation status of a virtual disk ([`Extent`]s: data, zero, unallocated) and the parallel
//! reader that uses it to skip ranges that read as zeros — what `qemu-img convert` does with
//! block status (SEEK_DATA/SEEK_HOLE on raw files, L2 tables, BATs, grain tables) and its
//! several requests in flight.

use super::{BlockDev, BlockError};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a range of a virtual disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtentKind {
    /// Stored bytes (which may still happen to be zeros).
    Data,
    /// Marked as zeros by the image (qcow2 zero flag, VMDK zero grain or ZERO extent, VHDX
    /// PAYLOAD_BLOCK_ZERO); reads as zeros without touching the file.
    Zero,
    /// Nothing stored in this image and nothing beneath it (file hole, unallocated cluster or
    /// block without a backing file); reads as zeros.
    Unallocated,
}

impl ExtentKind {
    /// Whether the range reads as zeros without reading the image.
    pub fn reads_as_zero(self) -> bool {
        self != ExtentKind::Data
    }
}

/// A range `[offset, offset+len)` of a virtual disk and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Extent {
    /// First byte of the range.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What the range holds.
    pub kind: ExtentKind,
}

impl Extent {
    /// The byte after the range.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// Largest range one [`BlockDev::extents`] call should be asked about: the answer of a format
/// with small clusters stays bounded (256 MiB of 512-byte qcow2 clusters = 512 Ki extents).
pub const EXTENT_WINDOW: u64 = 256 << 20;

/// Append `[offset, offset+len)` of `kind` to `v`, merging it with the last extent when both
/// are adjacent and of the same kind. Empty ranges are dropped.
pub fn push(v: &mut Vec<Extent>, offset: u64, len: u64, kind: ExtentKind) {
    if len == 0 {
        return;
    }
    if let Some(last) = v.last_mut() {
        if last.kind == kind && last.end() == offset {
            last.len += len;
            return;
        }
    }
    v.push(Extent { offset, len, kind });
}

/// Append the extents of `inner` (in `inner`'s offsets) to `v`, moved by `shift` bytes forward
/// (`base + (e.offset - inner_start)`), merging as [`push`] does.
pub fn push_shifted(v: &mut Vec<Extent>, inner: &[Extent], inner_start: u64, base: u64) {
    for e in inner {
        push(
            v,
            base + e.offset.saturating_sub(inner_start),
            e.len,
            e.kind,
        );
    }
}

/// Extents of `[offset, offset+len)` of a device with one allocation unit of `unit` bytes
/// (cluster, grain, block): `kind_of(unit_index)` names the kind of each unit.
pub fn by_unit(
    offset: u64,
    len: u64,
    unit: u64,
    mut kind_of: impl FnMut(u64) -> Result<ExtentKind, BlockError>,
) -> Result<Vec<Extent>, BlockError> {
    let mut v = Vec::new();
    let end = offset.saturating_add(len);
    let mut off = offset;
    let unit = unit.max(1);
    while off < end {
        let idx = off / unit;
        let n = (unit - off % unit).min(end - off);
        push(&mut v, off, n, kind_of(idx)?);
        off += n;
    }
    Ok(v)
}

/// Check that `[offset, offset+len)` lies inside a device of `dev_len` bytes (`describe` names
/// it in the error, built only on failure).
pub fn check(
    dev_len: u64,
    offset: u64,
    len: u64,
    describe: &dyn Fn() -> String,
) -> Result<(), BlockError> {
    match offset.checked_add(len) {
        Some(end) if end <= dev_len => Ok(()),
        _ => Err(BlockError::OutOfRange {
            dev: describe(),
            offset,
            len,
            size: dev_len,
        }),
    }
}

/// The default answer: the whole range is data.
pub fn all_data(offset: u64, len: u64) -> Vec<Extent> {
    let mut v = Vec::new();
    push(&mut v, offset, len, ExtentKind::Data);
    v
}

/// What [`for_each_data`] calls with each piece of data read: `(offset, bytes)`.
pub type DataFn<'a> = dyn Fn(u64, &[u8]) -> Result<(), BlockError> + Sync + 'a;

/// `(offset, length)` ranges of a device.
type Ranges = Vec<(u64, u64)>;

/// Whether `[offset, offset+len)` of `dev` reads as zeros by its allocation status alone
/// (no data extent in it), so a writer can skip it without reading.
pub fn reads_as_zero(dev: &dyn BlockDev, offset: u64, len: u64) -> Result<bool, BlockError> {
    Ok(dev
        .extents(offset, len)?
        .iter()
        .all(|e| e.kind.reads_as_zero()))
}

/// Size of the pieces [`for_each_data`] hands to its workers.
pub const PIECE: u64 = 2 << 20;

/// Number of worker threads [`for_each_data`] uses by default: the host's cores, at most 4.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Read every range of `dev` that may hold data (the [`ExtentKind::Data`] extents, widened to
/// `align`-byte boundaries so that callers see whole blocks) in pieces of at most [`PIECE`]
/// bytes on `threads` threads, calling `data(offset, bytes)` for each piece (from a worker
/// thread, pieces of one window in any order) and `zero(offset, len)` for each range that reads
/// as zeros and was not read. `progress(done)` is called on the calling thread after each
/// [`EXTENT_WINDOW`] with the number of bytes covered so far. Stops at the first error.
pub fn for_each_data(
    dev: &dyn BlockDev,
    threads: usize,
    align: u64,
    data: &DataFn,
    zero: &mut dyn FnMut(u64, u64) -> Result<(), BlockError>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), BlockError> {
    let size = dev.len();
    let align = align.clamp(1, PIECE);
    let threads = threads.max(1);
    let mut off = 0u64;
    while off < size {
        let wlen = (size - off).min(EXTENT_WINDOW);
        let ext = dev.extents(off, wlen)?;
        let (pieces, zeros) = plan_window(&ext, off, off + wlen, align);
        for (o, l) in zeros {
            zero(o, l)?;
        }
        run_pieces(dev, &pieces, threads, data)?;
        off += wlen;
        progress(off);
    }
    Ok(())
}

/// Split one window's extents into data pieces (aligned, at most [`PIECE`] bytes) and the
/// zero ranges between them.
fn plan_window(ext: &[Extent], start: u64, end: u64, align: u64) -> (Ranges, Ranges) {
    // Data ranges widened to `align`, merged.
    let mut data: Vec<(u64, u64)> = Vec::new();
    for e in ext.iter().filter(|e| e.kind == ExtentKind::Data) {
        let s = (e.offset / align * align).max(start);
        let t = e.end().div_ceil(align).saturating_mul(align).min(end);
        match data.last_mut() {
            Some((_, le)) if *le >= s => *le = (*le).max(t),
            _ => data.push((s, t)),
        }
    }
    let mut pieces = Vec::new();
    let mut zeros = Vec::new();
    let mut at = start;
    for (s, t) in data {
        if s > at {
            zeros.push((at, s - at));
        }
        let mut p = s;
        while p < t {
            // Piece ends on a PIECE boundary so that two workers rarely share a cluster.
            let n = (PIECE - p % PIECE).min(t - p);
            pieces.push((p, n));
            p += n;
        }
        at = t;
    }
    if end > at {
        zeros.push((at, end - at));
    }
    (pieces, zeros)
}

fn run_pieces(
    dev: &dyn BlockDev,
    pieces: &[(u64, u64)],
    threads: usize,
    data: &DataFn,
) -> Result<(), BlockError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err: Mutex<Option<BlockError>> = Mutex::new(None);
    let work = || {
        let mut buf = vec![0u8; PIECE as usize];
        while !stop.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(o, l)) = pieces.get(i) else {
                break;
            };
            let dst = buf.get_mut(..l as usize).unwrap_or(&mut []);
            let r = dev.read_at(o, dst).and_then(|()| data(o, dst));
            if let Err(e) = r {
                stop.store(true, Ordering::Relaxed);
                if let Ok(mut g) = first_err.lock() {
                    g.get_or_insert(e);
                }
                break;
            }
        }
    };
    let n = threads.min(pieces.len());
    if n <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..n {
                s.spawn(work);
            }
            work();
        });
    }
    match first_err.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::raw::MemDisk;

    /// A disk whose second MiB reads as zero without being read.
    struct Holey(MemDisk);
    impl BlockDev for Holey {
        fn len(&self) -> u64 {
            self.0.len()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
            if offset < 2 << 20 && offset + buf.len() as u64 > 1 << 20 {
                return Err(BlockError::corrupt("holey", "read of the zero range"));
            }
            self.0.read_at(offset, buf)
        }
        fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
            by_unit(offset, len, 1 << 20, |i| {
                Ok(if i == 1 {
                    ExtentKind::Zero
                } else {
                    ExtentKind::Data
                })
            })
        }
        fn describe(&self) -> String {
            "holey".into()
        }
    }

    #[test]
    fn push_merges_adjacent_extents_of_one_kind() {
        let mut v = Vec::new();
        push(&mut v, 0, 10, ExtentKind::Data);
        push(&mut v, 10, 5, ExtentKind::Data);
        push(&mut v, 15, 0, ExtentKind::Zero);
        push(&mut v, 15, 5, ExtentKind::Zero);
        assert_eq!(
            v,
            vec![
                Extent {
                    offset: 0,
                    len: 15,
                    kind: ExtentKind::Data
                },
                Extent {
                    offset: 15,
                    len: 5,
                    kind: ExtentKind::Zero
                }
            ]
        );
        let u = by_unit(100, 300, 128, |i| {
            Ok(if i % 2 == 0 {
                ExtentKind::Data
            } else {
                ExtentKind::Unallocated
            })
        })
        .unwrap();
        let got: Vec<(u64, u64)> = u.iter().map(|e| (e.offset, e.len)).collect();
        assert_eq!(got, vec![(100, 28), (128, 128), (256, 128), (384, 16)]);
    }

    #[test]
    fn parallel_reader_skips_zero_extents_and_sees_every_data_byte() {
        let size = 5 << 20;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8 + 1).collect();
        let dev = Holey(MemDisk::new("m", bytes.clone()));
        for threads in [1, 3] {
            let seen = Mutex::new(vec![0u8; size]);
            let mut zeros = Vec::new();
            let mut last = 0;
            for_each_data(
                &dev,
                threads,
                64 << 10,
                &|o, d| {
                    let mut s = seen.lock().unwrap();
                    s[o as usize..o as usize + d.len()].copy_from_slice(d);
                    Ok(())
                },
                &mut |o, l| {
                    zeros.push((o, l));
                    Ok(())
                },
                &mut |n| last = n,
            )
            .unwrap();
            assert_eq!(zeros, vec![(1 << 20, 1 << 20)]);
            assert_eq!(last, size as u64);
            let s = seen.into_inner().unwrap();
            assert_eq!(s[..1 << 20], bytes[..1 << 20]);
            assert!(s[1 << 20..2 << 20].iter().all(|&b| b == 0));
            assert_eq!(s[2 << 20..], bytes[2 << 20..]);
        }
        // An error in a worker stops the read and is returned.
        let e = for_each_data(
            &dev,
            2,
            1,
            &|o, _| {
                if o >= 3 << 20 {
                    Err(BlockError::corrupt("sink", "full"))
                } else {
                    Ok(())
                }
            },
            &mut |_, _| Ok(()),
            &mut |_| {},
        );
        assert!(matches!(e, Err(BlockError::Corrupt { .. })));
    }
}
