#!/usr/bin/env python3
"""Build a Windows-like guest disk from test-images/trees/<NAME>/windows.json and its .reg files.

usage: windows.py NAME OUTDIR       (needs guestfish: source scripts/libguestfs-env.sh first)

Registry hives (SYSTEM, SOFTWARE, and the BCD store, which is a hive too) are made by
`hivexregedit --merge` into copies of libguestfs' empty minimal-hive
(../shared/data/libguestfs/test-data/phony-guests/minimal-hive, or $GUESTFIX_MINIMAL_HIVE) from
the tree's .reg text; @PLACEHOLDERS@ in the .reg files are filled in from the disk layout
(MountedDevices needs the disk signature / partition GUID). NTFS volumes are made by
`mkntfs -q -F -f` on plain files, placed with dd, and populated by ONE guestfish session
(ntfscp cannot create directories). Windows/System32/cmd.exe and the other executables are
crafted PE32+ (x86-64) images with a valid DOS/PE/optional header (`file` says "PE32+
executable (console) x86-64"); they contain no code.

windows.json: description, boot (bios|uefi), table (mbr|gpt), disk_mib, disk_id, partitions
[{name, fs (ntfs|vfat|msr|bitlocker: a BitLocker volume header only), mib, label, role
(system|windows|esp|msr|data)}], hives {"SYSTEM":
"SYSTEM.reg", ...}, files {"part:/path": "text"}, pe ["part:/path"], dirs ["part:/path"],
defects, os, accounts [{name, rid, disabled, password, password_not_required, hash (aes|rc4),
lm, full_name, comment}]
(a SAM hive is built from them: SAM\\Domains\\Account\\Users\\<RID> F/V values laid out as real
SAM hives are, hash bytes are filler, never a real hash), binary_files {"part:/path": {head or
head_hex, size}} (zero-filled to size) (e.g. a hiberfil.sys whose first page is a hibernation header).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import hashlib
import uuid

NAME, OUT = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TREE = os.path.join(REPO, "test-images", "trees", NAME)
spec = json.load(open(os.path.join(TREE, "windows.json")))
MINIMAL = os.environ.get("GUESTFIX_MINIMAL_HIVE") or os.path.join(
    os.path.dirname(REPO), "shared", "data", "libguestfs", "test-data", "phony-guests", "minimal-hive")
if not os.path.exists(MINIMAL):
    MINIMAL = "/work/shared/data/libguestfs/test-data/phony-guests/minimal-hive"
MiB = 1 << 20
work = tempfile.mkdtemp(prefix=".work-%s." % NAME, dir=OUT)


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def pe32plus(desc):
    """A minimal, structurally valid PE32+ console executable for x86-64 (no code)."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<H", dos, 2, 0x90)
    struct.pack_into("<H", dos, 4, 3)
    struct.pack_into("<H", dos, 8, 4)
    struct.pack_into("<H", dos, 0x18, 0x40)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    dos[0x40:0x40 + 39] = b"This program cannot be run in DOS mode.$"[:39]
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x8664, 1, 0x5F5E1000, 0, 0, 240, 0x22)
    opt = bytearray(240)
    struct.pack_into("<HBBIIIII", opt, 0, 0x20B, 14, 20, 0x200, 0, 0, 0x1000, 0x1000)
    struct.pack_into("<Q", opt, 24, 0x140000000)              # ImageBase
    struct.pack_into("<II", opt, 32, 0x1000, 0x200)            # SectionAlignment, FileAlignment
    struct.pack_into("<HHHHHH", opt, 40, 10, 0, 10, 0, 10, 0)  # OS/image/subsystem versions
    struct.pack_into("<III", opt, 56, 0x2000, 0x400, 0)        # SizeOfImage, SizeOfHeaders, CheckSum
    struct.pack_into("<HH", opt, 68, 3, 0x8160)                # Subsystem CONSOLE, DllCharacteristics
    struct.pack_into("<QQQQ", opt, 72, 0x100000, 0x1000, 0x100000, 0x1000)
    struct.pack_into("<II", opt, 104, 0, 16)                   # LoaderFlags, NumberOfRvaAndSizes
    sect = struct.pack("<8sIIIIIIHHI", b".text\0\0\0", 0x200, 0x1000, 0x200, 0x400, 0, 0, 0, 0, 0x60000020)
    hdr = bytes(dos) + coff + bytes(opt) + sect
    hdr = hdr.ljust(0x400, b"\0")
    body = (b"\xc3" + desc.encode()).ljust(0x200, b"\0")  # ret
    return hdr + body


# ---- layout ------------------------------------------------------------------------------------------
parts = spec["partitions"]
start = MiB
for p in parts:
    p["start"] = start
    start += p["mib"] * MiB
    p["partuuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "guestfix:%s:%s" % (NAME, p["name"])))
disk_sig = spec["disk_id"]
subst = {"@HOSTNAME@": spec["os"]["hostname"]}
winp = [p for p in parts if p.get("role") == "windows"][0]
if spec["table"] == "mbr":
    sig = int(disk_sig, 16)
    md = struct.pack("<IQ", sig, winp["start"])
else:
    md = b"DMIO:ID:" + uuid.UUID(winp["partuuid"]).bytes_le
subst["@MOUNTED_C@"] = ",".join("%02x" % b for b in md)
for p in parts:  # @MOUNTED_<name>@: the MountedDevices value of any partition (D:, E: …)
    if spec["table"] == "mbr":
        pm = struct.pack("<IQ", int(disk_sig, 16), p["start"])
    else:
        pm = b"DMIO:ID:" + uuid.UUID(p["partuuid"]).bytes_le
    subst["@MOUNTED_%s@" % p["name"]] = ",".join("%02x" % b for b in pm)
subst["@PARTUUID_WINDOWS@"] = winp["partuuid"]

# ---- SAM (local accounts) ---------------------------------------------------------------------------
ACB_DISABLED, ACB_PWNOTREQ, ACB_NORMAL, ACB_PWNOEXP = 0x0001, 0x0004, 0x0010, 0x0200


def reg_hex(data, typ="3"):
    return "hex(%s):" % typ + ",".join("%02x" % b for b in data)


def sam_f(a):
    """The fixed-size F value (0x50 bytes): times, RID at 0x30, ACB flags at 0x38."""
    f = bytearray(0x50)
    struct.pack_into("<HH", f, 0, 2, 1)
    struct.pack_into("<Q", f, 0x20, 0x7FFFFFFFFFFFFFFF)           # account never expires
    struct.pack_into("<Q", f, 0x18, 0x01D9A5E500000000)            # password last set
    struct.pack_into("<II", f, 0x30, a["rid"], 513)                # RID, primary group (Users)
    acb = ACB_NORMAL | ACB_PWNOEXP
    if a.get("disabled"):
        acb |= ACB_DISABLED
    if a.get("password_not_required"):
        acb |= ACB_PWNOTREQ
    struct.pack_into("<H", f, 0x38, acb)
    struct.pack_into("<H", f, 0x42, a.get("logons", 0))
    return bytes(f)


def sam_v(a):
    """The V value: 17 (offset, length, unknown) descriptors (0xCC bytes), offsets relative to
    0xCC; #1 user name, #2 full name, #3 comment, #13 LM hash, #14 NT hash. A hash entry is a
    4-byte header (PEK id, revision 1 = RC4: + 16 bytes) or, since Windows 10 1607, a 0x18-byte
    header (revision 2 = AES: + 32 encrypted bytes); header only = no password."""
    filler = lambda n: hashlib.sha256(("guestfix filler " + a["name"]).encode()).digest()[:n]
    aes = a.get("hash", "aes") == "aes"
    def hash_entry(present):
        if aes:
            h = struct.pack("<HHI", 3, 2, 0x10) + filler(16)
            return h + (filler(32) if present else b"")
        return struct.pack("<HH", 3, 1) + (filler(16) if present else b"")
    entries = [b"\x01\x00\x14\x80" + bytes(16),                   # 0 security descriptor (stub)
               a["name"].encode("utf-16-le"),
               a.get("full_name", "").encode("utf-16-le"),
               a.get("comment", "").encode("utf-16-le"),
               b"", b"", b"", b"", b"", b"", b"",
               b"\x15\x00" + b"\xff" * 21,                            # 11 logon hours
               b"\x01\x02\x00\x00\x07\x00\x00\x00",
               hash_entry(a.get("lm", False) and a.get("password")),  # 13 LM
               hash_entry(a.get("password")),                           # 14 NT
               struct.pack("<HH", 3, 1), struct.pack("<HH", 3, 1)]
    head, body = b"", b""
    for e in entries:
        head += struct.pack("<III", len(body), len(e), 1 if e else 0)
        body += e
        body += bytes((-len(body)) % 4)
    return head + body


def sam_reg(accounts):
    base = "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account"
    t = "Windows Registry Editor Version 5.00\n; SAM hive: local accounts (built by windows.py)\n"
    for k in ("HKEY_LOCAL_MACHINE\\SAM\\SAM", "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains", base,
              base + "\\Users", base + "\\Users\\Names"):
        t += "\n[%s]\n" % k
    for a in accounts:
        t += "\n[%s\\Users\\%08X]\n\"F\"=%s\n\"V\"=%s\n" % (base, a["rid"], reg_hex(sam_f(a)), reg_hex(sam_v(a)))
    for a in accounts:
        t += "\n[%s\\Users\\Names\\%s]\n@=hex(%x):\n" % (base, a["name"], a["rid"])
    return t


if spec.get("accounts"):
    open(os.path.join(work, "SAM.reg"), "w", encoding="utf-8").write(sam_reg(spec["accounts"]))
    spec["hives"]["SAM"] = "@work/SAM.reg"
    spec.setdefault("hive_paths", {}).setdefault("SAM", "windows:/Windows/System32/config/SAM")

# ---- hives -------------------------------------------------------------------------------------------
hives = {}
for hive, reg in spec["hives"].items():
    src = os.path.join(work, reg[len("@work/"):]) if reg.startswith("@work/") else os.path.join(TREE, reg)
    reg = os.path.basename(src) + ".in"
    text = open(src, encoding="utf-8").read()
    for k, v in subst.items():
        text = text.replace(k, v)
    regf = os.path.join(work, reg)
    open(regf, "w", encoding="utf-8").write(text)
    out = os.path.join(work, hive)
    shutil.copyfile(MINIMAL, out)
    os.chmod(out, 0o644)
    prefix = "HKEY_LOCAL_MACHINE\\" + ("BCD00000000" if hive == "BCD" else hive)
    sh("hivexregedit", "--merge", "--prefix", prefix, out, regf)
    hives[hive] = out

# ---- filesystems + disk ---------------------------------------------------------------------------
disk = os.path.join(work, NAME + ".raw")
with open(disk, "wb") as f:
    f.truncate(spec["disk_mib"] * MiB)
TYPES = {"mbr": {"ntfs": "7", "vfat": "c", "bitlocker": "7"},
         "gpt": {"ntfs": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "bitlocker": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "vfat": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                 "msr": "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"}}
script = "label: %s\nlabel-id: %s\nunit: sectors\n" % ("dos" if spec["table"] == "mbr" else "gpt", disk_sig)
for p in parts:
    line = "start=%d, size=%d, type=%s" % (p["start"] // 512, p["mib"] * MiB // 512, TYPES[spec["table"]][p["fs"]])
    if spec["table"] == "gpt":
        line += ', uuid=%s, name="%s"' % (p["partuuid"], p.get("gpt_name", p["name"]))
    elif p.get("bootable"):
        line += ", bootable"
    script += line + "\n"
sh("sfdisk", "-q", disk, input=script.encode())
for i, p in enumerate(parts, 1):
    p["number"] = i
    img = os.path.join(work, p["name"] + ".img")
    with open(img, "wb") as f:
        f.truncate(p["mib"] * MiB)
    if p["fs"] == "ntfs":
        sh("mkntfs", "-q", "-F", "-f", "-s", "512", "-L", p.get("label", ""), "-p", str(p["start"] // 512),
           "-H", "255", "-S", "63", img)
        # a fixed volume serial (boot sector 0x48 and its backup in the volume's last sector)
        serial = int(p["partuuid"].replace("-", "")[:16], 16)
        with open(img, "r+b") as f:
            bs = bytearray(f.read(512))
            nsect = struct.unpack_from("<Q", bs, 0x28)[0]
            for off in (0, nsect * 512):
                f.seek(off + 0x48)
                f.write(struct.pack("<Q", serial))
        p["uuid"] = "%016X" % serial
    elif p["fs"] == "bitlocker":
        # A BitLocker volume header (as a data volume encrypted with BitLocker starts): jump,
        # OEM id "-FVE-FS-", 512-byte sectors, the BitLocker identifier GUID at 0xA0, and
        # the boot signature; the rest stays zero (no key material, nothing decryptable).
        with open(img, "r+b") as f:
            bs = bytearray(512)
            bs[0:3] = b"\xeb\x58\x90"
            bs[3:11] = b"-FVE-FS-"
            struct.pack_into("<HB", bs, 0x0B, 512, 8)
            bs[0xA0:0xB0] = uuid.UUID("4967d63b-2e29-4ad8-8399-f6a339e3d001").bytes_le
            bs[510:512] = b"\x55\xaa"
            f.write(bs)
    elif p["fs"] == "vfat":
        serial = p["serial"]
        sh("mkfs.vfat", "-F", "32", "-i", serial, "-n", p.get("label", "NO NAME"), img, stdout=subprocess.DEVNULL)
        p["uuid"] = serial[:4] + "-" + serial[4:]
    sh("dd", "if=" + img, "of=" + disk, "bs=1M", "seek=%d" % (p["start"] // MiB), "conv=notrunc,sparse", "status=none")
    os.unlink(img)

# ---- populate with one guestfish session -----------------------------------------------------
stage = os.path.join(work, "stage")
os.makedirs(stage)
cmds = ["run"]
byname = {p["name"]: p for p in parts}
files = {}
for sp, text in spec.get("files", {}).items():
    files[sp] = text.encode("utf-8")
for sp in spec.get("pe", []):
    files[sp] = pe32plus("guestfix crafted PE32+ " + os.path.basename(sp.split(":", 1)[1]))
for sp, b in spec.get("binary_files", {}).items():
    head = bytes.fromhex(b["head_hex"]) if "head_hex" in b else b["head"].encode("latin-1")
    files[sp] = head + bytes(b["size"] - len(head))
for hive, path in spec.get("hive_paths", {}).items():
    files[path] = open(hives[hive], "rb").read()
mounted = None
manifest_rows = {}
for pname in [p["name"] for p in parts if p["fs"] in ("ntfs", "vfat")]:
    p = byname[pname]
    cmds.append("mount /dev/sda%d /" % p["number"])
    dirs = sorted({os.path.dirname(sp.split(":", 1)[1]) for sp in files if sp.startswith(pname + ":")} |
                  {d.split(":", 1)[1] for d in spec.get("dirs", []) if d.startswith(pname + ":")})
    for d in dirs:
        if d != "/":
            cmds.append("mkdir-p \"%s\"" % d)
    for sp, data in sorted(files.items()):
        if not sp.startswith(pname + ":"):
            continue
        local = os.path.join(stage, "f%d" % len(os.listdir(stage)))
        open(local, "wb").write(data)
        cmds.append("upload %s \"%s\"" % (local, sp.split(":", 1)[1]))
    cmds.append("umount /")
    # manifest of what was put there (directories + files; NTFS/FAT keep no Unix modes: 0000)
    rows = {"/": ("d", 0, "-")}
    for d in dirs:
        parts_ = d.strip("/").split("/")
        for j in range(1, len(parts_) + 1):
            rows["/" + "/".join(parts_[:j])] = ("d", 0, "-")
    for sp, data in files.items():
        if sp.startswith(pname + ":"):
            rows[sp.split(":", 1)[1]] = ("f", len(data), hashlib.sha256(data).hexdigest())
    manifest_rows[pname] = rows
script_file = os.path.join(work, "gf.script")
open(script_file, "w").write("\n".join(cmds) + "\n")
sh("guestfish", "--rw", "-a", disk, "-f", script_file)

for pname, rows in manifest_rows.items():
    man = "%s.%s.manifest.tsv" % (NAME, pname)
    with open(os.path.join(OUT, man), "w") as f:
        for path in sorted(rows, key=lambda s: s.encode()):
            t, size, extra = rows[path]
            f.write("%s\t%s\t%s\t%d\t%s\n" % (path, t, "0000", size, extra))
    byname[pname]["manifest"] = man
os.replace(disk, os.path.join(OUT, NAME + ".raw"))

meta_parts = []
for p in parts:
    mp = {k: p[k] for k in ("number", "name", "start", "fs", "label", "role") if k in p}
    mp["size"] = p["mib"] * MiB
    mp["uuid"] = p.get("uuid", "")
    if spec["table"] == "gpt":
        mp["partuuid"] = p["partuuid"]
    if "manifest" in p:
        mp["manifest"] = p["manifest"]
    meta_parts.append(mp)
meta = {"name": NAME, "file": NAME + ".raw", "format": "raw", "size": spec["disk_mib"] * MiB,
        "description": spec["description"], "boot": spec["boot"], "partition_table": spec["table"],
        "disk_id": disk_sig, "partitions": meta_parts, "defects": spec.get("defects", []), "os": spec["os"],
        "crafted": True, "manifest_note": "NTFS/FAT hold no Unix modes: manifest modes are 0000"}
with open(os.path.join(OUT, "meta", NAME + ".json"), "w") as f:
    json.dump(meta, f, indent=1)
shutil.rmtree(work)
