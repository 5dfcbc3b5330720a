//! Inode allocation: from existing inode chunks (the inobt record of a chunk with a free inode,
//! sparse-inode holes respected, loses that inode, the finobt record is updated or removed,
//! and the AGI free count drops), and new 64-inode chunks ([`new_chunk`]).

use super::Geo;
use super::ag::{AGI_CRC_OFF, AgState};
use super::be::{get16, get32, get64, put32, set_crc};
use super::error::{XfsWriteError, corrupt};

/// An inobt/finobt record.
#[derive(Debug, Clone, Copy)]
struct Rec {
    startino: u32,
    holemask: u16,
    count: u8,
    freecount: u32,
    free: u64,
}

fn decode(r: &[u8], sparse: bool) -> Result<Rec, XfsWriteError> {
    let w = "inobt record";
    Ok(if sparse {
        Rec {
            startino: get32(r, 0, w)?,
            holemask: get16(r, 4, w)?,
            count: r.get(6).copied().unwrap_or(0),
            freecount: u32::from(r.get(7).copied().unwrap_or(0)),
            free: get64(r, 8, w)?,
        }
    } else {
        Rec {
            startino: get32(r, 0, w)?,
            holemask: 0,
            count: 64,
            freecount: get32(r, 4, w)?,
            free: get64(r, 8, w)?,
        }
    })
}

fn encode(r: &Rec, sparse: bool) -> Vec<u8> {
    let mut v = r.startino.to_be_bytes().to_vec();
    if sparse {
        v.extend_from_slice(&r.holemask.to_be_bytes());
        v.push(r.count);
        v.push(r.freecount as u8);
    } else {
        v.extend_from_slice(&r.freecount.to_be_bytes());
    }
    v.extend_from_slice(&r.free.to_be_bytes());
    v
}

/// Take one free inode of AG `ag` in memory; returns its AG inode number, or `None` when the
/// AG has none. Refuses when the finobt would change shape.
pub fn take(ag: &mut AgState, geo: &Geo) -> Result<Option<u32>, XfsWriteError> {
    let sparse = geo.spinodes;
    let mut recs = Vec::with_capacity(ag.ino.recs.len());
    for r in &ag.ino.recs {
        recs.push(decode(r, sparse)?);
    }
    let mut found = None;
    for (i, r) in recs.iter().enumerate() {
        for bit in 0..64u32 {
            let hole = sparse && (r.holemask >> (bit / 4)) & 1 != 0;
            if !hole && r.free & (1u64 << bit) != 0 {
                found = Some((i, bit));
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let Some((i, bit)) = found else {
        return Ok(None);
    };
    let what = format!("inobt of AG {}", ag.agno);
    let mut rec = *recs.get(i).ok_or_else(|| corrupt(&what, "record index"))?;
    if rec.freecount == 0 {
        return Err(corrupt(
            &what,
            "free inode in a chunk whose free count is 0",
        ));
    }
    rec.free &= !(1u64 << bit);
    rec.freecount -= 1;
    let agino = rec
        .startino
        .checked_add(bit)
        .ok_or_else(|| corrupt(&what, "inode number overflows"))?;
    // finobt: same change, or the record goes when no free inode is left.
    let mut new_fino = None;
    if let Some(f) = &ag.fino {
        let mut frecs = Vec::with_capacity(f.recs.len());
        let mut hit = false;
        for r in &f.recs {
            let d = decode(r, sparse)?;
            if d.startino == rec.startino {
                hit = true;
                if rec.freecount > 0 {
                    frecs.push(encode(&rec, sparse));
                }
            } else {
                frecs.push(r.clone());
            }
        }
        if !hit {
            return Err(corrupt(
                format!("finobt of AG {}", ag.agno),
                format!("no record for chunk {} that has free inodes", rec.startino),
            ));
        }
        new_fino = Some(frecs);
    }
    let mut irecs = ag.ino.recs.clone();
    if let Some(slot) = irecs.get_mut(i) {
        *slot = encode(&rec, sparse);
    }
    ag.set_inode_tree(geo, false, irecs)?;
    if let Some(frecs) = new_fino {
        ag.set_inode_tree(geo, true, frecs)?;
    }
    let iw = format!("AGI of AG {}", ag.agno);
    let fc = get32(&ag.agi, 28, &iw)?;
    put32(
        &mut ag.agi,
        28,
        fc.checked_sub(1)
            .ok_or_else(|| corrupt(&iw, "free inode count is 0"))?,
        &iw,
    )?;
    set_crc(&mut ag.agi, AGI_CRC_OFF, &iw)?;
    ag.ino_dirty = true;
    Ok(Some(agino))
}

/// Inodes per chunk (`XFS_INODES_PER_CHUNK`).
pub const CHUNK: u32 = 64;

/// Allocate a new chunk of 64 free inodes in AG `ag` (its blocks aligned to `align` blocks,
/// taken from the free space), in memory: inobt and finobt records inserted, AGI count, free
/// count and newino updated. Returns the chunk's first AG block, or `None` when no aligned run
/// of free blocks holds it. Refuses (before anything is written) when an inode tree would
/// need a split.
pub fn new_chunk(ag: &mut AgState, geo: &Geo, align: u32) -> Result<Option<u32>, XfsWriteError> {
    let inopb = 1u32 << geo.inopblog;
    if inopb > CHUNK {
        return Err(XfsWriteError::UnsupportedFeature(format!(
            "{inopb} inodes per block (more than a chunk)"
        )));
    }
    let blocks = CHUNK / inopb;
    let saved = ag.clone();
    let Some(agbno) = ag.alloc_aligned(blocks, align) else {
        return Ok(None);
    };
    let r = insert_chunk(ag, geo, agbno);
    if r.is_err() {
        *ag = saved;
    }
    r.map(|()| Some(agbno))
}

fn insert_chunk(ag: &mut AgState, geo: &Geo, agbno: u32) -> Result<(), XfsWriteError> {
    let sparse = geo.spinodes;
    let startino = agbno << geo.inopblog;
    let rec = Rec {
        startino,
        holemask: 0,
        count: CHUNK as u8,
        freecount: CHUNK,
        free: u64::MAX,
    };
    let what = format!("inobt of AG {}", ag.agno);
    let insert = |recs: &[Vec<u8>]| -> Result<Vec<Vec<u8>>, XfsWriteError> {
        let mut out = Vec::with_capacity(recs.len() + 1);
        let mut placed = false;
        for r in recs {
            let d = decode(r, sparse)?;
            let end = u64::from(d.startino) + u64::from(CHUNK);
            if u64::from(startino) < end && d.startino < startino + CHUNK {
                return Err(corrupt(
                    &what,
                    format!("chunk {startino} overlaps {}", d.startino),
                ));
            }
            if !placed && d.startino > startino {
                out.push(encode(&rec, sparse));
                placed = true;
            }
            out.push(r.clone());
        }
        if !placed {
            out.push(encode(&rec, sparse));
        }
        Ok(out)
    };
    let irecs = insert(&ag.ino.recs)?;
    ag.set_inode_tree(geo, false, irecs)?;
    if ag.fino.is_some() {
        let frecs = insert(&ag.fino.as_ref().map(|f| f.recs.clone()).unwrap_or_default())?;
        ag.set_inode_tree(geo, true, frecs)?;
    }
    let iw = format!("AGI of AG {}", ag.agno);
    let count = get32(&ag.agi, 16, &iw)?;
    let free = get32(&ag.agi, 28, &iw)?;
    put32(
        &mut ag.agi,
        16,
        count
            .checked_add(CHUNK)
            .ok_or_else(|| corrupt(&iw, "inode count overflows"))?,
        &iw,
    )?;
    put32(
        &mut ag.agi,
        28,
        free.checked_add(CHUNK)
            .ok_or_else(|| corrupt(&iw, "free inode count overflows"))?,
        &iw,
    )?;
    put32(&mut ag.agi, 32, startino, &iw)?;
    set_crc(&mut ag.agi, AGI_CRC_OFF, &iw)?;
    ag.ino_dirty = true;
    Ok(())
}
