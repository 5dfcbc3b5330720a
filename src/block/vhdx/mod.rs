//! VHDX: headers and region tables (CRC32C), metadata, BAT. A VHDX with a log to replay (dirty)
//! is refused rather than read stale; differencing VHDX is refused naming the fact.

pub mod bat;
pub mod guid;
pub mod header;
pub mod metadata;
pub mod region;
pub mod writer;

use super::alloc::{self, Extent, ExtentKind};
use super::util::{MAX_TABLE_BYTES, for_each_chunk, le64, read_into, read_vec};
use super::{BlockDev, BlockError, ContainerInfo};
use std::sync::Arc;

pub struct Vhdx {
    file: Arc<dyn BlockDev>,
    name: String,
    pub meta: metadata::Metadata,
    bat: Vec<u64>,
    chunk_ratio: u64,
}

impl Vhdx {
    pub fn open(file: Arc<dyn BlockDev>) -> Result<Vhdx, BlockError> {
        let name = file.describe();
        let h = header::read(&*file)?;
        if h.log_guid != [0u8; 16] {
            return Err(BlockError::unsupported(
                &name,
                "VHDX log is not empty (image was not closed cleanly); replay it with Hyper-V or qemu-img first",
            ));
        }
        let regions = region::read(&*file)?;
        let meta = metadata::read(&*file, regions.metadata)?;
        if meta.has_parent {
            return Err(BlockError::BackingUnavailable {
                path: name.into(),
                backing: "differencing VHDX parent".into(),
            });
        }
        let chunk_ratio = ((1u64 << 23) * meta.logical_sector_size as u64) / meta.block_size as u64;
        let blocks = meta.virtual_size.div_ceil(meta.block_size as u64);
        let entries = if blocks == 0 {
            0
        } else {
            bat::index(blocks - 1, chunk_ratio) + 1
        };
        let bytes = entries * 8;
        if bytes > regions.bat.length as u64 {
            return Err(BlockError::corrupt(
                &name,
                format!(
                    "VHDX BAT region of {} bytes, {bytes} needed",
                    regions.bat.length
                ),
            ));
        }
        let raw = read_vec(
            &*file,
            regions.bat.offset,
            bytes,
            MAX_TABLE_BYTES,
            "VHDX BAT",
        )?;
        let bat = raw.chunks_exact(8).map(|c| le64(c, 0)).collect();
        Ok(Vhdx {
            file,
            name,
            meta,
            bat,
            chunk_ratio,
        })
    }

    pub fn info(&self) -> ContainerInfo {
        let sub = if self.meta.leave_blocks_allocated {
            "fixed"
        } else {
            "dynamic"
        };
        ContainerInfo::simple("vhdx", Some(sub), self.meta.virtual_size, self.file.len())
    }
}

impl BlockDev for Vhdx {
    fn len(&self) -> u64 {
        self.meta.virtual_size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        super::check_range(&self.name, self.len(), offset, buf.len())?;
        let bs = self.meta.block_size as u64;
        for_each_chunk(offset, buf.len(), bs, |b, within, pos, n| {
            let dst = buf.get_mut(pos..pos + n).unwrap_or(&mut []);
            let e = self
                .bat
                .get(bat::index(b, self.chunk_ratio) as usize)
                .copied()
                .unwrap_or(0);
            match bat::decode(e) {
                bat::Block::Zero => {
                    dst.fill(0);
                    Ok(())
                }
                bat::Block::Data(host) => {
                    read_into(&*self.file, host + within, dst, "VHDX payload block")
                }
                bat::Block::Partial => Err(BlockError::unsupported(
                    &self.name,
                    "VHDX partially present block (differencing disk)",
                )),
                bat::Block::Bad(s) => Err(BlockError::corrupt(
                    &self.name,
                    format!("VHDX BAT entry for block {b} has invalid state {s}"),
                )),
            }
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    /// From the BAT: PAYLOAD_BLOCK_FULLY_PRESENT is data, PAYLOAD_BLOCK_ZERO zero, the other
    /// absent states unallocated; partially present and invalid states fail as reads do.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.len(), offset, len, &|| self.name.clone())?;
        alloc::by_unit(offset, len, self.meta.block_size as u64, |b| {
            let e = self
                .bat
                .get(bat::index(b, self.chunk_ratio) as usize)
                .copied()
                .unwrap_or(0);
            match bat::decode(e) {
                bat::Block::Data(_) => Ok(ExtentKind::Data),
                bat::Block::Zero if e & 7 == bat::ZERO => Ok(ExtentKind::Zero),
                bat::Block::Zero => Ok(ExtentKind::Unallocated),
                bat::Block::Partial => Err(BlockError::unsupported(
                    &self.name,
                    "VHDX partially present block (differencing disk)",
                )),
                bat::Block::Bad(s) => Err(BlockError::corrupt(
                    &self.name,
                    format!("VHDX BAT entry for block {b} has invalid state {s}"),
                )),
            }
        })
    }
}
