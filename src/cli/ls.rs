//! `guestfix ls IMAGE... [-p PATH] [-l] [-R] [--json]`: list a guest directory (like virt-ls).

use super::CliError;
use guestfix::fs::tree::GuestTree;
use guestfix::fs::{FileType, Metadata};
use guestfix::volume::DiskSet;
use std::io::Write;
use std::path::PathBuf;

/// Open the images, scan them and pick the guest tree `path` refers to.
pub(crate) fn open_tree(
    images: &[PathBuf],
    path: &str,
) -> Result<(GuestTree, String, DiskSet), CliError> {
    let mut devs = Vec::new();
    for i in images {
        let d = guestfix::block::open(i, &guestfix::block::OpenOptions::default())
            .map_err(|e| CliError::usage(e.to_string()))?;
        devs.push(d);
    }
    let set = guestfix::fs::scan_disks(&devs).map_err(|e| CliError::image(e.to_string()))?;
    for w in &set.warnings {
        eprintln!("guestfix: warning: {w}");
    }
    let (tree, p, warnings) =
        guestfix::guest::mount::select(&set, path).map_err(|e| CliError::image(e.to_string()))?;
    for w in warnings {
        eprintln!("guestfix: warning: {w}");
    }
    Ok((tree, p, set))
}

fn type_char(t: FileType) -> char {
    match t {
        FileType::Regular => '-',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        FileType::Unknown => '?',
    }
}

/// `drwxr-xr-x` style mode string.
pub fn mode_string(md: &Metadata) -> String {
    let mut s = String::new();
    s.push(type_char(md.file_type));
    for shift in [6u32, 3, 0] {
        let b = (md.mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Display name, full guest path, metadata, symlink target.
type Row = (String, Vec<u8>, Metadata, Option<Vec<u8>>);

#[derive(serde::Serialize)]
struct JsonEntry {
    path: String,
    #[serde(rename = "type")]
    file_type: FileType,
    mode: String,
    size: u64,
    uid: u32,
    gid: u32,
    mtime: i64,
    link_target: Option<String>,
}

pub fn run(
    images: &[PathBuf],
    path: &str,
    long: bool,
    recursive: bool,
    json: bool,
) -> Result<u8, CliError> {
    let (tree, p, _set) = open_tree(images, path)?;
    let img = |e: guestfix::fs::FsError| CliError::image(format!("{p}: {e}"));
    let base = p.trim_end_matches('/').to_string();
    // (display name, full path, metadata, link target)
    let mut rows: Vec<Row> = Vec::new();
    if recursive {
        for w in tree.walk(p.as_bytes()).map_err(img)? {
            let name = String::from_utf8_lossy(&w.path).into_owned();
            rows.push((name, w.path, w.metadata, w.link_target));
        }
    } else {
        let md = tree.stat(p.as_bytes()).map_err(img)?;
        if md.file_type != FileType::Directory {
            let target = tree.readlink(p.as_bytes()).ok();
            rows.push((p.clone(), p.clone().into_bytes(), md, target));
        } else {
            for e in tree.read_dir(p.as_bytes()).map_err(img)? {
                let mut full = base.clone().into_bytes();
                full.push(b'/');
                full.extend_from_slice(&e.name);
                let md = tree.lstat(&full).map_err(img)?;
                let target = if md.file_type == FileType::Symlink {
                    tree.readlink(&full).ok()
                } else {
                    None
                };
                rows.push((
                    String::from_utf8_lossy(&e.name).into_owned(),
                    full,
                    md,
                    target,
                ));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| CliError::usage(e.to_string());
    if json {
        let v: Vec<JsonEntry> = rows
            .iter()
            .map(|(_, full, md, t)| JsonEntry {
                path: String::from_utf8_lossy(full).into_owned(),
                file_type: md.file_type,
                mode: format!("{:o}", md.mode),
                size: md.size,
                uid: md.uid,
                gid: md.gid,
                mtime: md.mtime,
                link_target: t.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &v).map_err(|e| CliError::usage(e.to_string()))?;
        writeln!(out).map_err(io)?;
        return Ok(super::EXIT_OK);
    }
    for (name, _, md, target) in &rows {
        if long {
            write!(
                out,
                "{} {:>5} {:>5} {:>12} {:>11} {}",
                mode_string(md),
                md.uid,
                md.gid,
                md.size,
                md.mtime,
                name
            )
            .map_err(io)?;
            if let Some(t) = target {
                write!(out, " -> {}", String::from_utf8_lossy(t)).map_err(io)?;
            }
            writeln!(out).map_err(io)?;
        } else {
            writeln!(out, "{name}").map_err(io)?;
        }
    }
    Ok(super::EXIT_OK)
}
