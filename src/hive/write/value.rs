//! Value operations of the writer: setting (new or replaced) and deleting values, and where
//! their data goes: inline (≤ 4 bytes), one cell, or big data segments (> 16344 bytes, hive
//! 1.4+).

use super::check::{is_big_data, parse_db};
use super::error::WriteError;
use super::{HiveWriter, ValueData, encode_name, now_filetime, utf16_bytes};
use crate::hive::big_data::SEGMENT_MAX;
use crate::hive::cell::NO_CELL;
use crate::hive::key_node::KeyNode;
use crate::hive::value::{DATA_INLINE, VALUE_COMP_NAME, VK_FIXED, ValueKey};

/// Longest value name Windows accepts, in UTF-16 code units.
pub const MAX_VALUE_NAME: usize = 16383;
/// Largest value data the writer stores (Windows documents no hard limit; keep hives sane).
pub const MAX_VALUE_DATA: usize = 64 << 20;

impl HiveWriter {
    /// The value key offsets of a key, in list order.
    pub(super) fn value_offsets(&self, nk: &KeyNode) -> Result<Vec<u32>, WriteError> {
        let count = nk.value_count as usize;
        if count == 0 {
            return Ok(Vec::new());
        }
        let list = self.store.cell_for(nk.value_list, "value list")?;
        list.need(count.saturating_mul(4), "value list")?;
        Ok((0..count)
            .map(|i| crate::hive::bytes::u32_at(list.data, i * 4).unwrap_or(NO_CELL))
            .collect())
    }

    fn value_key(&self, offset: u32) -> Result<ValueKey, WriteError> {
        Ok(ValueKey::parse(&self.store.cell_for(offset, "value key")?)?)
    }

    /// The data cells of a value (none when inline or empty).
    fn data_cells(&self, vk: &ValueKey) -> Result<Vec<u32>, WriteError> {
        let size = vk.data_size();
        if vk.is_inline() || size == 0 {
            return Ok(Vec::new());
        }
        let cell = self.store.cell_for(vk.data_offset, "value data")?;
        if is_big_data(self.minor, size, cell.data) {
            let db = parse_db(&self.store, &cell)?;
            let mut out = db.segments;
            out.push(db.segment_list);
            out.push(db.cell_offset);
            return Ok(out);
        }
        Ok(vec![vk.data_offset])
    }

    /// The cells of a value key and its data.
    pub(super) fn value_cells(&self, vk_offset: u32) -> Result<Vec<u32>, WriteError> {
        let mut out = self.data_cells(&self.value_key(vk_offset)?)?;
        out.push(vk_offset);
        Ok(out)
    }

    /// Store value data; returns the data size field (with the inline bit) and data offset.
    fn store_data(&mut self, data: &[u8]) -> Result<(u32, u32), WriteError> {
        let len = data.len();
        if len <= 4 {
            let mut b = [0u8; 4];
            b[..len].copy_from_slice(data);
            return Ok((len as u32 | DATA_INLINE, u32::from_le_bytes(b)));
        }
        if self.minor >= 4 && len > SEGMENT_MAX {
            let mut list = Vec::with_capacity(len.div_ceil(SEGMENT_MAX) * 4);
            for chunk in data.chunks(SEGMENT_MAX) {
                // Four spare bytes per segment, as in the segments Windows writes: readers
                // such as hivex take a segment's length as its cell size minus 8.
                let o = self.store.alloc(chunk.len() + 4)?;
                self.store.write(o, 0, chunk)?;
                list.extend_from_slice(&o.to_le_bytes());
            }
            let segs = (list.len() / 4) as u16;
            let l = self.store.alloc(list.len())?;
            self.store.write(l, 0, &list)?;
            let db = self.store.alloc(8)?;
            let mut rec = [0u8; 8];
            rec[..2].copy_from_slice(b"db");
            rec[2..4].copy_from_slice(&segs.to_le_bytes());
            rec[4..8].copy_from_slice(&l.to_le_bytes());
            self.store.write(db, 0, &rec)?;
            return Ok((len as u32, db));
        }
        let o = self.store.alloc(len)?;
        self.store.write(o, 0, data)?;
        Ok((len as u32, o))
    }

    /// Find the value `name` (case-insensitive) among a key's values: (index, offset, record).
    fn find_value(
        &self,
        offs: &[u32],
        name: &str,
    ) -> Result<Option<(usize, u32, ValueKey)>, WriteError> {
        let want = super::list::sort_key(name);
        for (i, &o) in offs.iter().enumerate() {
            let vk = self.value_key(o)?;
            if super::list::sort_key(&vk.name) == want {
                return Ok(Some((i, o, vk)));
            }
        }
        Ok(None)
    }

    /// Point the key's value list at `offs` (rewritten in place when the old cell is large
    /// enough), updating the value count.
    fn write_value_list(&mut self, nk: &KeyNode, offs: &[u32]) -> Result<(), WriteError> {
        let k = nk.cell_offset;
        let had = nk.value_count > 0;
        if offs.is_empty() {
            if had {
                self.store.free(nk.value_list)?;
            }
            self.store.put_u32(k, 36, 0)?;
            return self.store.put_u32(k, 40, NO_CELL);
        }
        let bytes: Vec<u8> = offs.iter().flat_map(|o| o.to_le_bytes()).collect();
        let fits =
            had && self.store.cell_for(nk.value_list, "value list")?.data.len() >= bytes.len();
        let list = if fits {
            nk.value_list
        } else {
            if had {
                self.store.free(nk.value_list)?;
            }
            self.store.alloc(bytes.len())?
        };
        self.store.write(list, 0, &bytes)?;
        self.store.put_u32(k, 36, offs.len() as u32)?;
        self.store.put_u32(k, 40, list)
    }

    /// Set the value `name` (`""` = the default value) of the key at `path` (which must
    /// exist): replaced in place when it exists (its stored name kept), added otherwise.
    pub fn set_value(
        &mut self,
        path: &str,
        name: &str,
        value: ValueData,
    ) -> Result<(), WriteError> {
        if name.encode_utf16().count() > MAX_VALUE_NAME {
            return Err(WriteError::InvalidName {
                name: name.chars().take(64).collect(),
                reason: "value names are at most 16383 characters",
            });
        }
        let limit = if self.minor >= 4 {
            MAX_VALUE_DATA.min(SEGMENT_MAX * usize::from(u16::MAX))
        } else {
            MAX_VALUE_DATA
        };
        if value.data.len() > limit {
            return Err(WriteError::ValueTooLarge {
                len: value.data.len(),
                limit,
            });
        }
        self.guarded(|w| {
            let key = w.find_existing(path)?;
            let nk = w.node(key)?;
            let mut offs = w.value_offsets(&nk)?;
            if offs.len() >= super::check::MAX_VALUES as usize {
                return Err(WriteError::TooManyValues {
                    offset: key,
                    count: nk.value_count,
                    limit: super::check::MAX_VALUES,
                });
            }
            match w.find_value(&offs, name)? {
                Some((_, vk_off, vk)) => {
                    for c in w.data_cells(&vk)? {
                        w.store.free(c)?;
                    }
                    let (size, data_off) = w.store_data(&value.data)?;
                    w.store.put_u32(vk_off, 4, size)?;
                    w.store.put_u32(vk_off, 8, data_off)?;
                    w.store.put_u32(vk_off, 12, value.kind)?;
                }
                None => {
                    let (size, data_off) = w.store_data(&value.data)?;
                    let (raw, compressed) = encode_name(name);
                    let mut rec = vec![0u8; VK_FIXED + raw.len()];
                    rec[..2].copy_from_slice(b"vk");
                    rec[2..4].copy_from_slice(&(raw.len() as u16).to_le_bytes());
                    rec[4..8].copy_from_slice(&size.to_le_bytes());
                    rec[8..12].copy_from_slice(&data_off.to_le_bytes());
                    rec[12..16].copy_from_slice(&value.kind.to_le_bytes());
                    let flags: u16 = if compressed { VALUE_COMP_NAME } else { 0 };
                    rec[16..18].copy_from_slice(&flags.to_le_bytes());
                    rec[VK_FIXED..].copy_from_slice(&raw);
                    let vk_off = w.store.alloc(rec.len())?;
                    w.store.write(vk_off, 0, &rec)?;
                    offs.push(vk_off);
                    w.write_value_list(&nk, &offs)?;
                }
            }
            let largest_name = w.store.get_u32(key, 60)?;
            w.store
                .put_u32(key, 60, largest_name.max(utf16_bytes(name)))?;
            let largest_data = w.store.get_u32(key, 64)?;
            w.store
                .put_u32(key, 64, largest_data.max(value.data.len() as u32))?;
            w.store.write(key, 4, &now_filetime().to_le_bytes())
        })
    }

    /// Delete the value `name` of the key at `path`.
    pub fn delete_value(&mut self, path: &str, name: &str) -> Result<(), WriteError> {
        self.guarded(|w| {
            let key = w.find_existing(path)?;
            let nk = w.node(key)?;
            let mut offs = w.value_offsets(&nk)?;
            let (i, vk_off, _) =
                w.find_value(&offs, name)?
                    .ok_or_else(|| WriteError::ValueNotFound {
                        path: path.to_string(),
                        name: name.to_string(),
                    })?;
            let cells = w.value_cells(vk_off)?;
            offs.remove(i);
            for c in cells {
                w.store.free(c)?;
            }
            w.write_value_list(&nk, &offs)?;
            w.store.write(key, 4, &now_filetime().to_le_bytes())
        })
    }
}
