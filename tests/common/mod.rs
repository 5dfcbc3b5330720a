//! Shared by the tests that need the built test images (`mod common;` in each).

use std::path::PathBuf;

/// The images folder, from GUESTFIX_TEST_IMAGES (scripts/test.sh sets it). Without it the
/// caller skips, saying so loudly; with GUESTFIX_REQUIRE_IMAGES set a missing folder fails.
#[allow(dead_code)]
pub fn images_dir() -> Option<PathBuf> {
    match std::env::var_os("GUESTFIX_TEST_IMAGES") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            assert!(
                std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
                "GUESTFIX_REQUIRE_IMAGES is set but GUESTFIX_TEST_IMAGES is not"
            );
            eprintln!("\n*** SKIPPED: GUESTFIX_TEST_IMAGES is not set; run scripts/test.sh ***\n");
            None
        }
    }
}

/// `(image file, manifest)` for every partition `index.json` in `dir` lists with one of
/// `fs_types` and a manifest, in images that were built: what a manifest-walk test must have
/// compared, so that it cannot pass by finding nothing.
#[allow(dead_code)]
pub fn indexed_manifests(dir: &std::path::Path, fs_types: &[&str]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("index.json"))
        .unwrap_or_else(|e| panic!("{}/index.json: {e}", dir.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("index.json parses");
    let mut out = Vec::new();
    for img in v["images"].as_array().expect("index.json has images") {
        let Some(file) = img["file"].as_str() else {
            continue;
        };
        if !dir.join(file).is_file() {
            continue;
        }
        for p in img["partitions"].as_array().into_iter().flatten() {
            if let (Some(m), Some(fs)) = (p["manifest"].as_str(), p["fs"].as_str()) {
                if fs_types.contains(&fs) && dir.join(m).is_file() {
                    out.push((file.to_string(), m.to_string()));
                }
            }
        }
    }
    out
}

/// Run a host tool (panics when it cannot be started).
#[allow(dead_code)]
pub fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

/// The stdout of a command that must have succeeded (its output in the failure message).
#[allow(dead_code)]
pub fn ok(o: &std::process::Output, what: &str) -> Vec<u8> {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout.clone()
}

/// Run a guestfish script with the project's libguestfs settings (`scripts/libguestfs-env.sh`;
/// `ntfs3` picks the appliance kernel that has the kernel's NTFS driver). Returns None, saying
/// so, only when guestfish is not installed and GUESTFIX_ALLOW_SKIP=1; otherwise a missing
/// guestfish fails the caller (scripts/install-deps.sh installs it).
#[allow(dead_code)]
pub fn guestfish(script: &str, ntfs3: bool) -> Option<std::process::Output> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let have = Command::new("sh")
        .args(["-c", "command -v guestfish"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("GUESTFIX_ALLOW_SKIP").is_ok_and(|v| v == "1"),
            "guestfish (libguestfs-tools) is not installed; scripts/install-deps.sh installs it \
             (GUESTFIX_ALLOW_SKIP=1 to skip the kernel judge)"
        );
        eprintln!("\n*** SKIPPING the kernel judge: guestfish is not installed ***\n");
        return None;
    }
    let env = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libguestfs-env.sh");
    let mut c = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && guestfish", env.display()))
        .env("GUESTFIX_KERNEL_NTFS3", if ntfs3 { "1" } else { "" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bash");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the guestfish script");
    Some(c.wait_with_output().expect("guestfish"))
}

/// moto's S3 server (`python3 -m moto.server`, PyPI `moto[server]`) on a loopback port, with
/// a bucket `images` holding `objects` (key, local file); killed when dropped.
#[allow(dead_code)]
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start [`Moto`]. A missing moto fails the caller unless GUESTFIX_ALLOW_SKIP=1 (then None,
/// said loudly); scripts/install-deps.sh installs it.
#[allow(dead_code)]
pub fn moto(objects: &[(&str, &std::path::Path)]) -> Option<Moto> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let have = Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let msg = "moto_server (python3 -m moto.server) is not installed (scripts/install-deps.sh)";
        if std::env::var("GUESTFIX_ALLOW_SKIP").is_ok_and(|v| v == "1") {
            eprintln!("\n*** SKIPPED: {msg} (GUESTFIX_ALLOW_SKIP=1) ***\n");
            return None;
        }
        panic!("{msg}; set GUESTFIX_ALLOW_SKIP=1 to skip instead");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let mut m = Moto { child, port };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = m.child.try_wait() {
            panic!("moto_server exited before listening: {st}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "moto_server did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // moto does not check signatures: plain PUTs create the bucket and upload.
    let base = format!("http://127.0.0.1:{port}/images");
    ureq::put(&base).call().expect("create the bucket");
    for (key, path) in objects {
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ureq::put(&format!("{base}/{key}"))
            .send(f)
            .unwrap_or_else(|e| panic!("upload {key}: {e}"));
    }
    Some(m)
}

/// `rpm -qa` on a database directory with the `rpm` binary given and the database backend
/// named (`sqlite`, `ndb`, `bdb_ro`): "name epoch version release arch" lines, sorted.
#[allow(dead_code)]
pub fn rpm_qa(rpm: &str, dbdir: &std::path::Path, backend: &str) -> Vec<String> {
    let o = std::process::Command::new(rpm)
        .args(["-qa", "--dbpath"])
        .arg(dbdir)
        .args([
            "--define",
            &format!("_db_backend {backend}"),
            "--queryformat",
            "%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\\n",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut v: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}
