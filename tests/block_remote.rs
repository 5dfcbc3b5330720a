//! Remote images (#25): a real nginx (Debian package `nginx`) and a real S3-compatible server
//! (moto's `moto_server`, PyPI `moto[server]`), each started here on a loopback port with its own
//! configuration in a temp dir, serve the test images; inspecting them by URL must give the same
//! JSON as inspecting the files (except the path), and every bad answer (no ranges, 403/404, a
//! redirect loop, a short read, an object changed mid-read, 5xx, a truncated image) must be a
//! clear error naming the URL. A missing server FAILS these tests unless GUESTFIX_ALLOW_SKIP=1
//! (scripts/install-deps.sh installs both).

mod common;

use guestfix::block::{BlockDev, BlockError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLE: &str = "test-images/sample.qcow2";

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `true` when the server program is there; a missing one panics unless GUESTFIX_ALLOW_SKIP=1.
fn require(cmd: &str) -> bool {
    if have(cmd) {
        return true;
    }
    let msg = format!("{cmd} is not installed (scripts/install-deps.sh)");
    if std::env::var("GUESTFIX_ALLOW_SKIP").is_ok_and(|v| v == "1") {
        eprintln!("\n*** SKIPPED: {msg} (GUESTFIX_ALLOW_SKIP=1) ***\n");
        return false;
    }
    panic!("{msg}; set GUESTFIX_ALLOW_SKIP=1 to skip instead");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited before listening: {st}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Requests the server logged for `path` (nginx's access log).
    fn requests_for(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(self._dir.path().join("access.log")).unwrap_or_default();
        let needle = format!("GET /{path} ");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    fn url(&self, p: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            p.trim_start_matches('/')
        )
    }
}

/// nginx serving `www` (a folder of links to the images) on a loopback port: `/` with ranges,
/// `/norange/` without (`max_ranges 0`), `/redir/` redirecting to `/`, `/loop` redirecting to
/// itself, `/forbidden/` 403, `/flaky/` 503.
fn nginx(www: &Path) -> Option<Server> {
    if !require("nginx") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let w = www.display().to_string();
    let port = free_port();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n\
         access_log {d}/access.log;\nclient_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
         default_type application/octet-stream;\nserver {{\nlisten 127.0.0.1:{port};\n\
         root {w};\nlocation /norange/ {{ alias {w}/; max_ranges 0; }}\n\
         location /redir/ {{ rewrite ^/redir/(.*)$ /$1 redirect; }}\n\
         location = /loop {{ return 302 /loop; }}\nlocation /forbidden/ {{ return 403; }}\n\
         location /flaky/ {{ return 503; }}\n}}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let mut child = Command::new("nginx")
        .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e"])
        .arg(format!("{d}/error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, "nginx");
    Some(Server {
        child,
        port,
        _dir: dir,
    })
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(args)
        .envs(env.iter().copied())
        .env("GUESTFIX_TODAY", "2026-01-01")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `args` run on the local file and on the URL: same exit code, same output but for the name.
fn same_as_local(args: &[&str], local: &Path, url: &str, env: &[(&str, &str)]) {
    let l = local.to_str().unwrap();
    let with = |img: &str| {
        let mut a: Vec<&str> = args.to_vec();
        a.insert(1, img);
        run(&a, env)
    };
    let (lc, lo, le) = with(l);
    let (rc, ro, re) = with(url);
    assert_eq!(
        lc, rc,
        "{args:?}: exit codes differ for {url}\nlocal: {le}\nremote: {re}"
    );
    // A remote image is inspected with the Linux readers side by side (InspectOptions::
    // concurrent_readers), so which reader pays for a lookup first, and with it the read
    // counters, may differ from the local run; every fact must be the same.
    let norm = |s: &str, name: &str| {
        s.replace(name, "IMAGE")
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !l.starts_with("\"bytes_read\":") && !l.starts_with("\"reads\":")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        norm(&lo, l),
        norm(&ro, url),
        "{args:?}: output differs for {url} (stderr: {re})"
    );
}

fn link(www: &Path, name: &str, target: &Path) {
    std::os::unix::fs::symlink(target.canonicalize().unwrap(), www.join(name)).unwrap();
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SAMPLE)
}

#[test]
fn bundled_sample_over_http_same_as_local() {
    let www = tempfile::tempdir().unwrap();
    link(www.path(), "sample.qcow2", &sample());
    let Some(s) = nginx(www.path()) else { return };
    let url = s.url("sample.qcow2");
    let local = sample();
    same_as_local(&["inspect", "--json"], &local, &url, &[]);
    same_as_local(&["check", "--json", "--quick"], &local, &url, &[]);
    same_as_local(&["plan", "--json"], &local, &url, &[]);
    same_as_local(&["ls", "-p", "/etc", "-l"], &local, &url, &[]);
    same_as_local(&["cat", "-p", "/etc/os-release"], &local, &url, &[]);
    // Through a redirect, too.
    same_as_local(
        &["inspect", "--json"],
        &local,
        &s.url("redir/sample.qcow2"),
        &[],
    );
}

#[test]
fn every_test_image_over_http_same_as_local() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let www = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        let image = [".raw", ".qcow2", ".vhd", ".vhdx", ".vmdk", ".ova"]
            .iter()
            .any(|x| n.ends_with(x));
        if image && p.is_file() {
            link(www.path(), &n, &p);
            names.push(n);
        }
    }
    names.sort();
    assert!(!names.is_empty(), "no image in {}", dir.display());
    let Some(s) = nginx(www.path()) else { return };
    for n in &names {
        // Full inspection (initramfs included) of the small sample containers always, and of
        // every image in a release build (scripts/test.sh); a debug build spends ~14 s of CPU
        // per Linux initramfs, so it inspects the big ones with --quick.
        let full = n.starts_with("sample.") || !cfg!(debug_assertions);
        eprintln!("remote inspect{}: {n}", if full { "" } else { " --quick" });
        let args: &[&str] = if full {
            &["inspect", "--json"]
        } else {
            &["inspect", "--json", "--quick"]
        };
        same_as_local(args, &dir.join(n), &s.url(n), &[]);
    }
}

#[test]
fn bad_servers_are_clear_errors_naming_the_url() {
    let www = tempfile::tempdir().unwrap();
    link(www.path(), "sample.qcow2", &sample());
    let Some(s) = nginx(www.path()) else { return };
    let fast = [("GUESTFIX_REMOTE_RETRIES", "1")];
    let cases: [(&str, &str); 5] = [
        ("norange/sample.qcow2", "does not serve byte ranges"),
        ("missing.qcow2", "HTTP 404"),
        ("forbidden/sample.qcow2", "HTTP 403"),
        ("loop", "redirect loop"),
        ("flaky/sample.qcow2", "HTTP 503"),
    ];
    for (path, want) in cases {
        let url = s.url(path);
        for cmd in ["inspect", "check", "ls", "cat"] {
            let mut args = vec![cmd, url.as_str()];
            if cmd == "cat" {
                args.extend(["-p", "/etc/hostname"]);
            }
            let (code, out, err) = run(&args, &fast);
            assert_eq!(code, 2, "{cmd} {url}: {out}{err}");
            assert!(
                err.contains(&url) && err.contains(want),
                "{cmd} {url}: want {want:?}, got {err}"
            );
        }
    }
    // 4xx are never retried (one request per command), 503 is (two attempts per command), and
    // a server without ranges is asked once.
    assert_eq!(s.requests_for("missing.qcow2"), 4);
    assert_eq!(s.requests_for("forbidden/sample.qcow2"), 4);
    assert_eq!(s.requests_for("norange/sample.qcow2"), 4);
    assert_eq!(s.requests_for("flaky/sample.qcow2"), 8);
    let (_, _, err) = run(
        &["inspect", &s.url("flaky/sample.qcow2")],
        &[("GUESTFIX_REMOTE_RETRIES", "2"), ("GUESTFIX_STATS", "1")],
    );
    assert!(err.contains("HTTP 503"), "{err}");
    assert_eq!(s.requests_for("flaky/sample.qcow2"), 11);
    // apply from a bad source writes nothing.
    let t = tempfile::tempdir().unwrap();
    for (path, _) in cases {
        let url = s.url(path);
        for fmt in [None, Some("vhdx")] {
            let out = t.path().join("out.img");
            let mut args = vec!["apply", url.as_str(), "--out", out.to_str().unwrap()];
            if let Some(f) = fmt {
                args.extend(["--format", f]);
            }
            let (code, _, err) = run(&args, &fast);
            assert_eq!(code, 2, "apply {url}: {err}");
            assert!(err.contains(&url), "{err}");
            let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
            assert!(left.is_empty(), "apply {url} left {left:?}");
        }
    }
    // Nothing listens here: a transport error, retried, naming the URL.
    let dead = format!("http://127.0.0.1:{}/x.raw", free_port());
    let (code, _, err) = run(&["inspect", &dead], &fast);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&dead) && err.contains("after 2 attempts"),
        "{err}"
    );
}

#[test]
fn truncated_and_damaged_images_name_the_url() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let www = tempfile::tempdir().unwrap();
    let damaged = dir.join("damaged");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&damaged).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        link(www.path(), &n, &p);
        names.push(n);
    }
    assert!(names.iter().any(|n| n.contains("truncated")));
    let Some(s) = nginx(www.path()) else { return };
    for n in &names {
        let url = s.url(n);
        let local = damaged.join(n);
        let (lc, _, le) = run(&["inspect", local.to_str().unwrap()], &[]);
        let (rc, _, re) = run(&["inspect", &url], &[]);
        assert_eq!(lc, rc, "{n}: {le} / {re}");
        assert_eq!(
            le.replace(local.to_str().unwrap(), "IMAGE"),
            re.replace(&url, "IMAGE"),
            "{n}"
        );
        if n.contains("truncated") {
            assert!(re.contains(&url) && re.contains("truncated"), "{re}");
        }
        // check reports the damage as a finding, as it does locally.
        same_as_local(&["check", "--json", "--quick"], &local, &url, &[]);
    }
}

#[test]
fn object_replaced_during_the_read_is_an_error() {
    let www = tempfile::tempdir().unwrap();
    let f = www.path().join("disk.raw");
    std::fs::write(&f, vec![1u8; 4 << 20]).unwrap();
    let Some(s) = nginx(www.path()) else { return };
    let url = s.url("disk.raw");
    let dev = guestfix::block::remote::open(&url).unwrap();
    assert_eq!(dev.len(), 4 << 20);
    let mut b = vec![0u8; 4096];
    dev.read_at(0, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 1));
    // A new version (other content, other mtime: another ETag).
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    let h = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
    (&h).write_all(&[2u8; 4096]).unwrap();
    h.set_modified(later).unwrap();
    drop(h);
    let e = dev.read_at(3 << 20, &mut b).unwrap_err();
    assert!(matches!(e, BlockError::RemoteChanged { .. }), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
    // The cached first chunk still reads (it is the version that was opened).
    dev.read_at(0, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 1));
    // Requests were counted, and only chunks were fetched, never the object.
    assert!(dev.stats().requests() >= 2);
    assert!(dev.stats().bytes() < 4 << 20);
}

#[test]
fn reads_are_cached_coalesced_and_checked() {
    let www = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..(8u32 << 20) + 12345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::write(www.path().join("d.raw"), &data).unwrap();
    let Some(s) = nginx(www.path()) else { return };
    let dev = guestfix::block::remote::open(&s.url("d.raw")).unwrap();
    let st = dev.stats();
    assert_eq!(dev.len(), data.len() as u64);
    assert_eq!(st.requests(), 1);
    // One read over 3 MiB beyond the first chunk: one request (adjacent misses coalesced).
    let mut b = vec![0u8; 3 << 20];
    dev.read_at(1 << 20, &mut b).unwrap();
    assert_eq!(b, data[1 << 20..4 << 20]);
    assert_eq!(st.requests(), 2);
    // Again: from the cache.
    dev.read_at(1 << 20, &mut b).unwrap();
    assert_eq!(st.requests(), 2);
    // A read over cached and missing chunks fetches only the missing runs, concurrently: with
    // 64 KiB chunks, 1-15, then 64-127 (a run is at most 4 MiB) and 128 (chunk 0 and 16-63
    // are cached).
    let mut b = vec![0u8; 8 << 20];
    let off = data.len() as u64 - b.len() as u64;
    dev.read_at(off, &mut b).unwrap();
    assert_eq!(b, data[off as usize..]);
    assert_eq!(st.requests(), 5);
    // A prefetch hint fetches what is missing (here three separate chunks, concurrently);
    // the reads that follow are served from the cache.
    let dev2 = guestfix::block::remote::open(&s.url("d.raw")).unwrap();
    let st2 = dev2.stats();
    let hint = [(1 << 20, 10), (3 << 20, 10), (5 << 20, 10), (5 << 20, 20)];
    dev2.prefetch(&hint);
    assert_eq!(st2.requests(), 4);
    for (off, len) in hint {
        let mut b = vec![0u8; len as usize];
        dev2.read_at(off, &mut b).unwrap();
        assert_eq!(b, data[off as usize..(off + len) as usize]);
    }
    assert_eq!(st2.requests(), 4);
    // The unaligned tail.
    let mut b = vec![0u8; 100];
    dev.read_at(data.len() as u64 - 100, &mut b).unwrap();
    assert_eq!(b, data[data.len() - 100..]);
    assert!(dev.read_at(data.len() as u64 - 99, &mut b).is_err());
    assert!(st.bytes() <= data.len() as u64 + (256 << 10));
}

/// Readers on many threads that need the same chunks at once (inspection runs its readers side
/// by side) cause one request per chunk run, not one per reader: the others wait for the fetch
/// in flight.
#[test]
fn concurrent_readers_share_one_fetch() {
    let www = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(www.path().join("d.raw"), &data).unwrap();
    let Some(s) = nginx(www.path()) else { return };
    let dev = guestfix::block::remote::open(&s.url("d.raw")).unwrap();
    let st = dev.stats();
    assert_eq!(st.requests(), 1);
    let off = 2u64 << 20;
    std::thread::scope(|sc| {
        for _ in 0..8 {
            sc.spawn(|| {
                let mut b = vec![0u8; 100_000];
                dev.read_at(off, &mut b).unwrap();
                assert_eq!(b, data[off as usize..off as usize + 100_000]);
            });
        }
    });
    assert_eq!(
        st.requests(),
        2,
        "eight readers of the same range: one fetch"
    );
    assert!(st.bytes() <= 4 * guestfix::block::remote::CHUNK);
}

/// A server that answers every range with a 206 whose body stops short and closes.
fn short_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut req = [0u8; 4096];
            let n = c.read(&mut req).unwrap_or(0);
            // the range asked for (the client's chunk size), promised whole, cut at 1000 bytes
            let text = String::from_utf8_lossy(&req[..n]).to_ascii_lowercase();
            let (a, b) = text
                .split("range: bytes=")
                .nth(1)
                .and_then(|r| r.split("\r\n").next())
                .and_then(|r| r.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .unwrap_or((0, 262143));
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/1048576\r\n\
                     Content-Length: {}\r\nETag: \"x\"\r\nConnection: close\r\n\r\n",
                    b - a + 1
                )
                .as_bytes(),
            );
            let _ = c.write_all(&[0u8; 1000]);
        }
    });
    (port, h)
}

#[test]
fn short_read_is_an_error_naming_the_url() {
    let (port, h) = short_server();
    let url = format!("http://127.0.0.1:{port}/disk.raw");
    let (code, _, err) = run(&["inspect", &url], &[("GUESTFIX_REMOTE_RETRIES", "1")]);
    h.join().unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&url)
            && err.contains(&format!(
                "short read: 1000 of {} bytes",
                guestfix::block::remote::CHUNK
            )),
        "{err}"
    );
}

#[test]
fn backing_file_resolved_next_to_the_url() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let www = tempfile::tempdir().unwrap();
    let sub = www.path().join("d");
    std::fs::create_dir(&sub).unwrap();
    for n in ["sample.qcow2", "sample.overlay.qcow2"] {
        link(&sub, n, &dir.join(n));
    }
    let Some(s) = nginx(www.path()) else { return };
    let url = s.url("d/sample.overlay.qcow2");
    let (code, out, err) = run(&["inspect", "--json", "--quick", &url], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"backing_file\": \"sample.qcow2\""), "{out}");
    same_as_local(
        &["inspect", "--json", "--quick"],
        &dir.join("sample.overlay.qcow2"),
        &url,
        &[],
    );
    // The backing file is gone: an error naming its URL.
    std::fs::remove_file(sub.join("sample.qcow2")).unwrap();
    let (code, _, err) = run(&["inspect", &url], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&s.url("d/sample.qcow2")) && err.contains("404"),
        "{err}"
    );
}

#[test]
fn apply_out_local_overlay_of_a_remote_source() {
    let www = tempfile::tempdir().unwrap();
    link(www.path(), "sample.qcow2", &sample());
    let Some(s) = nginx(www.path()) else { return };
    let url = s.url("sample.qcow2");
    // Without --out (the default overlay would sit "beside" the URL) or in place: refused.
    for extra in [&[][..], &["--in-place"][..]] {
        let mut args = vec!["apply", url.as_str()];
        args.extend_from_slice(extra);
        let (code, _, err) = run(&args, &[]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("read-only") && err.contains(&url), "{err}");
    }
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("fixed.qcow2");
    let o = out.to_str().unwrap();
    let (code, _, err) = run(&["apply", &url, "--out", o], &[]);
    assert!(code == 0 || code == 1, "{err}");
    assert!(out.exists(), "{err}");
    // The overlay names the URL; read back (the URL is outside its folder: allowed explicitly).
    let (code, _, err) = run(&["inspect", o], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("outside"), "{err}");
    let (code, out_json, err) = run(
        &["--allow-outside-backing", "inspect", "--json", "--quick", o],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out_json.contains(&url), "{out_json}");
    // And the plan on the result is empty where apply fixed everything it planned.
    let (_, plan, err) = run(&["--allow-outside-backing", "plan", "--json", o], &[]);
    assert!(!plan.is_empty(), "{err}");
}

#[test]
fn s3_objects_through_moto_same_as_local() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let objects: Vec<(String, PathBuf)> = [
        "sample.qcow2",
        "sample.overlay.qcow2",
        "sample.ova",
        "sample.vhdx",
        "sample.stream.vmdk",
    ]
    .iter()
    .map(|n| (format!("dir/{n}"), dir.join(n)))
    .collect();
    let objs: Vec<(&str, &Path)> = objects
        .iter()
        .map(|(k, p)| (k.as_str(), p.as_path()))
        .collect();
    let Some(s) = common::moto(&objs) else { return };
    let endpoint = format!("http://127.0.0.1:{}", s.port);
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[test]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret\n",
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!("[profile test]\nregion = eu-west-1\nendpoint_url = {endpoint}\n"),
    )
    .unwrap();
    // Profile files (AWS_PROFILE, ~/.aws) …
    let h = home.path().to_str().unwrap();
    let profile = [
        ("HOME", h),
        ("AWS_PROFILE", "test"),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_REGION", ""),
        ("AWS_DEFAULT_REGION", ""),
        ("AWS_ENDPOINT_URL", ""),
        ("AWS_ENDPOINT_URL_S3", ""),
    ];
    for (key, local) in &objects {
        same_as_local(
            &["inspect", "--json", "--quick"],
            local,
            &format!("s3://images/{key}"),
            &profile,
        );
    }
    // … and the environment alone.
    let envs = [
        ("HOME", "/nonexistent"),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
    ];
    same_as_local(
        &["check", "--json", "--quick"],
        &dir.join("sample.qcow2"),
        "s3://images/dir/sample.qcow2",
        &envs,
    );
    same_as_local(
        &["cat", "-p", "/etc/os-release"],
        &dir.join("sample.ova"),
        "s3://images/dir/sample.ova",
        &envs,
    );
    let (code, _, err) = run(&["inspect", "s3://images/dir/none.qcow2"], &envs);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("s3://images/dir/none.qcow2") && err.contains("HTTP 404"),
        "{err}"
    );
}

#[test]
fn apply_remote_source_straight_to_an_import_format() {
    let www = tempfile::tempdir().unwrap();
    link(www.path(), "sample.qcow2", &sample());
    let Some(s) = nginx(www.path()) else { return };
    let url = s.url("sample.qcow2");
    let t = tempfile::tempdir().unwrap();
    for (fmt, name) in [("ova", "fixed.ova"), ("vhdx", "fixed.vhdx")] {
        let out = t.path().join(name);
        let o = out.to_str().unwrap();
        let (code, _, err) = run(&["apply", &url, "--out", o, "--format", fmt], &[]);
        assert_eq!(code, 0, "{err}");
        // A standalone image: no backing file, nothing left to change, no overlay left behind.
        let (code, plan, err) = run(&["plan", "--json", o], &[]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
        let plans = v.as_array().unwrap();
        assert!(!plans.is_empty());
        for p in plans {
            assert_eq!(p["changes"], serde_json::json!([]), "{fmt}: {plan}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
