#!/usr/bin/env bash
# Check every built test image with the real tools: e2fsck -fn, xfs_repair -n, btrfs check,
# fsck.vfat -n, ntfsfix -n (partitions extracted where the tool needs it), swap signatures,
# qemu-img check / compare for every container, and that every deliberately DAMAGED image is
# really rejected or damaged as index.json says. Non-zero exit on any failure.
#   check-images.sh [IMAGE_DIR]   (default: $GUESTFIX_TEST_IMAGES, else make-test-images.sh --print-dir)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${GUESTFIX_TEST_IMAGES:-$(scripts/make-test-images.sh --print-dir)}}
[ -f "$dir/index.json" ] || { echo "check-images: no $dir/index.json (run scripts/make-test-images.sh)" >&2; exit 1; }
exec python3 - "$dir" <<'PY'
#!/usr/bin/env python3
# (python part of check-images.sh; kept here so that changing it does not invalidate the image cache)
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

d = sys.argv[1]
index = json.load(open(os.path.join(d, "index.json")))
failures = []
checks = 0
tmp = tempfile.mkdtemp(prefix="guestfix-check.")
QFMT = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vpc": "vpc", "vhdx": "vhdx"}


def run(desc, cmd, expect_ok=True, **kw):
    global checks
    checks += 1
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    ok = (p.returncode == 0) == expect_ok
    print("%s %s" % ("ok  " if ok else "FAIL", desc), flush=True)
    if not ok:
        failures.append(desc)
        sys.stdout.write(p.stdout.decode(errors="replace")[-3000:])
    return p


def check(desc, cond, detail=""):
    global checks
    checks += 1
    print("%s %s" % ("ok  " if cond else "FAIL", desc), flush=True)
    if not cond:
        failures.append(desc)
        print(detail)


def extract(path, start, size):
    out = os.path.join(tmp, "part.img")
    with open(path, "rb") as src, open(out, "wb") as dst:
        src.seek(start)
        left = size
        while left:
            b = src.read(min(left, 4 << 20))
            if not b:
                break
            if b.count(0) == len(b):
                dst.seek(len(b), 1)
            else:
                dst.write(b)
            left -= len(b)
        dst.truncate(size)
    return out


def check_fs(img, path, p):
    fs, start, size = p["fs"], p["start"], p["size"]
    what = "%s p%s %s" % (img["name"], p["number"], fs)
    if fs in ("ext2", "ext3", "ext4"):
        run("e2fsck -fn " + what, ["e2fsck", "-fn", "%s?offset=%d" % (path, start)])
    elif fs == "xfs":
        run("xfs_repair -n " + what, ["xfs_repair", "-n", "-f", extract(path, start, size)])
    elif fs == "btrfs":
        run("btrfs check " + what, ["btrfs", "check", "--readonly", extract(path, start, size)])
    elif fs == "vfat":
        run("fsck.vfat -n " + what, ["fsck.vfat", "-n", extract(path, start, size)])
    elif fs == "ntfs":
        run("ntfsfix -n " + what, ["ntfsfix", "-n", extract(path, start, size)])
    elif fs == "swap":
        with open(path, "rb") as f:
            f.seek(start + 4096 - 10)
            check("swap signature " + what, f.read(10) == b"SWAPSPACE2")
    elif fs == "luks":
        run("cryptsetup luksDump " + what, ["cryptsetup", "luksDump", extract(path, start, size)])
    elif fs == "lvm":
        with open(path, "rb") as f:
            f.seek(start + 512)
            label = f.read(32)
        check("LVM2 PV label " + what, label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001")
    elif fs == "bitlocker":
        # A BitLocker header only (no tool reads it without the key): its signature at 3.
        with open(path, "rb") as f:
            f.seek(start + 3)
            check("BitLocker signature " + what, f.read(8) == b"-FVE-FS-")
    elif fs in ("bios_grub", "msr", "none"):
        pass
    else:
        check("known fs type %s in %s" % (fs, what), False)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""):
            h.update(c)
    return h.hexdigest()


def check_damaged(img, path):
    name, fmt, dmg = img["name"], img["format"], img["damage"]["damage"]
    if name.endswith(".truncated.qcow2") or name.endswith(".l2-past-end.qcow2"):
        run("qemu-img check rejects " + name, ["qemu-img", "check", "-f", "qcow2", path], expect_ok=False)
    elif name.endswith(".badmagic.qcow2"):
        run("qemu-img info -f qcow2 rejects " + name, ["qemu-img", "info", "-f", "qcow2", path], expect_ok=False)
    elif name.endswith(".corrupt-grain.vmdk"):
        run("qemu-img convert fails on " + name,
            ["qemu-img", "convert", "-f", "vmdk", "-O", "raw", path, os.path.join(tmp, "x.raw")], expect_ok=False)
    elif name.endswith(".footer-mismatch.vhd"):
        with open(path, "rb") as f:
            head = f.read(512)
            f.seek(-512, 2)
            tail = f.read(512)
        check("footer copy differs from footer in " + name,
              head[:8] == b"conectix" and tail[:8] == b"conectix" and head != tail)
    else:
        check("known damage kind for " + name, False, dmg)


by_name = {i["name"]: i for i in index["images"]}
for img in index["images"]:
    path = os.path.join(d, img["file"])
    check("%s exists" % img["file"], os.path.exists(path))
    if not os.path.exists(path):
        continue
    fmt = img["format"]
    if img.get("damaged"):
        check_damaged(img, path)
        continue
    if fmt == "raw":
        for p in img.get("partitions", []):
            check_fs(img, path, p)
        for p in img.get("partitions", []):
            if p.get("manifest"):
                check("manifest %s exists" % p["manifest"], os.path.exists(os.path.join(d, p["manifest"])))
    elif fmt == "ova":
        with tarfile.open(path) as t:
            names = t.getnames()
            check("%s members %s" % (img["name"], names), names == img["ova_members"] and names[0].endswith(".ovf"))
            t.extractall(tmp)
        ovf = os.path.join(tmp, names[0])
        run("xmllint " + names[0], ["xmllint", "--noout", ovf])
        mf = os.path.join(tmp, names[-1])
        for line in open(mf):
            fn, digest = line.split("(", 1)[1].split(")= ")
            check("%s: SHA256 of %s matches %s" % (img["name"], fn, names[-1]),
                  sha256(os.path.join(tmp, fn)) == digest.strip())
        for n in names:
            if n.endswith(".vmdk"):
                run("qemu-img check %s:%s" % (img["name"], n), ["qemu-img", "check", "-f", "vmdk", os.path.join(tmp, n)])
            os.unlink(os.path.join(tmp, n))
    else:
        q = QFMT[fmt]
        if q in ("qcow2", "vmdk", "vhdx"):
            run("qemu-img check " + img["name"], ["qemu-img", "check", "-f", q, path])
        base = os.path.join(d, img.get("derived_from", ""))
        # full content comparison is cheap for the small images; big ones get qemu-img check only
        if img.get("derived_from") and os.path.getsize(base) <= (256 << 20) and "overlay_write" not in img:
            run("qemu-img compare %s == %s" % (img["name"], img["derived_from"]),
                ["qemu-img", "compare", "-f", q, "-F", "raw", path, base])
        if "overlay_write" in img:
            w = img["overlay_write"]
            p = subprocess.run(["qemu-io", "-f", "qcow2", "-r", "-c",
                                "read -P %d %d %d" % (w["byte"], w["offset"], w["length"]), path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            check("%s: overlay holds its write and reaches its relative backing file" % img["name"],
                  p.returncode == 0 and b"Pattern verification failed" not in p.stdout, p.stdout.decode())
shutil.rmtree(tmp)
print("check-images: %d checks, %d failures" % (checks, len(failures)))
for f in failures:
    print("  FAILED: " + f)
sys.exit(1 if failures else 0)
PY
