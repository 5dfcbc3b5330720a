//! OVA (FMT-1): a tar holding an `.ovf` descriptor and one file per disk. Disks are read in place
//! by their offset inside the tar; their order is the OVF's. A missing disk file or a disk split
//! into chunks is refused (FMT-2).

pub mod ovf;
pub mod tar;
pub mod writer;

use super::raw::SliceDev;
use super::util::read_vec;
use super::{BlockDev, BlockError, ContainerInfo, Ctx, Opened, OvaDiskInfo};
use std::sync::Arc;

/// Largest OVF descriptor accepted.
const MAX_OVF: u64 = 16 << 20;

pub(crate) fn open(file: Arc<dyn BlockDev>, ctx: &Ctx) -> Result<Opened, BlockError> {
    let name = file.describe();
    let entries = tar::list(&*file)?;
    let ovf_entry = entries
        .iter()
        .find(|e| e.name.to_ascii_lowercase().ends_with(".ovf"))
        .ok_or_else(|| BlockError::corrupt(&name, "OVA holds no .ovf descriptor"))?;
    let xml = read_vec(
        &*file,
        ovf_entry.offset,
        ovf_entry.size,
        MAX_OVF,
        "OVF descriptor",
    )?;
    let o = ovf::parse(&xml, &name)?;
    let ordered = o.ordered_disks();
    if ordered.is_empty() {
        return Err(BlockError::corrupt(&name, "OVF descriptor lists no disk"));
    }
    let mut disks: Vec<Arc<dyn BlockDev>> = Vec::new();
    let mut infos = Vec::new();
    // Disks inside an OVA never open other host files.
    let inner_ctx = Ctx {
        opts: ctx.opts,
        dir: None,
        base_url: None,
        chain: ctx.chain.clone(),
    };
    for d in ordered {
        let f = o.files.iter().find(|f| f.id == d.file_ref).ok_or_else(|| {
            BlockError::OvaMissingDisk {
                path: name.clone().into(),
                href: format!("(fileRef {})", d.file_ref),
            }
        })?;
        if f.chunk_size.is_some() {
            return Err(BlockError::OvaSplitDisk {
                path: name.clone().into(),
                href: f.href.clone(),
            });
        }
        let e = entries.iter().find(|e| e.name == f.href).ok_or_else(|| {
            BlockError::OvaMissingDisk {
                path: name.clone().into(),
                href: f.href.clone(),
            }
        })?;
        let desc = format!("{name}:{}", f.href);
        let slice: Arc<dyn BlockDev> =
            Arc::new(SliceDev::new(file.clone(), e.offset, e.size, desc)?);
        // Never recurse into a tar inside the tar (bounded work on hostile input).
        if super::detect(&*slice)? == super::Format::Ova {
            return Err(BlockError::corrupt(
                &name,
                format!("OVA disk {} is itself a tar", f.href),
            ));
        }
        let opened = super::open_container(slice, &inner_ctx)?;
        infos.push(OvaDiskInfo {
            href: f.href.clone(),
            disk_id: d.disk_id.clone(),
            offset: e.offset,
            file_size: e.size,
            format: opened.info.format.clone(),
            subformat: opened.info.subformat.clone(),
            virtual_size: opened.info.virtual_size,
        });
        disks.extend(opened.disks);
    }
    let info = ContainerInfo {
        format: "ova".into(),
        subformat: None,
        virtual_size: infos.first().map(|d| d.virtual_size).unwrap_or(0),
        file_size: file.len(),
        backing_file: None,
        backing_format: None,
        disks: infos,
    };
    Ok(Opened { disks, info })
}
