//! The boot sector (sector 0): geometry and where `$MFT` and `$MFTMirr` start.

use super::error::{NtfsWriteError, corrupt};
use super::record::{r16, r64};

/// Largest cluster this writer accepts (NTFS allows up to 2 MiB).
pub const MAX_CLUSTER: u64 = 2 << 20;

/// What the boot sector says, checked.
#[derive(Debug, Clone)]
pub struct Boot {
    pub cluster: u64,
    pub total_clusters: u64,
    pub mft_lcn: u64,
    pub mftmirr_lcn: u64,
    pub record_size: u64,
    pub index_size: u64,
}

/// Size of an MFT record or index block from its boot-sector byte: clusters when positive,
/// `2^-v` bytes when negative.
fn unit_size(v: u8, cluster: u64, what: &str) -> Result<u64, NtfsWriteError> {
    let v = v as i8;
    let size = if v > 0 {
        cluster.saturating_mul(v as u64)
    } else {
        let sh = u32::from(v.unsigned_abs());
        if sh > 31 {
            return Err(corrupt("boot sector", format!("{what} size 2^{sh}")));
        }
        1u64 << sh
    };
    if !size.is_power_of_two() || !(512..=65536).contains(&size) {
        return Err(corrupt("boot sector", format!("{what} size {size}")));
    }
    Ok(size)
}

impl Boot {
    pub fn parse(b: &[u8]) -> Result<Boot, NtfsWriteError> {
        let oem = b.get(3..11).unwrap_or(&[]);
        if oem == b"-FVE-FS-" {
            return Err(NtfsWriteError::BitLocker);
        }
        if oem != b"NTFS    " {
            return Err(NtfsWriteError::NotNtfs(format!(
                "OEM id {:?}",
                String::from_utf8_lossy(oem)
            )));
        }
        if b.get(0x1FE..0x200) != Some(&[0x55, 0xAA][..]) {
            return Err(corrupt("boot sector", "no 55 AA signature"));
        }
        let sector = u64::from(r16(b, 0x0B));
        if !sector.is_power_of_two() || !(256..=4096).contains(&sector) {
            return Err(corrupt("boot sector", format!("sector size {sector}")));
        }
        let spc_raw = b.get(0x0D).copied().unwrap_or(0);
        let spc = if spc_raw <= 0x80 {
            u64::from(spc_raw)
        } else {
            let sh = 256 - u32::from(spc_raw);
            if sh > 20 {
                return Err(corrupt(
                    "boot sector",
                    format!("sectors per cluster byte {spc_raw:#x}"),
                ));
            }
            1u64 << sh
        };
        if spc == 0 || !spc.is_power_of_two() {
            return Err(corrupt("boot sector", format!("sectors per cluster {spc}")));
        }
        let cluster = sector * spc;
        if cluster > MAX_CLUSTER {
            return Err(NtfsWriteError::Unsupported(format!(
                "cluster size {cluster}"
            )));
        }
        let total_sectors = r64(b, 0x28);
        let total_clusters = total_sectors / spc;
        let mft_lcn = r64(b, 0x30);
        let mftmirr_lcn = r64(b, 0x38);
        if total_clusters == 0 || mft_lcn >= total_clusters || mftmirr_lcn >= total_clusters {
            return Err(corrupt(
                "boot sector",
                format!("$MFT at {mft_lcn}, $MFTMirr at {mftmirr_lcn}, {total_clusters} clusters"),
            ));
        }
        let record_size = unit_size(b.get(0x40).copied().unwrap_or(0), cluster, "MFT record")?;
        let index_size = unit_size(b.get(0x44).copied().unwrap_or(0), cluster, "index block")?;
        Ok(Boot {
            cluster,
            total_clusters,
            mft_lcn,
            mftmirr_lcn,
            record_size,
            index_size,
        })
    }
}
