//! VHD (Virtual PC / Hyper-V): fixed and dynamic disks. A differencing disk names its parent in
//! the error. The footer copy at offset 0 of a dynamic disk must equal the trailing footer
//! (FMT-3 "footers are not identical").

pub mod dynamic;
pub mod footer;
pub mod writer;

use super::alloc::{self, Extent, ExtentKind};
use super::util::{MAX_TABLE_BYTES, be32, for_each_chunk, read_into, read_vec};
use super::{BlockDev, BlockError, ContainerInfo, Ctx};
use dynamic::DynHeader;
use footer::{Footer, TYPE_DIFFERENCING, TYPE_DYNAMIC, TYPE_FIXED};
use std::sync::Arc;

pub struct Vhd {
    file: Arc<dyn BlockDev>,
    name: String,
    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub footer: Footer,
    size: u64,
    dynamic: Option<(DynHeader, Vec<u32>)>,
}

impl Vhd {
    pub(crate) fn open(file: Arc<dyn BlockDev>, _ctx: &Ctx) -> Result<Vhd, BlockError> {
        let name = file.describe();
        let flen = file.len();
        if flen < 512 {
            return Err(BlockError::Truncated {
                path: name.into(),
                what: "VHD footer".into(),
                offset: 0,
                len: 512,
                file_size: flen,
            });
        }
        let mut tail = [0u8; 512];
        read_into(&*file, flen - 512, &mut tail, "VHD footer")?;
        let mut head = [0u8; 512];
        read_into(&*file, 0, &mut head, "VHD footer copy")?;
        let head_is_footer = &head[..8] == footer::COOKIE;
        let tail_is_footer = &tail[..8] == footer::COOKIE;
        let footer = if tail_is_footer {
            Footer::parse(&tail, &name)?
        } else if head_is_footer {
            // A dynamic disk whose trailing footer is gone or damaged (FMT-3).
            return Err(BlockError::FooterMismatch { path: name.into() });
        } else {
            return Err(BlockError::corrupt(&name, "VHD: no footer"));
        };
        let size = footer.virtual_size();
        // VHD itself stops at 2040 GiB; refuse absurd sizes rather than pretend.
        const MAX_VHD_SIZE: u64 = 64 << 40;
        if size > MAX_VHD_SIZE {
            return Err(BlockError::TooLarge {
                path: name.into(),
                what: "VHD virtual size".into(),
                size,
                limit: MAX_VHD_SIZE,
            });
        }
        match footer.disk_type {
            TYPE_FIXED => {
                if size > flen - 512 {
                    return Err(BlockError::Truncated {
                        path: name.into(),
                        what: "VHD fixed disk data".into(),
                        offset: 0,
                        len: size,
                        file_size: flen,
                    });
                }
                Ok(Vhd {
                    file,
                    name,
                    footer,
                    size,
                    dynamic: None,
                })
            }
            TYPE_DYNAMIC | TYPE_DIFFERENCING => {
                // FMT-3: the header copy of the footer must equal the trailing footer.
                if head != tail {
                    return Err(BlockError::FooterMismatch { path: name.into() });
                }
                let dh_raw =
                    read_vec(&*file, footer.data_offset, 1024, 1024, "VHD dynamic header")?;
                let dh = DynHeader::parse(&dh_raw, &name)?;
                if footer.disk_type == TYPE_DIFFERENCING {
                    return Err(BlockError::BackingUnavailable {
                        path: name.into(),
                        backing: format!("differencing VHD, parent {}", dh.parent_name),
                    });
                }
                let need = size.div_ceil(dh.block_size as u64);
                if (dh.max_table_entries as u64) < need {
                    return Err(BlockError::corrupt(
                        &name,
                        format!(
                            "VHD BAT has {} entries, {need} needed",
                            dh.max_table_entries
                        ),
                    ));
                }
                let bat_bytes = need * 4;
                let raw = read_vec(
                    &*file,
                    dh.table_offset,
                    bat_bytes,
                    MAX_TABLE_BYTES,
                    "VHD BAT",
                )?;
                let bat = raw.chunks_exact(4).map(|c| be32(c, 0)).collect();
                Ok(Vhd {
                    file,
                    name,
                    footer,
                    size,
                    dynamic: Some((dh, bat)),
                })
            }
            t => Err(BlockError::unsupported(&name, format!("VHD disk type {t}"))),
        }
    }

    pub fn info(&self) -> ContainerInfo {
        let sub = if self.dynamic.is_some() {
            "dynamic"
        } else {
            "fixed"
        };
        ContainerInfo::simple("vhd", Some(sub), self.size, self.file.len())
    }
}

impl BlockDev for Vhd {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        super::check_range(&self.name, self.size, offset, buf.len())?;
        let Some((dh, bat)) = &self.dynamic else {
            return self.file.read_at(offset, buf);
        };
        let bs = dh.block_size as u64;
        let bitmap = dh.bitmap_bytes();
        for_each_chunk(offset, buf.len(), bs, |b, within, pos, n| {
            let dst = buf.get_mut(pos..pos + n).unwrap_or(&mut []);
            let e = bat.get(b as usize).copied().unwrap_or(u32::MAX);
            if e == u32::MAX {
                dst.fill(0);
                return Ok(());
            }
            let host = e as u64 * 512 + bitmap + within;
            read_into(&*self.file, host, dst, "VHD data block")
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    /// Fixed: the file's own holes. Dynamic: BAT entries 0xFFFFFFFF are unallocated blocks,
    /// every other block is data.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.size, offset, len, &|| self.name.clone())?;
        let Some((dh, bat)) = &self.dynamic else {
            return self.file.extents(offset, len);
        };
        alloc::by_unit(offset, len, dh.block_size as u64, |b| {
            Ok(match bat.get(b as usize).copied().unwrap_or(u32::MAX) {
                u32::MAX => ExtentKind::Unallocated,
                _ => ExtentKind::Data,
            })
        })
    }
}
