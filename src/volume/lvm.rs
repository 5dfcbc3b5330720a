//! LVM2: the physical-volume label (`LABELONE` / `LVM2 001` in one of the first four sectors),
//! the metadata area header (` LVM2 x[5A%r0N*>`) with its circular text buffer, the text
//! metadata (parsed with nom into a generic tree, then into a [`VgMeta`]) and logical volumes
//! mapped onto their PVs as a [`BlockDev`] (linear and striped segments; thin, raid, mirror,
//! cache and snapshot segments are reported as unsupported). GEN-6: a VG that cannot be
//! assembled is reported with its reason.

use super::error::VolumeError;
use super::util::{le32, le64, slice};
use crate::block::{BlockDev, BlockError, WritableDev, check_range};
use nom::{
    IResult,
    branch::alt,
    bytes::complete::{escaped_transform, tag, take_while1},
    character::complete::{char, digit1, none_of},
    combinator::{opt, recognize, value},
    sequence::pair,
};
use std::sync::Arc;

/// Largest metadata text accepted.
pub const MAX_METADATA: u64 = 4 << 20;
/// Deepest nesting of sections/lists accepted in metadata text.
pub const MAX_DEPTH: usize = 32;
/// Most segments per LV, and stripes per segment.
pub const MAX_SEGMENTS: usize = 4096;
/// Most stripes per segment.
pub const MAX_STRIPES: usize = 256;

// ---------------------------------------------------------------- PV label

/// The label of an LVM2 physical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// The 32-character PV UUID without dashes.
    pub pv_uuid: String,
    /// The PV's size as the label records it, in bytes.
    pub device_size: u64,
    /// (offset, size) of the data areas.
    pub data_areas: Vec<(u64, u64)>,
    /// (offset, size) of the metadata areas.
    pub metadata_areas: Vec<(u64, u64)>,
}

/// Read the PV label of `dev`, if any.
pub fn read_label(dev: &dyn BlockDev) -> Result<Option<PvLabel>, VolumeError> {
    if dev.len() < 4 * 512 {
        return Ok(None);
    }
    let mut head = vec![0u8; 4 * 512];
    dev.read_at(0, &mut head)?;
    for sector in 0..4usize {
        let s = slice(&head, sector * 512, 512);
        if slice(s, 0, 8) != b"LABELONE" || slice(s, 24, 8) != b"LVM2 001" {
            continue;
        }
        let off = le32(s, 20) as usize;
        if !(32..512).contains(&off) {
            return Err(super::error::corrupt(
                &dev.describe(),
                "LVM label",
                format!("PV header offset {off} is outside the label sector"),
            ));
        }
        let ph = slice(s, off, 512 - off);
        let pv_uuid = String::from_utf8_lossy(slice(ph, 0, 32)).into_owned();
        let device_size = le64(ph, 32);
        let mut pos = 40;
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            loop {
                if pos + 16 > ph.len() {
                    break;
                }
                let (o, sz) = (le64(ph, pos), le64(ph, pos + 8));
                pos += 16;
                if o == 0 && sz == 0 {
                    break;
                }
                list.push((o, sz));
            }
        }
        let [data_areas, metadata_areas] = lists;
        return Ok(Some(PvLabel {
            pv_uuid,
            device_size,
            data_areas,
            metadata_areas,
        }));
    }
    Ok(None)
}

/// Read the current metadata text of a PV (the first metadata area that has one).
pub fn read_metadata_text(
    dev: &dyn BlockDev,
    label: &PvLabel,
) -> Result<Option<String>, VolumeError> {
    let name = dev.describe();
    for &(mda_off, mda_size) in &label.metadata_areas {
        if mda_off.checked_add(mda_size).is_none_or(|e| e > dev.len()) || mda_size < 1024 {
            continue;
        }
        let mut h = vec![0u8; 512];
        dev.read_at(mda_off, &mut h)?;
        if slice(&h, 4, 16) != b" LVM2 x[5A%r0N*>" {
            continue;
        }
        let start = le64(&h, 24);
        let size = le64(&h, 32);
        if start != mda_off || size > mda_size || size < 1024 {
            return Err(super::error::corrupt(
                &name,
                "LVM metadata area header",
                format!(
                    "start {start} / size {size} disagree with the label ({mda_off}, {mda_size})"
                ),
            ));
        }
        let r_off = le64(&h, 40);
        let r_size = le64(&h, 48);
        if r_size == 0 {
            continue;
        }
        if r_size > MAX_METADATA || r_size > size - 512 || r_off < 512 || r_off >= size {
            return Err(super::error::corrupt(
                &name,
                "LVM metadata area",
                format!("text of {r_size} bytes at {r_off} does not fit an area of {size} bytes"),
            ));
        }
        let mut text = vec![0u8; r_size as usize];
        let first = (size - r_off).min(r_size) as usize;
        dev.read_at(start + r_off, &mut text[..first])?;
        if first < text.len() {
            // Wrapped around the circular buffer: the rest follows the 512-byte header.
            dev.read_at(start + 512, &mut text[first..])?;
        }
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        text.truncate(end);
        return Ok(Some(String::from_utf8_lossy(&text).into_owned()));
    }
    Ok(None)
}

// ---------------------------------------------------------------- text format

/// A value of the LVM2 text metadata format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A `[ … ]` list.
    List(Vec<Value>),
    /// A `name { … }` section: its keys and values in order.
    Section(Vec<(String, Value)>),
}

impl Value {
    /// The value of `key` in a section.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Section(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The string value of `key` in a section.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// The integer value of `key` in a section.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// The sub-sections of a section, with their names.
    pub fn sections(&self) -> Vec<(&str, &Value)> {
        match self {
            Value::Section(items) => items
                .iter()
                .filter(|(_, v)| matches!(v, Value::Section(_)))
                .map(|(k, v)| (k.as_str(), v))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// The strings of the list value of `key` in a section.
    pub fn str_list(&self, key: &str) -> Vec<&str> {
        match self.get(key) {
            Some(Value::List(l)) => l
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn sp(mut i: &str) -> IResult<&str, ()> {
    loop {
        let t = i.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            i = rest.find('\n').map(|p| &rest[p..]).unwrap_or("");
        } else {
            return Ok((t, ()));
        }
    }
}

fn ident(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || "_.+-".contains(c))(i)
}

fn string(i: &str) -> IResult<&str, String> {
    let (i, _) = char('"')(i)?;
    let (i, s) = opt(escaped_transform(
        none_of("\\\""),
        '\\',
        alt((value("\\", tag("\\")), value("\"", tag("\"")))),
    ))(i)?;
    let (i, _) = char('"')(i)?;
    Ok((i, s.unwrap_or_default()))
}

fn int(i: &str) -> IResult<&str, i64> {
    let (rest, s) = recognize(pair(opt(char('-')), digit1))(i)?;
    match s.parse::<i64>() {
        Ok(v) => {
            // Tolerate a fractional part (never used by LVM for sizes), skipping it.
            let rest = match rest.strip_prefix('.') {
                Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
                None => rest,
            };
            Ok((rest, v))
        }
        Err(_) => Err(nom::Err::Failure(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TooLarge,
        ))),
    }
}

fn list(i: &str, depth: usize) -> IResult<&str, Value> {
    let (mut i, _) = char('[')(i)?;
    let mut out = Vec::new();
    loop {
        i = sp(i)?.0;
        if let Some(r) = i.strip_prefix(']') {
            return Ok((r, Value::List(out)));
        }
        let (r, v) = scalar_or_list(i, depth + 1)?;
        out.push(v);
        i = sp(r)?.0;
        if let Some(r) = i.strip_prefix(',') {
            i = r;
        } else if !i.starts_with(']') {
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Char,
            )));
        }
    }
}

fn scalar_or_list(i: &str, depth: usize) -> IResult<&str, Value> {
    if depth > MAX_DEPTH {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TooLarge,
        )));
    }
    if i.starts_with('[') {
        return list(i, depth);
    }
    if let Ok((r, s)) = string(i) {
        return Ok((r, Value::Str(s)));
    }
    let (r, v) = int(i)?;
    Ok((r, Value::Int(v)))
}

/// Items until `}` (when `nested`) or the end of input.
fn items(mut i: &str, depth: usize, nested: bool) -> IResult<&str, Value> {
    if depth > MAX_DEPTH {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TooLarge,
        )));
    }
    let mut out = Vec::new();
    loop {
        i = sp(i)?.0;
        if nested {
            if let Some(r) = i.strip_prefix('}') {
                return Ok((r, Value::Section(out)));
            }
        }
        if i.is_empty() {
            if nested {
                return Err(nom::Err::Failure(nom::error::Error::new(
                    i,
                    nom::error::ErrorKind::Eof,
                )));
            }
            return Ok((i, Value::Section(out)));
        }
        let (r, key) = ident(i)?;
        let r = sp(r)?.0;
        if let Some(r) = r.strip_prefix('{') {
            let (r, v) = items(r, depth + 1, true)?;
            out.push((key.to_string(), v));
            i = r;
        } else if let Some(r) = r.strip_prefix('=') {
            let r = sp(r)?.0;
            let (r, v) = scalar_or_list(r, depth + 1)?;
            out.push((key.to_string(), v));
            i = r;
        } else {
            return Err(nom::Err::Failure(nom::error::Error::new(
                r,
                nom::error::ErrorKind::Char,
            )));
        }
    }
}

/// Parse LVM2 text metadata into a tree (the top level is a [`Value::Section`]).
pub fn parse_text(text: &str) -> Result<Value, VolumeError> {
    if text.len() as u64 > MAX_METADATA {
        return Err(VolumeError::LvmSyntax {
            reason: format!("{} bytes of metadata exceed {MAX_METADATA}", text.len()),
        });
    }
    match items(text, 0, false) {
        Ok((_, v)) => Ok(v),
        Err(e) => {
            let at = match &e {
                nom::Err::Error(e) | nom::Err::Failure(e) => text.len() - e.input.len(),
                nom::Err::Incomplete(_) => text.len(),
            };
            let line = text
                .get(..at)
                .map(|t| t.lines().count().max(1))
                .unwrap_or(0);
            Err(VolumeError::LvmSyntax {
                reason: format!("syntax error at byte {at} (line {line})"),
            })
        }
    }
}

// ---------------------------------------------------------------- VG model

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// A physical volume as the VG metadata describes it.
pub struct PvMeta {
    /// Key in the metadata (`pv0`).
    pub key: String,
    /// UUID with dashes, as in the metadata.
    pub id: String,
    /// Device hint as recorded (`/dev/sda2`).
    pub device: Option<String>,
    /// First extent, in 512-byte sectors.
    pub pe_start: u64,
    /// Number of extents.
    pub pe_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// How a segment maps its extents.
pub enum SegmentKind {
    /// Linear is striped with one stripe. `stripe_size` is in 512-byte sectors.
    Striped {
        /// The stripe size, in 512-byte sectors.
        stripe_size: u64,
        /// (PV key, first extent on that PV).
        stripes: Vec<(String, u64)>,
    },
    /// thin, thin-pool, raid1, mirror, cache, snapshot, …
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// A run of an LV's extents mapped one way.
pub struct Segment {
    /// First logical extent of the LV the segment maps.
    pub start_extent: u64,
    /// Number of extents.
    pub extent_count: u64,
    /// How they are mapped.
    pub kind: SegmentKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// A logical volume as the VG metadata describes it.
pub struct LvMeta {
    /// The LV's name.
    pub name: String,
    /// Its UUID with dashes.
    pub id: String,
    /// Its status flags (`READ`, `WRITE`, `VISIBLE`).
    pub status: Vec<String>,
    /// Its segments, in extent order.
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// A volume group's text metadata.
pub struct VgMeta {
    /// The VG's name.
    pub name: String,
    /// Its UUID with dashes.
    pub id: String,
    /// The metadata's sequence number (the newest copy wins).
    pub seqno: u64,
    /// Extent size in 512-byte sectors.
    pub extent_size: u64,
    /// Its physical volumes.
    pub pvs: Vec<PvMeta>,
    /// Its logical volumes.
    pub lvs: Vec<LvMeta>,
}

fn lvm_err(reason: String) -> VolumeError {
    VolumeError::Lvm { reason }
}

fn nonneg(v: Option<i64>, what: &str, vg: &str) -> Result<u64, VolumeError> {
    match v {
        Some(x) if x >= 0 => Ok(x as u64),
        Some(x) => Err(lvm_err(format!("VG {vg}: {what} is negative ({x})"))),
        None => Err(lvm_err(format!("VG {vg}: {what} missing"))),
    }
}

/// Turn parsed metadata text into the VG it describes.
pub fn vg_from_text(text: &str) -> Result<VgMeta, VolumeError> {
    let root = parse_text(text)?;
    let (name, vg) = root
        .sections()
        .into_iter()
        .find(|(_, v)| v.get("physical_volumes").is_some() || v.get("extent_size").is_some())
        .ok_or_else(|| lvm_err("metadata holds no volume group section".into()))?;
    let extent_size = nonneg(vg.int("extent_size"), "extent_size", name)?;
    if extent_size == 0 || extent_size > (1 << 32) {
        return Err(lvm_err(format!(
            "VG {name}: bogus extent_size {extent_size}"
        )));
    }
    let mut pvs = Vec::new();
    if let Some(p) = vg.get("physical_volumes") {
        for (key, pv) in p.sections() {
            pvs.push(PvMeta {
                key: key.to_string(),
                id: pv.str("id").unwrap_or_default().to_string(),
                device: pv.str("device").map(str::to_string),
                pe_start: nonneg(pv.int("pe_start"), "pe_start", name)?,
                pe_count: nonneg(pv.int("pe_count"), "pe_count", name)?,
            });
        }
    }
    let mut lvs = Vec::new();
    if let Some(l) = vg.get("logical_volumes") {
        for (lv_name, lv) in l.sections() {
            let mut segments = Vec::new();
            for (_, seg) in lv.sections() {
                if segments.len() >= MAX_SEGMENTS {
                    return Err(lvm_err(format!(
                        "LV {lv_name}: more than {MAX_SEGMENTS} segments"
                    )));
                }
                let ty = seg.str("type").unwrap_or("striped");
                let kind = if ty == "striped" || ty == "linear" {
                    let mut stripes = Vec::new();
                    if let Some(Value::List(l)) = seg.get("stripes") {
                        for pair in l.chunks(2) {
                            match pair {
                                [Value::Str(pv), Value::Int(pe)] if *pe >= 0 => {
                                    stripes.push((pv.clone(), *pe as u64))
                                }
                                _ => {
                                    return Err(lvm_err(format!(
                                        "LV {lv_name}: malformed stripes list"
                                    )));
                                }
                            }
                        }
                    }
                    if stripes.is_empty() || stripes.len() > MAX_STRIPES {
                        return Err(lvm_err(format!(
                            "LV {lv_name}: {} stripes (1..={MAX_STRIPES} allowed)",
                            stripes.len()
                        )));
                    }
                    let stripe_size = seg.int("stripe_size").unwrap_or(0).max(0) as u64;
                    if stripes.len() > 1 && stripe_size == 0 {
                        return Err(lvm_err(format!(
                            "LV {lv_name}: striped without stripe_size"
                        )));
                    }
                    SegmentKind::Striped {
                        stripe_size,
                        stripes,
                    }
                } else {
                    SegmentKind::Unsupported(ty.to_string())
                };
                segments.push(Segment {
                    start_extent: nonneg(seg.int("start_extent"), "start_extent", name)?,
                    extent_count: nonneg(seg.int("extent_count"), "extent_count", name)?,
                    kind,
                });
            }
            segments.sort_by_key(|s| s.start_extent);
            lvs.push(LvMeta {
                name: lv_name.to_string(),
                id: lv.str("id").unwrap_or_default().to_string(),
                status: lv
                    .str_list("status")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                segments,
            });
        }
    }
    Ok(VgMeta {
        name: name.to_string(),
        id: vg.str("id").unwrap_or_default().to_string(),
        seqno: vg.int("seqno").unwrap_or(0).max(0) as u64,
        extent_size,
        pvs,
        lvs,
    })
}

// ---------------------------------------------------------------- LV device

#[derive(Debug, Clone)]
struct Piece {
    lv_start: u64,
    len: u64,
    /// Stripe chunk in bytes (0 for one stripe).
    chunk: u64,
    /// (index into [`LvMap::pvs`], byte offset of this segment's first extent on that PV).
    stripes: Vec<(usize, u64)>,
}

/// Where each byte of a logical volume lives: which PV, at which offset. Holds no device, so a
/// higher layer can lay the same map over other (e.g. writable) views of the PVs.
#[derive(Debug, Clone)]
pub struct LvMap {
    name: String,
    len: u64,
    pieces: Vec<Piece>,
    /// The PVs the LV uses, by metadata UUID (with dashes as written), and the byte length each
    /// must at least have.
    pvs: Vec<(String, u64)>,
}

impl LvMap {
    /// The UUIDs of the PVs the LV uses, in the order [`LvDev::from_map`] takes their devices.
    pub fn pv_ids(&self) -> impl Iterator<Item = &str> {
        self.pvs.iter().map(|(id, _)| id.as_str())
    }

    /// (PV index, byte offset on that PV, bytes contiguous from there) of LV byte `pos`.
    fn locate(&self, pos: u64) -> Result<(usize, u64, u64), BlockError> {
        let p = self
            .pieces
            .iter()
            .find(|p| pos >= p.lv_start && pos < p.lv_start + p.len)
            .ok_or_else(|| BlockError::Corrupt {
                path: self.name.clone().into(),
                reason: format!("no segment maps byte {pos}"),
            })?;
        let rel = pos - p.lv_start;
        let bad = || BlockError::Corrupt {
            path: self.name.clone().into(),
            reason: format!("no stripe maps byte {pos}"),
        };
        match rel.checked_div(p.chunk) {
            None => {
                let (d, base) = p.stripes.first().ok_or_else(bad)?;
                Ok((*d, base + rel, p.len - rel))
            }
            Some(ci) => {
                let n = p.stripes.len() as u64;
                let within = rel % p.chunk;
                let idx = ci.checked_rem(n).ok_or_else(bad)?;
                let (d, base) = p.stripes.get(idx as usize).ok_or_else(bad)?;
                Ok((*d, base + (ci / n) * p.chunk + within, p.chunk - within))
            }
        }
    }

    /// Visit the PV ranges that LV bytes `offset .. offset + len` map to, in order:
    /// `f(pv index, pv offset, start in the caller's buffer, length)`.
    fn for_each_range(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(usize, u64, usize, usize) -> Result<(), BlockError>,
    ) -> Result<(), BlockError> {
        check_range(&self.name, self.len, offset, len)?;
        let mut done = 0usize;
        while done < len {
            let (pv, pv_off, avail) = self.locate(offset + done as u64)?;
            let take = avail.min((len - done) as u64) as usize;
            f(pv, pv_off, done, take)?;
            done += take;
        }
        Ok(())
    }
}

/// A logical volume seen as one device, over one device per PV (read-only views by default;
/// writable ones make a [`WritableDev`]).
pub struct LvDev<D: ?Sized = dyn BlockDev> {
    map: LvMap,
    devs: Vec<Arc<D>>,
}

impl<D: BlockDev + ?Sized> LvDev<D> {
    /// Lay `map` over `devs` (one per [`LvMap::pv_ids`], in that order), each long enough.
    pub fn from_map(map: LvMap, devs: Vec<Arc<D>>) -> Result<Self, String> {
        if devs.len() != map.pvs.len() {
            return Err(format!(
                "{}: {} PV devices given for {} PVs",
                map.name,
                devs.len(),
                map.pvs.len()
            ));
        }
        for ((id, need), d) in map.pvs.iter().zip(&devs) {
            if *need > d.len() {
                return Err(format!(
                    "PV {id} extents end at byte {need}, past its device ({} bytes)",
                    d.len()
                ));
            }
        }
        Ok(LvDev { map, devs })
    }
    /// The map, to lay over other views of the same PVs.
    pub fn map(&self) -> &LvMap {
        &self.map
    }
}

/// Why an LV could not be mapped.
pub fn map_lv(
    vg: &VgMeta,
    lv: &LvMeta,
    pv_devs: &dyn Fn(&PvMeta) -> Option<Arc<dyn BlockDev>>,
) -> Result<LvDev, String> {
    let ext = vg.extent_size * 512;
    let mut pieces = Vec::new();
    let mut pvs: Vec<(String, u64)> = Vec::new();
    let mut devs: Vec<Arc<dyn BlockDev>> = Vec::new();
    let mut expect = 0u64;
    for seg in &lv.segments {
        if seg.start_extent != expect {
            return Err(format!(
                "segment at extent {} leaves a gap or overlap (expected {expect})",
                seg.start_extent
            ));
        }
        expect = seg
            .start_extent
            .checked_add(seg.extent_count)
            .ok_or("extent count overflows")?;
        let (stripe_size, stripes) = match &seg.kind {
            SegmentKind::Striped {
                stripe_size,
                stripes,
            } => (*stripe_size, stripes),
            SegmentKind::Unsupported(t) => {
                return Err(format!("segment type {t:?} is not supported"));
            }
        };
        let n = stripes.len() as u64;
        if seg.extent_count % n != 0 {
            return Err(format!(
                "{} extents do not divide into {n} stripes",
                seg.extent_count
            ));
        }
        let per_stripe = seg.extent_count / n;
        let mut refs = Vec::new();
        for (pv_key, pe) in stripes {
            let pv = vg
                .pvs
                .iter()
                .find(|p| &p.key == pv_key)
                .ok_or_else(|| format!("stripe names unknown PV {pv_key:?}"))?;
            if pe.checked_add(per_stripe).is_none_or(|e| e > pv.pe_count) {
                return Err(format!(
                    "extents {pe}+{per_stripe} exceed PV {pv_key}'s {} extents",
                    pv.pe_count
                ));
            }
            let base = pv
                .pe_start
                .checked_mul(512)
                .and_then(|s| pe.checked_mul(ext).and_then(|o| s.checked_add(o)))
                .ok_or("extent offset overflows")?;
            let need = per_stripe
                .checked_mul(ext)
                .and_then(|l| l.checked_add(base))
                .ok_or("extent range overflows")?;
            let idx = match pvs.iter().position(|(id, _)| *id == pv.id) {
                Some(i) => i,
                None => {
                    let dev =
                        pv_devs(pv).ok_or_else(|| format!("PV {pv_key} ({}) is missing", pv.id))?;
                    pvs.push((pv.id.clone(), 0));
                    devs.push(dev);
                    pvs.len() - 1
                }
            };
            pvs[idx].1 = pvs[idx].1.max(need);
            refs.push((idx, base));
        }
        let len = seg
            .extent_count
            .checked_mul(ext)
            .ok_or("LV size overflows")?;
        let lv_start = seg
            .start_extent
            .checked_mul(ext)
            .ok_or("LV offset overflows")?;
        let chunk = if n > 1 { stripe_size * 512 } else { 0 };
        if n > 1 && (chunk == 0 || ext % chunk != 0) {
            return Err(format!(
                "stripe size {stripe_size} does not divide the extent size"
            ));
        }
        pieces.push(Piece {
            lv_start,
            len,
            chunk,
            stripes: refs,
        });
    }
    let len = expect.checked_mul(ext).ok_or("LV size overflows")?;
    let map = LvMap {
        name: format!("/dev/{}/{}", vg.name, lv.name),
        len,
        pieces,
        pvs,
    };
    LvDev::from_map(map, devs)
}

impl<D: BlockDev + ?Sized> BlockDev for LvDev<D> {
    fn len(&self) -> u64 {
        self.map.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.map
            .for_each_range(offset, buf.len(), |pv, pv_off, at, n| {
                self.devs[pv].read_at(pv_off, &mut buf[at..at + n])
            })
    }
    fn describe(&self) -> String {
        self.map.name.clone()
    }
}

/// Writes land on the PVs' (writable) devices, mapped exactly as reads are.
impl<D: WritableDev + ?Sized> WritableDev for LvDev<D> {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.map
            .for_each_range(offset, buf.len(), |pv, pv_off, at, n| {
                self.devs[pv].write_at(pv_off, &buf[at..at + n])
            })
    }
    fn flush(&self) -> Result<(), BlockError> {
        self.devs.iter().try_for_each(|d| d.flush())
    }
}

/// `/dev/mapper` name of an LV: dashes inside names are doubled.
pub fn mapper_name(vg: &str, lv: &str) -> String {
    format!(
        "/dev/mapper/{}-{}",
        vg.replace('-', "--"),
        lv.replace('-', "--")
    )
}

/// PV UUID without dashes (the label stores it so; metadata with dashes).
pub fn bare_uuid(s: &str) -> String {
    s.chars().filter(|c| *c != '-').collect()
}
