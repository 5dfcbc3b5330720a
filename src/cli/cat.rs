//! `guestfix cat IMAGE... -p PATH [--json]`: print a guest file (like virt-cat). Symlinks are
//! followed inside the guest only.

use super::CliError;
use sha2::Digest;
use std::io::Write;
use std::path::PathBuf;

/// Largest file `--json` embeds.
pub const JSON_LIMIT: u64 = 64 << 20;

pub fn run(images: &[PathBuf], path: &str, json: bool) -> Result<u8, CliError> {
    let (tree, p, _set) = super::ls::open_tree(images, path)?;
    let img = |e: guestfix::fs::FsError| CliError::image(format!("{p}: {e}"));
    let (fs, inner) = tree.resolve(p.as_bytes()).map_err(img)?;
    let md = fs.stat(&inner).map_err(img)?;
    if md.file_type != guestfix::fs::FileType::Regular {
        return Err(img(guestfix::fs::FsError::NotAFile(p.clone())));
    }
    let io = |e: std::io::Error| CliError::usage(e.to_string());
    if json {
        let data = fs.read_file(&inner, JSON_LIMIT).map_err(img)?;
        let v = serde_json::json!({
            "path": p,
            "size": data.len(),
            "sha256": hex::encode(sha2::Sha256::digest(&data)),
            "text": String::from_utf8_lossy(&data),
        });
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &v).map_err(|e| CliError::usage(e.to_string()))?;
        writeln!(out).map_err(io)?;
        return Ok(super::EXIT_OK);
    }
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < md.size {
        let n = fs.read_at(&inner, off, &mut buf).map_err(img)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io)?;
        off += n as u64;
    }
    out.flush().map_err(io)?;
    Ok(super::EXIT_OK)
}
