#!/usr/bin/env python3
"""Write an `mkfs.xfs -p` protofile (xfsprogs 6.1 format, see mkfs.xfs(8) "-p") for a tree.
usage: xfsproto.py TREE > proto
Known losses of the protofile format (the manifest is written to match, manifest.py --xfs-proto):
names starting with ':' are skipped here (mkfs.xfs would mis-parse them), the sticky bit cannot be
expressed, hard links become separate files, xattrs are not copied."""
import os
import stat
import sys

top = os.path.abspath(sys.argv[1])
out = sys.stdout


def typestr(st):
    m = st.st_mode
    t = {stat.S_IFREG: "-", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
         stat.S_IFBLK: "b", stat.S_IFIFO: "p"}.get(stat.S_IFMT(m))
    if t is None:
        raise SystemExit("xfsproto: unsupported file type (socket?) in the tree")
    return "%s%s%s%03o" % (t, "u" if m & stat.S_ISUID else "-", "g" if m & stat.S_ISGID else "-", m & 0o777)


def walk(path, depth):
    for name in sorted(os.listdir(path)):
        if name.startswith(":"):
            continue
        if any(c.isspace() for c in name):
            raise SystemExit("xfsproto: name with white space: %r" % os.path.join(path, name))
        full = os.path.join(path, name)
        st = os.lstat(full)
        ts = typestr(st)
        line = "%s%s %s %d %d" % (" " * depth, name, ts, st.st_uid, st.st_gid)
        if ts[0] == "-":
            line += " " + full
        elif ts[0] == "l":
            line += " " + os.readlink(full)
        elif ts[0] in "bc":
            line += " %d %d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        out.write(line + "\n")
        if ts[0] == "d":
            walk(full, depth + 1)
            out.write("%s$\n" % (" " * (depth + 1)))


st = os.lstat(top)
out.write("/dev/null\n0 0\n%s %d %d\n" % (typestr(st), st.st_uid, st.st_gid))
walk(top, 1)
out.write("$\n")
