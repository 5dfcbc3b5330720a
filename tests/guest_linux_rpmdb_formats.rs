//! rpm's Berkeley DB (`Packages`) and ndb (`Packages.db`) databases (issue 23 item 8) against
//! the sqlite one holding the same packages, all made by real tools: scripts/images/rpmdb.sh
//! (Debian's rpm: rpmbuild, `rpm -i --justdb`) writes rpmdb.sqlite; `db_load` (db5.3-util)
//! writes its header blobs as Berkeley DB hash files (several page sizes, both byte orders,
//! with and without page checksums); rpm built with its ndb backend (scripts/rpm-ndb.sh)
//! imports them (`rpmdb --exportdb | rpmdb --importdb`) into Packages.db. The judges are
//! `rpm -qa` (Debian's rpm reads Berkeley DB with bdb_ro, the built one reads ndb) and
//! `db_dump`. Damaged copies must give typed errors.

mod common;

use common::rpm_qa;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use guestfix::formats::sqlite::PageSource;
use guestfix::guest::facts::Fact;
use guestfix::guest::linux::files::{GuestFiles, MemFiles};
use guestfix::guest::linux::packages;
use guestfix::guest::linux::rpmdb::bdb::{BdbError, HashDb, Order};
use guestfix::guest::linux::rpmdb::ndb::NdbError;
use guestfix::guest::linux::rpmdb::{self, RpmdbError};

/// A missing tool fails the test unless GUESTFIX_ALLOW_SKIP=1.
fn need(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    let msg = format!("{tool} is missing (scripts/install-deps.sh installs it)");
    if std::env::var("GUESTFIX_ALLOW_SKIP").is_ok_and(|v| v == "1") {
        eprintln!("\n*** SKIPPED: {msg} (GUESTFIX_ALLOW_SKIP=1) ***\n");
        return false;
    }
    panic!("{msg}; set GUESTFIX_ALLOW_SKIP=1 to skip instead");
}

/// Packages: arches, epochs, and long descriptions whose headers need several overflow pages
/// at every page size below 64 KiB.
fn package_list() -> String {
    let mut s = String::from(
        "kernel-core - 6.5.6 300.el8 x86_64\nshadow-utils 2 4.6 17.el8 x86_64\n\
         cloud-init - 23.4 7.el8 noarch 20000\nopenssh-server - 8.0p1 19.el8 x86_64\n\
         dhcp-client 12 4.3.6 49.el8 x86_64\nglibc - 2.28 236.el8 i686 70000\n",
    );
    for i in 0..60 {
        s += &format!("pkg-{i:03} {} 1.{i} {}.el8 noarch\n", i % 3, i + 1);
    }
    s
}

/// A directory holding rpmdb.sqlite made by scripts/images/rpmdb.sh.
fn make_sqlite(dir: &Path) -> PathBuf {
    use std::io::Write;
    let db = dir.join("sqlite");
    let mut child = Command::new("bash")
        .arg("scripts/images/rpmdb.sh")
        .arg(&db)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(package_list().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "scripts/images/rpmdb.sh");
    db
}

/// (hnum, header blob) of every row of the sqlite Packages table, read by sqlite3 itself.
fn sqlite_blobs(dir: &Path) -> Vec<(u32, Vec<u8>)> {
    let o = Command::new("sqlite3")
        .arg(dir.join("rpmdb.sqlite"))
        .arg("SELECT hnum, hex(blob) FROM Packages ORDER BY hnum;")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, h) = l.split_once('|').unwrap();
            (n.parse().unwrap(), unhex(h))
        })
        .collect()
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// One Berkeley DB variant: page size, byte order, page checksums, fill factor (keys per
/// bucket before a split: 1 makes many buckets, 1000 one bucket with a chain of pages).
#[derive(Debug, Clone, Copy)]
struct Variant {
    page_size: u32,
    order: Order,
    chksum: bool,
    ffactor: u32,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        page_size: 4096,
        order: Order::Little,
        chksum: false,
        ffactor: 0,
    },
    Variant {
        page_size: 512,
        order: Order::Little,
        chksum: false,
        ffactor: 1,
    },
    Variant {
        page_size: 1024,
        order: Order::Big,
        chksum: false,
        ffactor: 1000,
    },
    Variant {
        page_size: 65536,
        order: Order::Big,
        chksum: false,
        ffactor: 0,
    },
    Variant {
        page_size: 512,
        order: Order::Big,
        chksum: true,
        ffactor: 1000,
    },
    Variant {
        page_size: 8192,
        order: Order::Little,
        chksum: true,
        ffactor: 1,
    },
];

/// Write the blobs as a Berkeley DB hash `Packages` in `dir` with db_load, as rpm keeps it:
/// key the header number in the file's byte order, and key 0 holding the last number used.
fn make_bdb(dir: &Path, blobs: &[(u32, Vec<u8>)], v: Variant) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let lorder = match v.order {
        Order::Little => 1234,
        Order::Big => 4321,
    };
    let mut dump = format!(
        "VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize={}\ndb_lorder={lorder}\n{}{}HEADER=END\n",
        v.page_size,
        if v.chksum { "chksum=1\n" } else { "" },
        if v.ffactor > 0 {
            format!("h_ffactor={}\n", v.ffactor)
        } else {
            String::new()
        }
    );
    let last = blobs.iter().map(|(n, _)| *n).max().unwrap();
    dump += &format!(
        " {}\n {}\n",
        hex(&v.order.bytes32(0)),
        hex(&v.order.bytes32(last))
    );
    for (n, b) in blobs {
        dump += &format!(" {}\n {}\n", hex(&v.order.bytes32(*n)), hex(b));
    }
    dump += "DATA=END\n";
    let input = dir.join("dump.txt");
    std::fs::write(&input, dump).unwrap();
    let path = dir.join("Packages");
    let o = Command::new("db_load")
        .arg("-f")
        .arg(&input)
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(input).unwrap();
    path
}

/// Every (key, value) db_dump prints.
fn db_dump(path: &Path) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let o = Command::new("db_dump").arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let body = text.split("HEADER=END\n").nth(1).unwrap();
    let lines: Vec<&str> = body
        .lines()
        .take_while(|l| *l != "DATA=END")
        .map(|l| l.trim_start())
        .collect();
    lines
        .chunks_exact(2)
        .map(|kv| (unhex(kv[0]), unhex(kv[1])))
        .collect()
}

/// A statistic db_stat prints for the database ("Number of big pages", …).
fn db_stat(path: &Path, what: &str) -> u64 {
    let o = Command::new("db_stat")
        .arg("-d")
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("db_stat prints no {what:?}:\n{text}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn lines(apps: &[guestfix::guest::facts::Application]) -> Vec<String> {
    let mut v: Vec<String> = apps
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                a.name, a.epoch, a.version, a.release, a.arch
            )
        })
        .collect();
    v.sort();
    v
}

fn our_pairs(bytes: &[u8]) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let db = HashDb::open(bytes).unwrap();
    let mut got = BTreeSet::new();
    db.for_each(|k: &[u8], v: &[u8]| -> Result<(), BdbError> {
        assert!(got.insert((k.to_vec(), v.to_vec())), "a pair listed twice");
        Ok(())
    })
    .unwrap();
    got
}

#[test]
fn berkeley_db_equals_sqlite_and_rpm() {
    if !need("rpmbuild") || !need("db_load") || !need("sqlite3") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sq = make_sqlite(t.path());
    let expected = lines(
        &rpmdb::read_applications(
            std::fs::read(sq.join("rpmdb.sqlite")).unwrap().as_slice(),
            None,
        )
        .unwrap(),
    );
    assert_eq!(expected.len(), 66);
    assert_eq!(expected, rpm_qa("rpm", &sq, "sqlite"));
    let blobs = sqlite_blobs(&sq);
    let (mut most_buckets, mut chained) = (0, 0);
    for v in VARIANTS {
        let dir = t
            .path()
            .join(format!("bdb-{}-{:?}-{}", v.page_size, v.order, v.chksum));
        let path = make_bdb(&dir, &blobs, v);
        let bytes = std::fs::read(&path).unwrap();
        // Every pair, key 0 included, byte for byte as db_dump lists them.
        assert_eq!(our_pairs(&bytes), db_dump(&path), "{v:?}");
        // The packages, as the sqlite database and rpm itself list them.
        let apps = rpmdb::read_applications_bdb(bytes.as_slice()).unwrap();
        assert_eq!(lines(&apps), expected, "{v:?}");
        let hs = rpmdb::read_headers_bdb(bytes.as_slice()).unwrap();
        let g = hs.iter().find(|h| h.name == "shadow-utils").unwrap();
        assert_eq!((g.epoch, g.license.as_deref()), (Some(2), Some("MIT")));
        // bdb_ro (rpm's own reader) does not know checksummed pages.
        if !v.chksum {
            assert_eq!(rpm_qa("rpm", &dir, "bdb_ro"), expected, "{v:?}");
        }
        // The data exercises what it should: overflow pages where the pages are small.
        if v.page_size < 65536 {
            assert!(db_stat(&path, "Number of overflow pages") > 1, "{v:?}");
        }
        most_buckets = most_buckets.max(db_stat(&path, "Number of hash buckets"));
        chained += db_stat(&path, "Number of bucket overflow pages");
    }
    // ... many buckets in one variant, a bucket's chain of pages in another.
    assert!(most_buckets >= 16, "{most_buckets}");
    assert!(chained > 0);
}

/// The bin folder of rpm built with ndb (scripts/rpm-ndb.sh builds it once, cached).
fn rpm_ndb() -> Option<PathBuf> {
    if !need("make") || !need("gcc") {
        return None;
    }
    let o = Command::new("bash")
        .arg("scripts/rpm-ndb.sh")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(o.status.success(), "scripts/rpm-ndb.sh failed");
    let bin = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
    assert!(bin.join("rpm").exists(), "{bin:?}");
    Some(bin)
}

/// Import the sqlite database's packages into a new ndb database in `dir`: Debian's rpmdb
/// exports the headers, the ndb rpmdb imports them.
fn make_ndb(bin: &Path, sq: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let export = Command::new("rpmdb")
        .args(["--exportdb", "--dbpath"])
        .arg(sq)
        .output()
        .unwrap();
    assert!(export.status.success());
    let ndb_rpmdb = |args: &[&str], stdin: Option<&[u8]>| {
        use std::io::Write;
        let mut c = Command::new(bin.join("rpmdb"))
            .args(["--define", "_db_backend ndb", "--dbpath"])
            .arg(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut i = c.stdin.take().unwrap();
        if let Some(b) = stdin {
            i.write_all(b).unwrap();
        }
        drop(i);
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ndb_rpmdb(&["--initdb"], None);
    ndb_rpmdb(&["--importdb"], Some(&export.stdout));
}

/// Erase a package from the ndb database with the ndb rpm (leaves a free slot and a hole).
fn ndb_erase(bin: &Path, dir: &Path, name: &str) {
    let o = Command::new(bin.join("rpm"))
        .args(["-e", "--justdb", "--nodeps", "--define", "_db_backend ndb"])
        .args(["--dbpath"])
        .arg(dir)
        .arg(name)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn ndb_equals_sqlite_and_rpm() {
    if !need("rpmbuild") || !need("sqlite3") {
        return;
    }
    let Some(bin) = rpm_ndb() else { return };
    let rpm = bin.join("rpm");
    let rpm = rpm.to_str().unwrap();
    let t = tempfile::tempdir().unwrap();
    let sq = make_sqlite(t.path());
    let expected = lines(
        &rpmdb::read_applications(
            std::fs::read(sq.join("rpmdb.sqlite")).unwrap().as_slice(),
            None,
        )
        .unwrap(),
    );
    assert_eq!(expected.len(), 66);
    let nd = t.path().join("ndb");
    make_ndb(&bin, &sq, &nd);
    let bytes = std::fs::read(nd.join("Packages.db")).unwrap();
    assert_eq!(rpm_qa(rpm, &nd, "ndb"), expected);
    let ours = lines(&rpmdb::read_applications_ndb(bytes.as_slice()).unwrap());
    assert_eq!(ours, expected);
    // The blobs are the header blobs the sqlite database holds, byte for byte.
    let mut blobs = Vec::new();
    rpmdb::ndb::for_each_blob(bytes.as_slice(), |_, b: &[u8]| -> Result<(), NdbError> {
        blobs.push(b.to_vec());
        Ok(())
    })
    .unwrap();
    let mut want: Vec<Vec<u8>> = sqlite_blobs(&sq).into_iter().map(|(_, b)| b).collect();
    blobs.sort();
    want.sort();
    assert_eq!(blobs, want);

    // Erased packages leave free slots and holes: still what rpm lists.
    for name in ["pkg-007", "glibc", "pkg-031"] {
        ndb_erase(&bin, &nd, name);
    }
    let after = rpm_qa(rpm, &nd, "ndb");
    assert_eq!(after.len(), 63);
    let bytes = std::fs::read(nd.join("Packages.db")).unwrap();
    assert_eq!(
        lines(&rpmdb::read_applications_ndb(bytes.as_slice()).unwrap()),
        after
    );
}

/// Inspection picks the database the guest has: sqlite, else ndb, else Berkeley DB, with the
/// same facts from each.
#[test]
fn inspection_reads_every_form() {
    if !need("rpmbuild") || !need("sqlite3") || !need("db_load") {
        return;
    }
    let Some(bin) = rpm_ndb() else { return };
    let t = tempfile::tempdir().unwrap();
    let sq = make_sqlite(t.path());
    let sqlite = std::fs::read(sq.join("rpmdb.sqlite")).unwrap();
    let nd = t.path().join("ndb");
    make_ndb(&bin, &sq, &nd);
    let ndb = std::fs::read(nd.join("Packages.db")).unwrap();
    let bdb = std::fs::read(make_bdb(
        &t.path().join("bdb"),
        &sqlite_blobs(&sq),
        VARIANTS[0],
    ))
    .unwrap();
    let facts = |files: &MemFiles| {
        let open = |p: &str| -> Option<Box<dyn PageSource>> {
            Some(Box::new(files.read_large(p)?) as Box<dyn PageSource>)
        };
        match packages::applications(files, &open) {
            Fact::Known(a) => lines(&a),
            other => panic!("{other:?}"),
        }
    };
    let mut rhel8 = MemFiles::new();
    rhel8.insert("/var/lib/rpm/Packages", bdb.clone());
    let mut sles15 = MemFiles::new();
    sles15
        .insert("/usr/lib/sysimage/rpm/Packages.db", ndb.clone())
        .symlink("/var/lib/rpm", "../../usr/lib/sysimage/rpm");
    let mut fedora = MemFiles::new();
    fedora
        .insert("/var/lib/rpm/rpmdb.sqlite", sqlite)
        .insert("/var/lib/rpm/Packages", b"stale".to_vec());
    let want = facts(&fedora);
    assert_eq!(want.len(), 66);
    assert_eq!(facts(&rhel8), want);
    assert_eq!(facts(&sles15), want);
    // ndb wins over a Berkeley DB left behind by a conversion.
    sles15.insert("/usr/lib/sysimage/rpm/Packages", b"stale".to_vec());
    assert_eq!(facts(&sles15), want);
    for p in ["cloud-init", "openssh-server", "dhcp-client"] {
        assert!(want.iter().any(|l| l.starts_with(&format!("{p} "))), "{p}");
    }
}

fn bdb_err(b: &[u8]) -> BdbError {
    match rpmdb::read_applications_bdb(b) {
        Err(RpmdbError::Bdb(e)) => e,
        other => panic!("expected a Berkeley DB error, got {other:?}"),
    }
}

fn put32(b: &mut [u8], off: usize, order: Order, v: u32) {
    b[off..off + 4].copy_from_slice(&order.bytes32(v));
}

#[test]
fn damaged_berkeley_db_is_a_typed_error() {
    if !need("rpmbuild") || !need("sqlite3") || !need("db_load") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sq = make_sqlite(t.path());
    let blobs = sqlite_blobs(&sq);
    let v = VARIANTS[2]; // 1024-byte big-endian pages, one bucket with a chain
    let good = std::fs::read(make_bdb(&t.path().join("b"), &blobs, v)).unwrap();
    let (o, ps) = (v.order, v.page_size as usize);
    let meta = HashDb::open(good.as_slice()).unwrap().meta;
    let pages = good.len() / ps;
    let kind = |p: usize| good[p * ps + 25];
    let next = |p: usize| o.u32(&good, p * ps + 16).unwrap();

    // Truncated files.
    assert!(matches!(bdb_err(&good[..100]), BdbError::Truncated(_)));
    assert!(matches!(
        bdb_err(&good[..good.len() / 2]),
        BdbError::TooManyPages { .. }
    ));
    // Not a hash database; a page size that is not a power of two; a huge last page.
    let mut b = good.clone();
    b[12] ^= 0xff;
    assert!(matches!(bdb_err(&b), BdbError::NotHash(_)));
    let mut b = good.clone();
    put32(&mut b, 20, o, 3000);
    assert_eq!(bdb_err(&b), BdbError::BadPageSize(3000));
    let mut b = good.clone();
    put32(&mut b, 32, o, u32::MAX);
    assert!(matches!(bdb_err(&b), BdbError::TooManyPages { .. }));

    // A bucket page whose chain points to itself.
    let first = meta.bucket_page(0).unwrap() as usize;
    let mut b = good.clone();
    put32(&mut b, first * ps + 16, o, first as u32);
    assert_eq!(bdb_err(&b), BdbError::Cycle(first as u32));
    // An entry count that cannot fit the page.
    let mut b = good.clone();
    b[first * ps + 20..first * ps + 22].copy_from_slice(&[0xff, 0xfe]);
    assert!(matches!(bdb_err(&b), BdbError::BadEntries { .. }));

    // An overflow chain of two or more pages: looped on itself, then cut short.
    let ov = (1..pages)
        .find(|&p| kind(p) == 7 && next(p) != 0)
        .expect("a chain of two or more overflow pages");
    let mut b = good.clone();
    put32(&mut b, ov * ps + 16, o, ov as u32);
    assert_eq!(bdb_err(&b), BdbError::Cycle(ov as u32));
    put32(&mut b, ov * ps + 16, o, 0);
    assert!(matches!(bdb_err(&b), BdbError::OverflowShort { .. }));

    // An overflow reference claiming a huge length.
    let (p, off) = (1..pages)
        .filter(|&p| kind(p) == 13)
        .find_map(|p| {
            let n = usize::from(o.u16(&good, p * ps + 20).unwrap());
            (0..n)
                .map(|i| usize::from(o.u16(&good, p * ps + 26 + 2 * i).unwrap()))
                .find(|&off| good[p * ps + off] == 3)
                .map(|off| (p, off))
        })
        .expect("an overflow reference on a bucket page");
    let mut b = good.clone();
    put32(&mut b, p * ps + off + 8, o, 0xffff_fff0);
    assert_eq!(bdb_err(&b), BdbError::ValueTooLarge(0xffff_fff0));
    // ... pointing past the last page, and at no page at all.
    let mut b = good.clone();
    put32(&mut b, p * ps + off + 4, o, 0x00ff_ffff);
    assert!(matches!(
        bdb_err(&b),
        BdbError::PageOutOfRange {
            page: 0x00ff_ffff,
            ..
        }
    ));
    put32(&mut b, p * ps + off + 4, o, 0);
    assert!(matches!(bdb_err(&b), BdbError::OverflowShort { .. }));

    // With page checksums, any flipped byte is caught.
    let v = VARIANTS[4];
    let good = std::fs::read(make_bdb(&t.path().join("c"), &blobs, v)).unwrap();
    let ps = v.page_size as usize;
    let mut b = good.clone();
    b[2 * ps + 300] ^= 1;
    assert!(matches!(bdb_err(&b), BdbError::Checksum { page: 2, .. }));
    let mut b = good.clone();
    b[100] ^= 1;
    assert!(matches!(bdb_err(&b), BdbError::Checksum { page: 0, .. }));
}

fn ndb_err(b: &[u8]) -> NdbError {
    match rpmdb::read_applications_ndb(b) {
        Err(RpmdbError::Ndb(e)) => e,
        other => panic!("expected an ndb error, got {other:?}"),
    }
}

#[test]
fn damaged_ndb_is_a_typed_error() {
    if !need("rpmbuild") || !need("sqlite3") {
        return;
    }
    let Some(bin) = rpm_ndb() else { return };
    let t = tempfile::tempdir().unwrap();
    let sq = make_sqlite(t.path());
    let nd = t.path().join("ndb");
    make_ndb(&bin, &sq, &nd);
    let good = std::fs::read(nd.join("Packages.db")).unwrap();
    let le = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let put = |b: &mut [u8], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    // The first two used slots (slot 2 is the first after the header).
    let (s1, s2) = (32, 48);
    assert_ne!(le(&good, s1 + 8), 0);
    assert_ne!(le(&good, s2 + 8), 0);

    assert!(matches!(ndb_err(&good[..2000]), NdbError::Truncated(_)));
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(ndb_err(&b), NdbError::NotNdb(_)));
    let mut b = good.clone();
    put(&mut b, 12, u32::MAX);
    assert!(matches!(ndb_err(&b), NdbError::SlotPages { .. }));
    // A file cut inside the blobs: a slot points past its end.
    let last_end = (32..4096)
        .step_by(16)
        .map(|o| (le(&good, o + 8) as usize + le(&good, o + 12) as usize) * 16)
        .max()
        .unwrap();
    assert!(matches!(
        ndb_err(&good[..last_end - 16]),
        NdbError::BadSlot { .. }
    ));
    // A slot whose magic is wrong; a blob inside the slot pages (first block 1).
    let mut b = good.clone();
    b[s1] = b'x';
    assert!(matches!(ndb_err(&b), NdbError::BadSlot { slot: 2, .. }));
    let mut b = good.clone();
    put(&mut b, s1 + 8, 1);
    assert!(matches!(ndb_err(&b), NdbError::BadSlot { slot: 2, .. }));
    // Two slots naming the same blocks (the walk would read a blob twice).
    let mut b = good.clone();
    let (off2, cnt2) = (le(&good, s2 + 8), le(&good, s2 + 12));
    put(&mut b, s1 + 8, off2);
    put(&mut b, s1 + 12, cnt2);
    assert!(matches!(ndb_err(&b), NdbError::Overlap(..)));
    // A blob with a flipped byte; a blob claiming a huge length.
    let blob = le(&good, s1 + 8) as usize * 16;
    let pkg = le(&good, s1 + 4);
    let mut b = good.clone();
    b[blob + 40] ^= 1;
    assert!(matches!(ndb_err(&b), NdbError::Checksum { pkgidx, .. } if pkgidx == pkg));
    let mut b = good.clone();
    put(&mut b, blob + 12, 0x7fff_fff0);
    assert!(matches!(ndb_err(&b), NdbError::BlobTooLarge { .. }));
    // A blob whose head names another package.
    let mut b = good.clone();
    put(&mut b, blob + 4, pkg + 1000);
    assert!(matches!(ndb_err(&b), NdbError::BadBlob { .. }));
}
