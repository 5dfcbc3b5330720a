//! Block layer: disk-image containers (raw, qcow2, VHD, VHDX, VMDK, OVA) opened natively and
//! exposed as one [`BlockDev`] (read at an offset, length), plus the copy-on-write overlay writer
//! and full-copy writers used for output (FMT-1, FMT-2, FMT-3, FMT-5).
//!
//! Nothing here knows about partitions or filesystems.

pub mod alloc;
pub(crate) mod counter;
mod error;
pub(crate) mod ova;
pub(crate) mod qcow2;
pub mod raw;
pub mod remote;
pub(crate) mod util;
pub(crate) mod vhd;
pub(crate) mod vhdx;
pub(crate) mod vmdk;
pub mod writer;

pub use alloc::{Extent, ExtentKind};
pub use counter::CountingDev;
pub use error::BlockError;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A read-only virtual disk (or a slice of one). Reads take `&self` so that every later layer
/// can share one device behind an `Arc`.
pub trait BlockDev: Send + Sync {
    /// Virtual size in bytes.
    fn len(&self) -> u64;

    /// Fill `buf` completely from `offset`. Reading past [`BlockDev::len`] is an error
    /// ([`BlockError::OutOfRange`]); unallocated areas read as zeros.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Whether the device has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A short human description for error messages ("disk.qcow2", "disk.ova:disk1.vmdk").
    fn describe(&self) -> String;

    /// Allocation status of `[offset, offset+len)`: sorted, adjacent extents covering exactly
    /// that range (see [`alloc`]). Ask in windows of at most [`alloc::EXTENT_WINDOW`] bytes.
    /// The default says "all data"; formats that know better (file holes, L2 tables, BATs,
    /// grain tables) override it so that readers can skip ranges that read as zeros.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.len(), offset, len, &|| self.describe())?;
        Ok(alloc::all_data(offset, len))
    }

    /// A hint that `(offset, len)` ranges will be read soon (a format reader announcing the
    /// metadata it needs next). A remote device fetches them concurrently into its cache;
    /// the default ignores it. Never an error: a later read reports any.
    fn prefetch(&self, _ranges: &[(u64, u64)]) {}
}

/// A device that can also be written. Writes take `&self`; implementations use interior
/// mutability so that a reader and a writer can share one device.
pub trait WritableDev: BlockDev {
    /// Write all of `buf` at `offset` (within [`BlockDev::len`]).
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Make every write so far durable (fsync on files).
    fn flush(&self) -> Result<(), BlockError>;
}

impl<T: BlockDev + ?Sized> BlockDev for Arc<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_at(offset, buf)
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        (**self).extents(offset, len)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        (**self).prefetch(ranges)
    }
}

impl<T: WritableDev + ?Sized> WritableDev for Arc<T> {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write_at(offset, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// Check that `[offset, offset+len)` lies inside a device of `dev_len` bytes.
pub fn check_range(dev: &str, dev_len: u64, offset: u64, len: usize) -> Result<(), BlockError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= dev_len => Ok(()),
        _ => Err(BlockError::OutOfRange {
            dev: dev.to_string(),
            offset,
            len: len as u64,
            size: dev_len,
        }),
    }
}

impl<T: BlockDev + ?Sized> BlockDev for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_at(offset, buf)
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        (**self).extents(offset, len)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        (**self).prefetch(ranges)
    }
}

impl<T: WritableDev + ?Sized> WritableDev for &T {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write_at(offset, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// How to open an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Allow a qcow2/VHD backing (parent) file outside the image's own folder.
    pub allow_outside_backing: bool,
}

/// Deepest backing-file chain accepted (image + this many backing files).
pub const MAX_BACKING_DEPTH: usize = 16;

/// Facts about a container (`guestfix inspect --json`, checks FMT-1..5).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    /// "raw", "qcow2", "vhd", "vhdx", "vmdk", "ova".
    pub format: String,
    /// "v2"/"v3" (qcow2), "fixed"/"dynamic" (VHD, VHDX), "streamOptimized"/"monolithicSparse"/
    /// "monolithicFlat" (VMDK).
    pub subformat: Option<String>,
    /// Size of the virtual disk in bytes (for an OVA: of its first disk).
    pub virtual_size: u64,
    /// Size of the container file on the host (allocated size of the image).
    pub file_size: u64,
    /// Backing / parent file as named in the image.
    pub backing_file: Option<String>,
    /// The backing file's format as named in the image (qcow2's backing format extension).
    pub backing_format: Option<String>,
    /// For an OVA: its disks in OVF order.
    pub disks: Vec<OvaDiskInfo>,
}

/// One disk of an OVA.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OvaDiskInfo {
    /// File name in the tar (OVF References/File href).
    pub href: String,
    /// OVF DiskSection diskId.
    pub disk_id: String,
    /// Byte offset of the disk file inside the tar.
    pub offset: u64,
    /// The disk file's size in the tar, in bytes.
    pub file_size: u64,
    /// The disk file's own container facts.
    pub format: String,
    /// Its subformat, as [`ContainerInfo::subformat`].
    pub subformat: Option<String>,
    /// Its virtual disk size, in bytes.
    pub virtual_size: u64,
}

impl ContainerInfo {
    pub(crate) fn simple(
        format: &str,
        subformat: Option<&str>,
        virtual_size: u64,
        file_size: u64,
    ) -> Self {
        ContainerInfo {
            format: format.into(),
            subformat: subformat.map(Into::into),
            virtual_size,
            file_size,
            backing_file: None,
            backing_format: None,
            disks: Vec::new(),
        }
    }
}

/// Where an image was opened from: resolves backing/parent/extent files and guards the chain.
pub(crate) struct Ctx<'a> {
    pub opts: &'a OpenOptions,
    /// Canonical folder of the image file; `None` when the image comes from memory or an OVA
    /// (then no other host file may be opened).
    pub dir: Option<PathBuf>,
    /// URL of a remote image: files it names are resolved against it (`dir` is then `None`).
    pub base_url: Option<String>,
    /// Canonical paths (or URLs) of the chain opened so far (loop detection).
    pub chain: Vec<PathBuf>,
}

impl Ctx<'_> {
    /// Resolve a file named by the image at `image` (relative names are next to the image),
    /// refusing files outside the image's folder unless allowed.
    pub fn resolve(&self, image: &str, name: &str) -> Result<PathBuf, BlockError> {
        // A remote image's files are next to its URL; a URL named by a local image is outside
        // its folder by definition.
        let url = match &self.base_url {
            Some(base) => Some(remote::join(base, name)?),
            None => remote::is_url(name).then(|| name.to_string()),
        };
        if let Some(url) = url {
            let inside = self
                .base_url
                .as_deref()
                .is_some_and(|base| remote::in_folder(base, &url));
            if !inside && !self.opts.allow_outside_backing {
                return Err(BlockError::BackingOutside {
                    path: image.into(),
                    backing: url.into(),
                });
            }
            return Ok(url.into());
        }
        let Some(dir) = &self.dir else {
            return Err(BlockError::BackingUnavailable {
                path: image.into(),
                backing: name.to_string(),
            });
        };
        let p = Path::new(name);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        };
        let canon = joined.canonicalize().map_err(|source| BlockError::Io {
            path: joined.clone(),
            source,
        })?;
        if !self.opts.allow_outside_backing && !canon.starts_with(dir) {
            return Err(BlockError::BackingOutside {
                path: image.into(),
                backing: canon,
            });
        }
        Ok(canon)
    }

    /// Open a backing file named by the image at `image`.
    pub fn open_backing(&self, image: &str, name: &str) -> Result<Arc<dyn BlockDev>, BlockError> {
        let canon = self.resolve(image, name)?;
        let opened = open_path(&canon, self.opts, &self.chain)?;
        opened
            .disks
            .into_iter()
            .next()
            .ok_or_else(|| BlockError::corrupt(image, format!("backing file {name} holds no disk")))
    }
}

/// The disks of one opened container and its facts.
pub(crate) struct Opened {
    pub disks: Vec<Arc<dyn BlockDev>>,
    pub info: ContainerInfo,
}

/// Open a file named by an image (a VMDK extent): a host file, or a remote object by URL.
pub(crate) fn open_file(path: &Path) -> Result<Arc<dyn BlockDev>, BlockError> {
    match path.to_str().filter(|s| remote::is_url(s)) {
        Some(url) => Ok(Arc::new(remote::open(url)?)),
        None => Ok(Arc::new(raw::RawFile::open(path)?)),
    }
}

/// Open a remote image (`http(s)://`, `s3://`): files it names are resolved against its URL.
fn open_url(url: &str, opts: &OpenOptions, chain: &[PathBuf]) -> Result<Opened, BlockError> {
    let key = PathBuf::from(url);
    if chain.contains(&key) {
        return Err(BlockError::BackingLoop {
            path: chain.last().cloned().unwrap_or_else(|| key.clone()),
            backing: key,
        });
    }
    if chain.len() > MAX_BACKING_DEPTH {
        return Err(BlockError::BackingTooDeep {
            path: key,
            limit: MAX_BACKING_DEPTH,
        });
    }
    let file: Arc<dyn BlockDev> = Arc::new(remote::open(url)?);
    let mut new_chain = chain.to_vec();
    new_chain.push(key);
    let ctx = Ctx {
        opts,
        dir: None,
        base_url: Some(url.to_string()),
        chain: new_chain,
    };
    open_container(file, &ctx)
}

fn open_path(path: &Path, opts: &OpenOptions, chain: &[PathBuf]) -> Result<Opened, BlockError> {
    if let Some(url) = path.to_str().filter(|s| remote::is_url(s)) {
        return open_url(url, opts, chain);
    }
    let canon = path.canonicalize().map_err(|source| BlockError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if chain.contains(&canon) {
        return Err(BlockError::BackingLoop {
            path: chain.last().cloned().unwrap_or_else(|| canon.clone()),
            backing: canon,
        });
    }
    if chain.len() > MAX_BACKING_DEPTH {
        return Err(BlockError::BackingTooDeep {
            path: canon,
            limit: MAX_BACKING_DEPTH,
        });
    }
    let file: Arc<dyn BlockDev> = Arc::new(raw::RawFile::open(path)?);
    let mut new_chain = chain.to_vec();
    new_chain.push(canon.clone());
    let ctx = Ctx {
        opts,
        dir: canon.parent().map(Path::to_path_buf),
        base_url: None,
        chain: new_chain,
    };
    open_container(file, &ctx)
}

/// Container formats recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No container: the bytes are the disk.
    Raw,
    /// QEMU copy-on-write, v2 or v3.
    Qcow2,
    /// Virtual PC / Hyper-V VHD (fixed or dynamic).
    Vhd,
    /// Hyper-V VHDX.
    Vhdx,
    /// A VMDK sparse extent (monolithicSparse or streamOptimized).
    VmdkSparse,
    /// A VMDK text descriptor naming its extents.
    VmdkDescriptor,
    /// An OVA: a tar holding an OVF descriptor and disks.
    Ova,
}

/// Name the container format of `file` by its magic numbers and structure.
pub fn detect(file: &dyn BlockDev) -> Result<Format, BlockError> {
    let len = file.len();
    if len == 0 {
        return Err(BlockError::InvalidFormat {
            path: file.describe().into(),
            reason: "the file is empty".into(),
        });
    }
    let mut head = vec![0u8; len.min(1024) as usize];
    file.read_at(0, &mut head)?;
    let h = |o: usize, n: usize| util::sub(&head, o, n);
    if h(0, 4) == qcow2::header::MAGIC {
        return Ok(Format::Qcow2);
    }
    if h(0, 4) == vmdk::sparse::MAGIC || h(0, 4) == b"COWD" {
        return Ok(Format::VmdkSparse);
    }
    if h(0, 8) == b"vhdxfile" {
        return Ok(Format::Vhdx);
    }
    if h(0, 8) == vhd::footer::COOKIE {
        return Ok(Format::Vhd);
    }
    // An OVA is a tar whose first member is the .ovf descriptor (a raw disk may well start
    // with some other tar).
    if h(257, 5) == b"ustar"
        && ova::tar::first_name(file).is_some_and(|n| n.to_ascii_lowercase().ends_with(".ovf"))
    {
        return Ok(Format::Ova);
    }
    if vmdk::descriptor::looks_like_descriptor(&head) {
        return Ok(Format::VmdkDescriptor);
    }
    if len >= 512 {
        let mut tail = [0u8; 512];
        file.read_at(len - 512, &mut tail)?;
        if util::sub(&tail, 0, 8) == vhd::footer::COOKIE {
            return Ok(Format::Vhd);
        }
    }
    Ok(Format::Raw)
}

/// Detect and open the container held by `file`.
pub(crate) fn open_container(file: Arc<dyn BlockDev>, ctx: &Ctx) -> Result<Opened, BlockError> {
    let one = |dev: Arc<dyn BlockDev>, info: ContainerInfo| Opened {
        disks: vec![dev],
        info,
    };
    Ok(match detect(&*file)? {
        Format::Raw => {
            let info = ContainerInfo::simple("raw", None, file.len(), file.len());
            one(file, info)
        }
        Format::Qcow2 => {
            let q = qcow2::Qcow2::open(file, ctx)?;
            let info = q.info();
            one(Arc::new(q), info)
        }
        Format::Vhd => {
            let v = vhd::Vhd::open(file, ctx)?;
            let info = v.info();
            one(Arc::new(v), info)
        }
        Format::Vhdx => {
            let v = vhdx::Vhdx::open(file)?;
            let info = v.info();
            one(Arc::new(v), info)
        }
        Format::VmdkSparse => {
            let v = vmdk::open_sparse_file(file)?;
            let info = v.info();
            one(v, info)
        }
        Format::VmdkDescriptor => {
            let (dev, info) = vmdk::open_descriptor_file(file, ctx)?;
            one(dev, info)
        }
        Format::Ova => ova::open(file, ctx)?,
    })
}

/// Open a disk image read-only, detecting its container format by content (not by extension).
/// For an OVA this is its first disk in OVF order; use [`open_all`] for every disk.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Arc<dyn BlockDev>, BlockError> {
    let o = open_path(path, opts, &[])?;
    o.disks
        .into_iter()
        .next()
        .ok_or_else(|| BlockError::InvalidFormat {
            path: path.to_path_buf(),
            reason: "the container holds no disk".into(),
        })
}

/// Open every disk of an image: one for a plain image, all disks in OVF order for an OVA.
pub fn open_all(path: &Path, opts: &OpenOptions) -> Result<Vec<Arc<dyn BlockDev>>, BlockError> {
    Ok(open_path(path, opts, &[])?.disks)
}

/// Open an image and return its disks together with its container facts.
pub fn open_with_info(
    path: &Path,
    opts: &OpenOptions,
) -> Result<(Vec<Arc<dyn BlockDev>>, ContainerInfo), BlockError> {
    let o = open_path(path, opts, &[])?;
    Ok((o.disks, o.info))
}

/// Container facts of an image (format, sizes, backing file, OVA disk list).
pub fn info(path: &Path, opts: &OpenOptions) -> Result<ContainerInfo, BlockError> {
    Ok(open_path(path, opts, &[])?.info)
}

/// Open a container held by any device (a [`raw::MemDisk`] in fuzzing, a slice of a file …).
/// No other host file is ever opened: images naming a backing file or flat extent are refused.
pub fn open_dev(
    file: Arc<dyn BlockDev>,
) -> Result<(Vec<Arc<dyn BlockDev>>, ContainerInfo), BlockError> {
    let opts = OpenOptions::default();
    let ctx = Ctx {
        opts: &opts,
        dir: None,
        base_url: None,
        chain: Vec::new(),
    };
    let o = open_container(file, &ctx)?;
    Ok((o.disks, o.info))
}
