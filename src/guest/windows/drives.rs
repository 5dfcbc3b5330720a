//! Drive letters: `SYSTEM\MountedDevices` `\DosDevices\X:` values name a partition either by
//! MBR disk signature + byte offset (12 bytes) or by GPT partition GUID (`DMIO:ID:` + 16 bytes,
//! little-endian GUID). They are matched against our volume names to give virt-inspector's
//! `drive_mappings` (`C` → `/dev/sda2`).

use std::collections::BTreeMap;

/// What a volume offers for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolRef {
    /// The volume's device name (`/dev/sda2`).
    pub name: String,
    /// Its disk's MBR signature.
    pub disk_signature: Option<u32>,
    /// Its byte offset on the disk.
    pub start: u64,
    /// GPT unique partition GUID (lower or upper case, with dashes).
    pub partuuid: Option<String>,
}

/// What one MountedDevices value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountedDevice {
    /// A partition of an MBR disk.
    Mbr {
        /// The disk signature.
        signature: u32,
        /// The partition's byte offset.
        offset: u64,
    },
    /// A GPT partition.
    Gpt {
        /// Its unique partition GUID.
        guid: String,
    },
    /// A device path (`\??\IDE#CdRom…`, `\??\Volume{…}`) that names no partition of ours.
    Other(String),
}

/// Format a little-endian (mixed-endian) GUID as text.
pub fn guid_le(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Decode a MountedDevices value.
pub fn decode(data: &[u8]) -> MountedDevice {
    if data.len() == 12 {
        let mut sig = [0u8; 4];
        let mut off = [0u8; 8];
        sig.copy_from_slice(data.get(..4).unwrap_or(&[0; 4]));
        off.copy_from_slice(data.get(4..12).unwrap_or(&[0; 8]));
        return MountedDevice::Mbr {
            signature: u32::from_le_bytes(sig),
            offset: u64::from_le_bytes(off),
        };
    }
    if let Some(rest) = data.strip_prefix(b"DMIO:ID:") {
        if let Some(g) = rest.get(..16) {
            let mut b = [0u8; 16];
            b.copy_from_slice(g);
            return MountedDevice::Gpt { guid: guid_le(&b) };
        }
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|u| *u != 0)
        .collect();
    MountedDevice::Other(String::from_utf16_lossy(&units))
}

/// The volume a MountedDevices value names, if any.
pub fn resolve<'a>(data: &[u8], vols: &'a [VolRef]) -> Option<&'a VolRef> {
    match decode(data) {
        MountedDevice::Mbr { signature, offset } => vols
            .iter()
            .find(|v| v.disk_signature == Some(signature) && v.start == offset),
        MountedDevice::Gpt { guid } => vols.iter().find(|v| {
            v.partuuid
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&guid))
        }),
        MountedDevice::Other(_) => None,
    }
}

/// Drive letter → volume name, for every letter that resolves.
pub fn drive_mappings(mounted: &[(String, Vec<u8>)], vols: &[VolRef]) -> BTreeMap<String, String> {
    mounted
        .iter()
        .filter_map(|(l, d)| resolve(d, vols).map(|v| (l.clone(), v.name.clone())))
        .collect()
}
