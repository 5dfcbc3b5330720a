//! The rpmdb reader (issue #6) against real rpm databases made by the real rpm tools
//! (scripts/images/rpmdb.sh: rpmbuild, `rpm --initdb`, `rpm -i --justdb`, Debian package `rpm`);
//! the oracle is `rpm -qa`. Bad input: the same real databases, damaged.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use guestfix::formats::sqlite::SqliteError;
use guestfix::guest::linux::rpmdb::{self, RpmdbError};

/// Packages: a mix of arches and epochs, enough rows for an interior b-tree level, and two
/// long descriptions so that their headers spill into overflow chains.
fn package_list() -> String {
    let mut s = String::from(
        "kernel-core - 6.5.6 300.fc39 x86_64\nshadow-utils 2 4.14.0 2.fc39 x86_64\n\
         fedora-release-common - 39 36 noarch\nglibc - 2.38 14.fc39 x86_64 30000\n\
         glibc - 2.38 14.fc39 i686\nlinux-firmware - 20231111 1.fc39 noarch 9000\n",
    );
    for i in 0..70 {
        s += &format!("pkg-{i:03} {} 1.{i} {}.fc39 noarch\n", i % 3, i + 1);
    }
    s
}

fn make_db(dir: &Path) -> PathBuf {
    let mut child = Command::new("bash")
        .arg("scripts/images/rpmdb.sh")
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("scripts/images/rpmdb.sh (needs the Debian package rpm)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(package_list().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    dir.join("rpmdb.sqlite")
}

/// `rpm -qa` with Debian's rpm on an sqlite database directory.
fn rpm_qa(dbdir: &Path) -> Vec<String> {
    common::rpm_qa("rpm", dbdir, "sqlite")
}

fn ours(db: &[u8], wal: Option<&[u8]>) -> Vec<String> {
    let mut v: Vec<String> = rpmdb::read_applications(db, wal)
        .unwrap()
        .into_iter()
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

fn sqlite(db: &Path, sql: &str) -> String {
    use std::io::Write;
    let mut c = Command::new("sqlite3")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// (page number, type) of every page of the Packages table, from sqlite's own dbstat.
fn packages_pages(db: &Path) -> Vec<(u32, String)> {
    sqlite(
        db,
        "SELECT pageno, pagetype FROM dbstat WHERE name='Packages' ORDER BY path;",
    )
    .lines()
    .map(|l| {
        let (n, t) = l.split_once('|').unwrap();
        (n.parse().unwrap(), t.to_string())
    })
    .collect()
}

#[test]
fn real_rpmdb_equals_rpm_qa() {
    let t = tempfile::tempdir().unwrap();
    let path = make_db(t.path());
    let bytes = std::fs::read(&path).unwrap();
    let expected = rpm_qa(t.path());
    assert_eq!(expected.len(), 76);
    assert_eq!(ours(&bytes, None), expected);
    // The data exercises what it should: an interior root and overflow pages.
    let pages = packages_pages(&path);
    assert!(pages.iter().any(|(_, k)| k == "internal"), "{pages:?}");
    assert!(pages.iter().any(|(_, k)| k == "overflow"), "{pages:?}");
    // Header tags beyond the NEVRA.
    let hs = rpmdb::read_headers(bytes.as_slice(), None).unwrap();
    let g = hs.iter().find(|h| h.name == "shadow-utils").unwrap();
    assert_eq!(g.epoch, Some(2));
    assert_eq!(
        g.summary.as_deref(),
        Some("shadow-utils (guestfix test package)")
    );
    assert_eq!(g.license.as_deref(), Some("MIT"));
    assert_eq!(g.url.as_deref(), Some("https://example.org/shadow-utils"));
    assert_eq!(
        hs.iter().find(|h| h.name == "kernel-core").unwrap().epoch,
        None
    );
}

#[test]
fn committed_wal_frames_are_applied() {
    let t = tempfile::tempdir().unwrap();
    let path = make_db(t.path());
    let snap = t.path().join("snap");
    std::fs::create_dir(&snap).unwrap();
    // A real sqlite3 session in WAL mode deletes rows and, before closing (which would
    // checkpoint), copies the database and its WAL: the deletion lives only in the WAL.
    sqlite(
        &path,
        &format!(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; \
             DELETE FROM Packages WHERE hnum IN (SELECT hnum FROM Packages ORDER BY hnum LIMIT 5);\n\
             .shell cp {0} {0}-wal {1}/",
            path.display(),
            snap.display()
        ),
    );
    let db = std::fs::read(snap.join("rpmdb.sqlite")).unwrap();
    let wal = std::fs::read(snap.join("rpmdb.sqlite-wal")).unwrap();
    assert!(!wal.is_empty());
    let with_wal = ours(&db, Some(&wal));
    assert_eq!(with_wal.len(), 71);
    assert_eq!(
        ours(&db, None).len(),
        76,
        "the main file alone is the old state"
    );
    // rpm itself reads database + WAL the same way.
    assert_eq!(with_wal, rpm_qa(&snap));
    // A WAL with a broken header is a typed error, not silently stale facts.
    let mut bad = wal.clone();
    bad[0] ^= 0xff;
    assert_eq!(
        rpmdb::read_applications(db.as_slice(), Some(&bad)),
        Err(RpmdbError::Sqlite(SqliteError::BadWal("bad magic")))
    );
    // A frame whose checksum is damaged ends the log: only earlier commits count (here none).
    let mut torn = wal.clone();
    let last = torn.len() - 1;
    torn[40] ^= 1;
    torn[last] ^= 1;
    assert_eq!(ours(&db, Some(&torn)).len(), 76);
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

#[test]
fn damaged_databases_are_typed_errors() {
    let t = tempfile::tempdir().unwrap();
    let path = make_db(t.path());
    let good = std::fs::read(&path).unwrap();
    let ps = usize::from(u16::from_be_bytes([good[16], good[17]]));
    let read = |b: &[u8]| rpmdb::read_applications(b, None).map(|v| v.len());

    // Truncated: the header alone, then a file cut before the Packages pages.
    assert_eq!(
        read(&good[..50]),
        Err(RpmdbError::Sqlite(SqliteError::Truncated(
            "database header shorter than 100 bytes"
        )))
    );
    let pages = packages_pages(&path);
    let root = pages[0].0;
    let cut = &good[..(root as usize - 1) * ps];
    // (sqlite_master itself spans several pages in an rpmdb: the first one missing is named.)
    assert!(matches!(
        read(cut),
        Err(RpmdbError::Sqlite(SqliteError::PageOutOfRange { page, count })) if page > count
    ));
    // Not a database at all.
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(read(&b), Err(RpmdbError::Sqlite(SqliteError::NotSqlite)));
    // Page size 0 and a page size that is not a power of two.
    let mut b = good.clone();
    b[16..18].copy_from_slice(&[0, 0]);
    assert_eq!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::BadPageSize(0)))
    );
    b[16..18].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::BadPageSize(1000)))
    );

    // A cycle: the interior root's right-most child points back to the root.
    assert_eq!(pages[0].1, "internal");
    let off = (root as usize - 1) * ps;
    assert_eq!(good[off], 5, "interior table page");
    let mut b = good.clone();
    b[off + 8..off + 12].copy_from_slice(&root.to_be_bytes());
    assert_eq!(read(&b), Err(RpmdbError::Sqlite(SqliteError::Cycle(root))));

    // A cell count larger than the page can hold.
    let mut b = good.clone();
    b[off + 3..off + 5].copy_from_slice(&0xffffu16.to_be_bytes());
    assert!(matches!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::BadCellCount { .. }))
    ));

    // An overflow loop: an overflow page whose next pointer is set to itself.
    let (ov, _) = pages
        .iter()
        .find(|(n, k)| k == "overflow" && be32(&good, (*n as usize - 1) * ps) != 0)
        .expect("a chain of two or more overflow pages");
    let o = (*ov as usize - 1) * ps;
    let mut b = good.clone();
    b[o..o + 4].copy_from_slice(&ov.to_be_bytes());
    assert_eq!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::OverflowLoop(*ov)))
    );
    // ... and a chain cut short.
    b[o..o + 4].copy_from_slice(&0u32.to_be_bytes());
    assert!(matches!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::OverflowShort(_)))
    ));

    // No Packages table: rename it in sqlite_master's record (same length).
    // The record's type and name columns are adjacent: "table" "Packages" (stale copies may
    // sit in free pages too: rename every one).
    let mut b = good.clone();
    let hits: Vec<usize> = good
        .windows(13)
        .enumerate()
        .filter(|(_, w)| *w == b"tablePackages")
        .map(|(i, _)| i + 5)
        .collect();
    assert!(!hits.is_empty(), "sqlite_master names Packages");
    for at in hits {
        b[at..at + 8].copy_from_slice(b"Paxkages");
    }
    assert_eq!(
        read(&b),
        Err(RpmdbError::Sqlite(SqliteError::NoTable("Packages".into())))
    );

    // Every prefix and every single-byte flip in the first pages fails cleanly or reads.
    for n in (0..good.len()).step_by(997) {
        let _ = read(&good[..n]);
    }
    for i in (0..good.len().min(8 * ps)).step_by(7) {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let _ = read(&b);
    }
}

/// A guest tree in memory holding every regular file under the host folder `root`, at its path
/// relative to `root` (the rpm tools write the databases into a host folder).
fn guest_tree(root: &std::path::Path) -> guestfix::guest::linux::files::MemFiles {
    let mut files = guestfix::guest::linux::files::MemFiles::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.is_file() {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.insert(&format!("/{rel}"), std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

/// The package facts of the guest tree under `root`; `readable: false` makes every database
/// fail to open as a file.
fn package_facts(
    root: &std::path::Path,
    readable: bool,
) -> guestfix::guest::facts::Fact<Vec<guestfix::guest::facts::Application>> {
    use guestfix::formats::sqlite::PageSource;
    use guestfix::guest::linux::files::GuestFiles;
    use guestfix::guest::linux::packages;
    let files = guest_tree(root);
    let open = |p: &str| -> Option<Box<dyn PageSource>> {
        if !readable {
            return None;
        }
        let bytes = files.read_large(p)?;
        Some(Box::new(bytes) as Box<dyn PageSource>)
    };
    packages::applications(&files, &open)
}

/// The package facts over a guest tree (a host directory standing in for the guest): the sqlite
/// database is read (with its empty WAL, as rpm leaves it), the other rpm forms are unknown with
/// a reason naming the format.
#[test]
fn package_facts_by_database_form() {
    use guestfix::guest::facts::Fact;

    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let db_dir = root.join("usr/lib/sysimage/rpm");
    make_db(&db_dir);
    assert!(db_dir.join("rpmdb.sqlite-wal").exists());
    match package_facts(root, true) {
        Fact::Known(a) => assert_eq!(a.len(), 76),
        other => panic!("{other:?}"),
    }

    // A damaged database: unknown, with the path and the on-disk reason.
    let p = db_dir.join("rpmdb.sqlite");
    let mut b = std::fs::read(&p).unwrap();
    b[16..18].copy_from_slice(&[0, 0]);
    std::fs::write(&p, &b).unwrap();
    let reason = match package_facts(root, true) {
        Fact::Unknown { unknown } => unknown,
        other => panic!("{other:?}"),
    };
    assert!(
        reason.contains("/usr/lib/sysimage/rpm/rpmdb.sqlite") && reason.contains("page size 0"),
        "{reason}"
    );

    // The ndb (SUSE) and Berkeley DB (RHEL ≤ 8) forms are read when there is no sqlite one
    // (tests/guest_linux_rpmdb_formats.rs reads real ones); damaged, they are unknown with the reason.
    std::fs::remove_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::write(db_dir.join("Packages.db"), vec![0u8; 4096]).unwrap();
    let r = format!("{:?}", package_facts(root, true));
    assert!(
        r.contains("rpm ndb database /usr/lib/sysimage/rpm/Packages.db: ndb: not an rpm ndb"),
        "{r}"
    );
    // A name that is there but cannot be opened as a file is named too.
    let r = format!("{:?}", package_facts(root, false));
    assert!(
        r.contains("rpm ndb database /usr/lib/sysimage/rpm/Packages.db is not a readable"),
        "{r}"
    );
    std::fs::remove_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
    std::fs::write(root.join("var/lib/rpm/Packages"), vec![0u8; 4096]).unwrap();
    let r = format!("{:?}", package_facts(root, true));
    assert!(
        r.contains(
            "rpm Berkeley DB database /var/lib/rpm/Packages: Berkeley DB: not a Berkeley DB hash"
        ),
        "{r}"
    );
}
