//! `guestfix apply IMAGE [--out OVERLAY | --in-place] [--recover]`.

use super::inspect::{json_string, load_profile_with_drivers};
use super::{CliError, EXIT_OK};
use guestfix::apply::{ApplyError, Output, apply, journal};
use guestfix::block::writer::{self, OutFormat};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The default overlay path: `<image>.guestfix.qcow2` beside the source.
pub fn default_out(image: &Path) -> PathBuf {
    let mut p = image.as_os_str().to_owned();
    p.push(".guestfix.qcow2");
    PathBuf::from(p)
}

/// Where `apply` writes, from the command line.
pub struct OutputArgs {
    pub out: Option<PathBuf>,
    pub in_place: bool,
    pub recover: bool,
    /// `--format`: a full image of this format at `out` instead of an overlay.
    pub format: Option<String>,
}

pub fn run(
    images: &[PathBuf],
    json: bool,
    target: &str,
    output: OutputArgs,
    drivers: Option<&std::path::Path>,
) -> Result<u8, CliError> {
    let OutputArgs {
        out,
        in_place,
        recover,
        format,
    } = output;
    let format = format.as_deref();
    let [image] = images else {
        return Err(CliError::usage("apply takes one image"));
    };
    let remote = image.to_str().is_some_and(guestfix::block::remote::is_url);
    if remote && (in_place || recover || out.is_none()) {
        return Err(CliError::usage(format!(
            "{}: a remote image is read-only: give --out LOCAL.qcow2 (an overlay backed by the URL)",
            image.display()
        )));
    }
    let print = |s: String| -> Result<(), CliError> {
        let mut o = std::io::stdout().lock();
        o.write_all(s.as_bytes())
            .and_then(|_| o.flush())
            .map_err(|e| CliError::usage(e.to_string()))
    };
    if recover {
        let r = journal::recover(image).map_err(|e| CliError::image(e.to_string()))?;
        print(if json {
            json_string(&r)?
        } else {
            match r {
                journal::Recovery::NothingToDo => {
                    format!("{}: no interrupted apply to recover\n", image.display())
                }
                journal::Recovery::RolledBack { blocks } => format!(
                    "{}: interrupted apply rolled back ({blocks} blocks restored); the image is the original\n",
                    image.display()
                ),
            }
        })?;
        return Ok(EXIT_OK);
    }
    let profile = load_profile_with_drivers(target, drivers)?;
    let output = if in_place {
        Output::InPlace
    } else {
        let o = out.unwrap_or_else(|| default_out(image));
        if o.exists() {
            return Err(CliError::usage(format!(
                "{} exists; give another --out",
                o.display()
            )));
        }
        Output::Overlay(o)
    };
    // `--format`: the overlay is written beside the output first, then copied into the format.
    let export = match format {
        Some(f) => {
            let fmt: OutFormat = f.parse().map_err(CliError::usage)?;
            let Output::Overlay(final_out) = &output else {
                return Err(CliError::usage("--format needs --out"));
            };
            let name = final_out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = final_out.with_file_name(format!(".{name}.guestfix-overlay.qcow2"));
            let final_out = final_out.clone();
            let _ = std::fs::remove_file(&tmp);
            Some((fmt, final_out, tmp))
        }
        None => None,
    };
    let output = match &export {
        Some((_, _, tmp)) => Output::Overlay(tmp.clone()),
        None => output,
    };
    let spinner = (!json && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("applying plan to {}", image.display()));
        s.enable_steady_tick(std::time::Duration::from_millis(100));
        s
    });
    let r = apply(image, &profile, &output, &super::inspect::inspect_options());
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let mut r = r.map_err(|e| match e {
        ApplyError::Block(ref b) if b.is_access() => CliError::usage(e.to_string()),
        ApplyError::Inspect(guestfix::guest::inspect::InspectError::Block(ref b))
            if b.is_access() =>
        {
            CliError::usage(e.to_string())
        }
        e => CliError::image(e.to_string()),
    })?;
    if let Some((fmt, final_out, tmp)) = &export {
        let done = export_overlay(tmp, final_out, *fmt);
        let _ = std::fs::remove_file(tmp);
        if done.is_err() {
            let _ = std::fs::remove_file(final_out);
        }
        done?;
        r.output = final_out.display().to_string();
    }
    if json {
        print(json_string(&r)?)?;
    } else {
        let mut t = String::new();
        for p in &r.plans {
            t.push_str(&p.render_text());
        }
        t.push_str(&format!(
            "\n{} {} file(s) into {}{}\n",
            if r.unchanged {
                "nothing to change; wrote"
            } else {
                "applied:"
            },
            r.written.len(),
            r.output,
            if r.in_place {
                " (in place)"
            } else {
                " (overlay; the source is untouched)"
            }
        ));
        for w in &r.written {
            t.push_str(&format!(
                "  {:<7} {} ({} bytes, sha256 {}){}{}\n",
                w.action,
                w.path,
                w.bytes,
                &w.sha256[..16],
                w.backup
                    .as_ref()
                    .map(|b| format!(", original kept as {b}"))
                    .unwrap_or_default(),
                if w.verified { ", verified" } else { "" }
            ));
        }
        print(t)?;
    }
    Ok(EXIT_OK)
}

/// Copy the overlay `tmp` (backed by the source the user named) into a full image at `out`.
fn export_overlay(tmp: &Path, out: &Path, fmt: OutFormat) -> Result<(), CliError> {
    // The overlay's backing file is the source given on this command line: allowed wherever
    // it lies.
    let opts = guestfix::block::OpenOptions {
        allow_outside_backing: true,
    };
    let err = |e: guestfix::block::BlockError| {
        if e.is_access() {
            CliError::usage(e.to_string())
        } else {
            CliError::image(e.to_string())
        }
    };
    let dev = guestfix::block::open(tmp, &opts).map_err(err)?;
    writer::copy_image(&*dev, out, fmt, &mut |_| {}).map_err(err)?;
    Ok(())
}
