#!/usr/bin/env python3
"""Write the manifest of a source tree as a filesystem built from it should read back.

Usage: manifest.py TREE [--xfs-proto]  > IMAGE.PART.manifest.tsv

One line per path, sorted, path relative to the filesystem root starting with '/':
  path<TAB>type(f|d|l|c|b|p|s)<TAB>octal mode<TAB>size<TAB>sha256 (f) | link target (l) | '-'
size: file size for f, target length for l, 0 for everything else (directory sizes depend on the
filesystem). --xfs-proto applies the known losses of `mkfs.xfs -p` (xfsprogs 6.1): names starting
with ':' (and everything below them) are skipped and the sticky bit is dropped; hard links become
separate files (same content, so no change here); xattrs are not listed by the manifest at all.
"""
import hashlib
import os
import stat
import sys


def kind(m):
    for test, c in ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"),
                    (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b"), (stat.S_ISFIFO, "p"),
                    (stat.S_ISSOCK, "s")):
        if test(m):
            return c
    raise SystemExit("unknown file type mode %o" % m)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    args = sys.argv[1:]
    xfs = "--xfs-proto" in args
    args = [a for a in args if a != "--xfs-proto"]
    if len(args) != 1:
        raise SystemExit(__doc__)
    top = os.path.abspath(args[0])
    rows = []

    def entry(full, rel):
        st = os.lstat(full)
        k = kind(st.st_mode)
        mode = stat.S_IMODE(st.st_mode)
        if xfs:
            mode &= ~stat.S_ISVTX
        size, extra = 0, "-"
        if k == "f":
            size, extra = st.st_size, sha256(full)
        elif k == "l":
            extra = os.readlink(full)
            size = len(os.fsencode(extra))
        rows.append((rel, k, "%04o" % mode, str(size), extra))

    entry(top, "/")
    for dirpath, dirnames, filenames in os.walk(top):
        if xfs:
            dirnames[:] = [d for d in dirnames if not d.startswith(":")]
            filenames = [f for f in filenames if not f.startswith(":")]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, top)
            entry(full, rel)
    rows.sort(key=lambda r: os.fsencode(r[0]))
    out = sys.stdout.buffer
    for r in rows:
        out.write(os.fsencode("\t".join(r)) + b"\n")


main()
