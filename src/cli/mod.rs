//! Command line: `guestfix inspect | check | plan | apply | convert | ls | cat | rules`, thin over
//! the library. Exit codes: 0 ok, 1 findings/errors in the image (a blocker, a damaged image),
//! 2 usage or I/O error.

pub mod apply;
pub mod cat;
mod convert;
pub mod inspect;
pub mod ls;
pub mod rules;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code: everything fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: the image has findings (a blocker) or is itself damaged.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage error, or an I/O error on the host.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "guestfix",
    version,
    about = "Offline guest-OS surgery for VM disk images"
)]
pub struct Cli {
    /// Allow a qcow2/VHD backing (parent) file outside the image's own folder (e.g. to read an
    /// overlay that `apply --out` wrote elsewhere).
    #[arg(long, global = true)]
    pub allow_outside_backing: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Find the operating systems on a disk set and report the facts about each.
    Inspect {
        /// Disk images (one guest may span several): paths, or `http(s)://` and
        /// `s3://BUCKET/KEY` URLs read by byte range.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
        /// virt-inspector compatible XML output.
        #[arg(long, conflicts_with = "json")]
        xml: bool,
        /// Skip decompressing initramfs images (drivers and LNX-8 readability stay unknown).
        #[arg(long)]
        quick: bool,
    },
    /// Pre-flight check of an image against the target platform's import requirements.
    Check {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Target platform profile (rules/<target>.toml).
        #[arg(long, default_value = "ec2")]
        target: String,
        /// Skip decompressing initramfs images: the LNX-3/LNX-8 initramfs checks are then
        /// reported as not examined (info) instead of judged.
        #[arg(long)]
        quick: bool,
    },
    /// Show the changes `apply` would make, as unified diffs.
    Plan {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "ec2")]
        target: String,
        /// Skip decompressing initramfs images: the same changes are planned (a MOD-L1 rule with
        /// a modules_dir still reads the initramfs it extends), but the report of which
        /// drivers the initramfs lacks is left out.
        #[arg(long)]
        quick: bool,
        /// A folder of Windows drivers (INF files with their binaries, e.g. virtio-win's tree):
        /// the storage and network drivers for the guest's Windows release are installed
        /// (MOD-W1, MOD-W2).
        #[arg(long, value_name = "DIR")]
        drivers: Option<PathBuf>,
    },
    /// Apply the plan: write a new copy-on-write overlay (default) or change the image in place.
    Apply {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "ec2")]
        target: String,
        /// Output overlay (qcow2 backed by the source image).
        #[arg(long, conflicts_with = "in_place")]
        out: Option<PathBuf>,
        /// Change the source image itself (crash-safe, with an undo journal).
        #[arg(long)]
        in_place: bool,
        /// Write the result as a full image of this format instead of an overlay (raw, qcow2,
        /// vmdk, vhd, vhd-fixed, vhdx, ova); needs --out.
        #[arg(long, requires = "out", conflicts_with = "in_place")]
        format: Option<String>,
        /// Finish or roll back an interrupted in-place apply.
        #[arg(long)]
        recover: bool,
        /// A folder of Windows drivers (INF files with their binaries, e.g. virtio-win's tree):
        /// the storage and network drivers for the guest's Windows release are installed
        /// (MOD-W1, MOD-W2).
        #[arg(long, value_name = "DIR")]
        drivers: Option<PathBuf>,
    },
    /// Convert an image to another container format.
    Convert {
        image: PathBuf,
        out: PathBuf,
        #[arg(long, default_value = "qcow2")]
        format: String,
        #[arg(long)]
        json: bool,
    },
    /// List a directory of the guest (like virt-ls).
    Ls {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Guest path (`/etc`, `C:\Windows`) or device path (`/dev/sda2:/etc`).
        #[arg(long, short = 'p', default_value = "/")]
        path: String,
        #[arg(short = 'l')]
        long: bool,
        #[arg(short = 'R')]
        recursive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a file of the guest (like virt-cat).
    Cat {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long, short = 'p')]
        path: String,
        #[arg(long)]
        json: bool,
    },
    /// List or explain the rules of a target profile.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesAction {
    /// List every rule of a profile.
    List {
        #[arg(long, default_value = "ec2")]
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// Explain one rule.
    Explain {
        id: String,
        #[arg(long, default_value = "ec2")]
        target: String,
        #[arg(long)]
        json: bool,
    },
}

static ALLOW_OUTSIDE_BACKING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The block-layer options every command opens images with.
pub fn block_options() -> guestfix::block::OpenOptions {
    guestfix::block::OpenOptions {
        allow_outside_backing: ALLOW_OUTSIDE_BACKING.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Parse the command line, run, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("guestfix: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }
    pub fn image(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_FINDINGS,
        }
    }
    fn exit_code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    if cli.allow_outside_backing {
        // Read by every image-opening command through `block_options()`.
        ALLOW_OUTSIDE_BACKING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    match cli.command {
        Command::Ls {
            images,
            path,
            long,
            recursive,
            json,
        } => ls::run(&images, &path, long, recursive, json),
        Command::Cat { images, path, json } => cat::run(&images, &path, json),
        Command::Inspect {
            images,
            json,
            xml,
            quick,
        } => inspect::run_inspect(&images, json, xml, quick),
        Command::Check {
            images,
            json,
            target,
            quick,
        } => inspect::run_check(&images, json, &target, quick),
        Command::Plan {
            images,
            json,
            target,
            quick,
            drivers,
        } => inspect::run_plan(&images, json, &target, quick, drivers.as_deref()),
        Command::Apply {
            images,
            json,
            target,
            out,
            in_place,
            format,
            recover,
            drivers,
        } => apply::run(
            &images,
            json,
            &target,
            apply::OutputArgs {
                out,
                in_place,
                recover,
                format,
            },
            drivers.as_deref(),
        ),
        Command::Convert {
            image,
            out,
            format,
            json,
        } => convert::run(&image, &out, &format, json),
        Command::Rules { action } => match action {
            RulesAction::List { target, json } => rules::list(&target, json),
            RulesAction::Explain { id, target, json } => rules::explain(&id, &target, json),
        },
    }
}
