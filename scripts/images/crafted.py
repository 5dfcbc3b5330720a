#!/usr/bin/env python3
"""Build a crafted guest disk from the text tree test-images/trees/<NAME>/ and its image.json.

usage: crafted.py NAME OUTDIR
Writes OUTDIR/NAME.raw, OUTDIR/NAME.<part>.manifest.tsv for every filesystem built from a tree and
OUTDIR/meta/NAME.json (index.json fragment).

image.json (see docs/test-images.md):
  description, table (mbr|gpt), disk_mib, disk_id,
  partitions: [{name, fs (ext4|xfs|btrfs|vfat|swap|luks|bios_grub|none), mib, tree (subdir of the
               image's tree folder, optional), mountpoint, uuid, label, bootable, type}]
  dirs: {"part:/path": "octal mode"}     directories git cannot hold (empty ones), with modes
  modes: {"part:/path": "octal mode"}    modes git cannot hold (0600, 0000, setuid ...)
  symlinks: {"part:/path": "target"}
  files: {"part:/path": "content"}       per-image files (override the tree)
  subst: {"@KEY@": "value"}              replaced in every file of the trees (shared trees)
  kernels: [{version, arch (x86_64|aarch64|i686), part (holds /lib/modules), bootpart (holds
             /boot), vmlinuz, initrd (paths under /boot), initrd_comp (gzip|xz|zstd|none),
             mod_ext (.ko|.ko.xz|.ko.zst), modules [names], initrd_modules [names]}]
  binaries: [{arch, part, paths}]        ELF binaries: real busybox-static (amd64) or crafted
  rpmdb: {part, dir, packages: ["NAME EPOCH|- VERSION RELEASE ARCH"]}   a real rpmdb.sqlite in
                                         part:dir, made by scripts/images/rpmdb.sh (rpmbuild + rpm)
  partitions[].mount_options             Btrfs with subvolumes: extra options for the guestfish
                                         mount that unpacks the tree (e.g. compress=zstd:1)
  defects: [...], os: {...} | [...]      copied to index.json

Kernels are crafted (a boot-protocol header carrying the version string, not bootable); modules are
crafted ELF relocatable objects with a real .modinfo section (name=, vermagic=, alias=); the
initramfs is a real newc cpio (cpio -H newc) compressed with the real gzip/xz/zstd.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

NAME, OUT = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TREE = os.path.join(REPO, "test-images", "trees", NAME)
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "guestfix")
spec = json.load(open(os.path.join(TREE, "image.json")))
MiB = 1 << 20
work = tempfile.mkdtemp(prefix=".work-%s." % NAME, dir=OUT)
parts = {p["name"]: p for p in spec["partitions"]}
pdir = {}


def sh(*cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def ppath(spec_path):
    part, path = spec_path.split(":", 1)
    return os.path.join(pdir[part], path.lstrip("/"))


# ---- assemble the partition trees --------------------------------------------------------------
for p in spec["partitions"]:
    d = os.path.join(work, "fs-" + p["name"])
    if p.get("tree"):
        shutil.copytree(os.path.join(TREE, p["tree"]), d, symlinks=True)
    else:
        os.mkdir(d)
    pdir[p["name"]] = d
subst = spec.get("subst", {})
for d in pdir.values():
    for dp, dns, fns in os.walk(d):
        for fn in fns:
            f = os.path.join(dp, fn)
            if os.path.islink(f) or not subst:
                continue
            data = open(f, "rb").read()
            new = data
            for k, v in subst.items():
                new = new.replace(k.encode(), v.encode())
            if new != data:
                os.unlink(f)  # the tree may be hard-linked/shared: write a new file
                open(f, "wb").write(new)
for sp, content in spec.get("files", {}).items():
    write_path = ppath(sp)
    os.makedirs(os.path.dirname(write_path), exist_ok=True)
    if os.path.lexists(write_path):
        os.unlink(write_path)
    open(write_path, "w").write(content)
for sp, mode in spec.get("dirs", {}).items():
    if not sp.startswith("lv-"):  # lv-NAME: entries are applied to the LV trees below
        os.makedirs(ppath(sp), exist_ok=True)
for sp, target in spec.get("symlinks", {}).items():
    os.makedirs(os.path.dirname(ppath(sp)), exist_ok=True)
    os.symlink(target, ppath(sp))

# ---- rpm database (real: rpmbuild + rpm --initdb + rpm -i --justdb) ----------------------------------
if spec.get("rpmdb"):
    r = spec["rpmdb"]
    sh(os.path.join(HERE, "rpmdb.sh"), ppath(r["part"] + ":" + r["dir"]), input=("\n".join(r["packages"]) + "\n").encode())

# ---- ELF helpers -----------------------------------------------------------------------------------
EM = {"x86_64": (62, 2), "aarch64": (183, 2), "i686": (3, 1), "i386": (3, 1)}


def elf(machine, etype, sections=(), entry_code=b""):
    """A minimal valid little-endian ELF: ET_REL with the given (name, data) sections, or ET_EXEC
    with one PT_LOAD segment holding entry_code."""
    em, cls = EM[machine]
    is64 = cls == 2
    ehsz, phsz, shsz = (64, 56, 64) if is64 else (52, 32, 40)
    secs = [("", b"")] + list(sections) + [(".shstrtab", None)]
    shstr = b"\0"
    name_off = []
    for n, _ in secs:
        if n:
            name_off.append(len(shstr))
            shstr += n.encode() + b"\0"
        else:
            name_off.append(0)
    secs[-1] = (".shstrtab", shstr)
    body = bytearray()
    base = ehsz + (phsz if etype == 2 else 0)
    vaddr = 0x400000 if is64 else 0x08048000
    code_off = base
    body += entry_code
    offs = []
    for n, data in secs:
        offs.append(base + len(body) if n else 0)
        body += data or b""
    while (base + len(body)) % 8:
        body += b"\0"
    shoff = base + len(body)
    phnum = 1 if etype == 2 else 0
    ident = b"\x7fELF" + bytes([cls, 1, 1, 0]) + bytes(8)
    if is64:
        eh = ident + struct.pack("<HHIQQQIHHHHHH", etype, em, 1, vaddr + code_off if phnum else 0,
                                 ehsz if phnum else 0, shoff, 0, ehsz, phsz, phnum, shsz, len(secs), len(secs) - 1)
        ph = struct.pack("<IIQQQQQQ", 1, 5, 0, vaddr, vaddr, shoff, shoff, 0x1000) if phnum else b""
    else:
        eh = ident + struct.pack("<HHIIIIIHHHHHH", etype, em, 1, vaddr + code_off if phnum else 0,
                                 ehsz if phnum else 0, shoff, 0, ehsz, phsz, phnum, shsz, len(secs), len(secs) - 1)
        ph = struct.pack("<IIIIIIII", 1, 0, vaddr, vaddr, shoff, shoff, 5, 0x1000) if phnum else b""
    sh_ = b""
    for i, (n, data) in enumerate(secs):
        if i == 0:
            sh_ += bytes(shsz)
            continue
        typ = 3 if n == ".shstrtab" else 1
        if is64:
            sh_ += struct.pack("<IIQQQQIIQQ", name_off[i], typ, 0, 0, offs[i], len(data), 0, 0, 1, 0)
        else:
            sh_ += struct.pack("<IIIIIIIIII", name_off[i], typ, 0, 0, offs[i], len(data), 0, 0, 1, 0)
    return bytes(eh + ph + body + sh_)


EXIT_CODE = {  # exit(0) for the crafted executables
    "aarch64": bytes.fromhex("000080d2a80b80d2010000d4"),  # mov x0,#0; mov x8,#93; svc #0
    "i686": bytes.fromhex("31dbb801000000cd80"),  # xor ebx,ebx; mov eax,1; int 0x80
    "i386": bytes.fromhex("31dbb801000000cd80"),
    "x86_64": bytes.fromhex("31ffb83c0000000f05"),  # xor edi,edi; mov eax,60; syscall
}

MOD_DIR = {
    "virtio_blk": "drivers/block", "virtio_net": "drivers/net", "virtio_scsi": "drivers/scsi",
    "virtio_pci": "drivers/virtio", "nvme": "drivers/nvme/host", "nvme-core": "drivers/nvme/host",
    "ena": "drivers/net/ethernet/amazon/ena", "xen-blkfront": "drivers/block", "xen-netfront": "drivers/net",
    "ahci": "drivers/ata", "libata": "drivers/ata", "sd_mod": "drivers/scsi", "e1000": "drivers/net/ethernet/intel/e1000",
    "ext4": "fs/ext4", "xfs": "fs/xfs", "btrfs": "fs/btrfs", "jbd2": "fs/jbd2", "dm-crypt": "drivers/md",
    "vmw_pvscsi": "drivers/scsi", "vmxnet3": "drivers/net/vmxnet3", "hv_storvsc": "drivers/scsi", "hv_netvsc": "drivers/net/hyperv",
}


def module(name, k):
    arch = k["arch"]
    vermagic = "%s SMP %smod_unload modversions " % (k["version"], "preempt " if arch != "i686" else "")
    if arch == "aarch64":
        vermagic += "aarch64"
    info = b"".join(s.encode() + b"\0" for s in (
        "license=GPL", "description=%s driver (guestfix crafted test module)" % name,
        "name=%s" % name.replace("-", "_"), "vermagic=%s" % vermagic, "depends=",
        "retpoline=Y", "intree=Y"))
    data = elf(arch if arch in EM else "x86_64", 1, [(".modinfo", info), (".gnu.linkonce.this_module", bytes(64))])
    return compress(data, k["mod_ext"].split(".ko")[1].lstrip(".") or "none")


def compress(data, how):
    if how in ("none", ""):
        return data
    if how == "gzip":
        return gzip.compress(data, 9, mtime=0)
    cmd = {"xz": ["xz", "-9", "--check=crc32", "-c"], "zst": ["zstd", "-19", "-q", "-c"], "zstd": ["zstd", "-19", "-q", "-c"]}[how]
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def vmlinuz(k):
    ver = ("%s (builder@guestfix.example) (gcc (GCC) 11.4.1) #1 SMP PREEMPT_DYNAMIC" % k["version"]).encode()
    if k["arch"] == "aarch64":
        # arm64 Image header (Documentation/arm64/booting.rst): code0 "MZ" (EFI stub), text_offset,
        # image_size, flags, magic "ARM\x64" at 0x38; the banner follows
        hdr = bytearray(64)
        hdr[0:2] = b"MZ"
        struct.pack_into("<QQQ", hdr, 8, 0, 0x10000, 0xA)
        hdr[56:60] = b"ARM\x64"
        img = bytes(hdr) + b"Linux version " + ver + b"\n\0"
        return gzip.compress(img.ljust(4096, b"\0"), 9, mtime=0)
    img = bytearray(5 * 512)
    img[0x1F1] = 4
    img[0x1FE:0x200] = b"\x55\xaa"
    img[0x200:0x202] = b"\xeb\x66"
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020F)
    img[0x211] = 1
    struct.pack_into("<H", img, 0x20E, 0x400 - 0x200)
    img[0x400:0x400 + len(ver) + 1] = ver + b"\0"
    img += b"guestfix crafted test kernel: header only, not bootable\n".ljust(4096, b"\0")
    struct.pack_into("<I", img, 0x1F4, 4096 // 16)
    return bytes(img)


# ---- kernels, modules, initramfs ---------------------------------------------------------------
for k in spec.get("kernels", []):
    root = pdir[k["part"]] if k.get("part") else None
    boot = pdir[k["bootpart"]]
    bprefix = "" if parts[k["bootpart"]].get("mountpoint") == "/boot" else "boot"
    mdir_rel = os.path.join("usr/lib" if k.get("usrmerge") else "lib", "modules", k["version"])
    mdir = os.path.join(root or work, mdir_rel)
    dep = []
    for m in k["modules"] if root else []:
        rel = os.path.join("kernel", MOD_DIR.get(m, "drivers/misc"), m + k["mod_ext"])
        write(os.path.join(mdir, rel), module(m, k))
        dep.append(rel + ":")
    if root:
        write(os.path.join(mdir, "modules.dep"), ("\n".join(dep) + "\n").encode())
        write(os.path.join(mdir, "modules.order"), ("\n".join(d[:-1].replace(k["mod_ext"], ".ko") for d in dep) + "\n").encode())
        write(os.path.join(mdir, "modules.builtin"), b"kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n")
    write(os.path.join(boot, bprefix, os.path.basename(k["vmlinuz"])), vmlinuz(k), 0o755 if "el" in k["version"] else 0o644)
    write(os.path.join(boot, bprefix, "config-" + k["version"]),
          ("# Linux/%s %s Kernel Configuration (guestfix crafted)\nCONFIG_VIRTIO_BLK=m\nCONFIG_BLK_DEV_NVME=m\nCONFIG_VIRTIO_PCI=y\n"
           % (k["arch"], k["version"].split("-")[0])).encode())
    if k.get("initrd"):
        ir = os.path.join(work, "initrd-" + k["version"])
        os.makedirs(ir)
        for d in ("usr/bin", "usr/sbin", "usr/lib", "etc", "dev", "proc", "sys", "run", "tmp"):
            os.makedirs(os.path.join(ir, d), exist_ok=True)
        for l in ("bin", "sbin", "lib"):
            os.symlink("usr/" + l, os.path.join(ir, l))
        idir = os.path.join(ir, "usr/lib/modules", k["version"])
        idep = []
        for m in k["initrd_modules"]:
            rel = os.path.join("kernel", MOD_DIR.get(m, "drivers/misc"), m + k["mod_ext"])
            write(os.path.join(idir, rel), module(m, k))
            idep.append(rel + ":")
        write(os.path.join(idir, "modules.dep"), ("\n".join(idep) + "\n").encode())
        write(os.path.join(ir, "init"), b"#!/bin/sh\n# guestfix crafted initramfs /init\nexec /sbin/init\n", 0o755)
        write(os.path.join(ir, "etc/initrd-release"), b'NAME="initramfs"\n')
        listing = subprocess.run(["find", ".", "-mindepth", "1"], cwd=ir, stdout=subprocess.PIPE, check=True).stdout
        listing = b"\n".join(sorted(listing.split())) + b"\n"
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--owner=0:0", "--quiet"], cwd=ir, input=listing,
                              stdout=subprocess.PIPE, check=True).stdout
        write(os.path.join(boot, bprefix, os.path.basename(k["initrd"])), compress(cpio, k["initrd_comp"]), 0o600 if "el" in k["version"] or "amzn" in k["version"] else 0o644)

# ---- ELF binaries ------------------------------------------------------------------------------------
def busybox_amd64():
    d = os.path.join(CACHE, "debs")
    os.makedirs(d, exist_ok=True)
    bb = os.path.join(d, "busybox-static-amd64")
    if not os.path.exists(bb):
        t = tempfile.mkdtemp(dir=d)
        sh("apt-get", "download", "-q", "busybox-static", cwd=t, stdout=subprocess.DEVNULL)
        deb = [f for f in os.listdir(t) if f.endswith(".deb")][0]
        sh("dpkg-deb", "-x", os.path.join(t, deb), os.path.join(t, "x"))
        shutil.copyfile(os.path.join(t, "x/bin/busybox"), bb + ".tmp")
        os.replace(bb + ".tmp", bb)
        shutil.rmtree(t)
    return open(bb, "rb").read()


for b in spec.get("binaries", []):
    if b["arch"] == "x86_64":
        data = busybox_amd64()  # real: Debian's busybox-static (static PIE, x86-64)
    else:
        data = elf(b["arch"], 2, [(".comment", b"guestfix crafted minimal executable\0")], EXIT_CODE[b["arch"]])
    for p in b["paths"]:
        write(ppath(b["part"] + ":" + p), data, 0o755)

# ---- ownership and modes --------------------------------------------------------------------------
for d in pdir.values():
    sh("chown", "-R", "-h", "0:0", d)
for sp, mode in list(spec.get("dirs", {}).items()) + list(spec.get("modes", {}).items()):
    if not sp.startswith("lv-"):
        os.chmod(ppath(sp), int(mode, 8))

# ---- filesystems ------------------------------------------------------------------------------------
imgs = {}
for p in spec["partitions"]:
    fs, size = p["fs"], p["mib"] * MiB
    img = os.path.join(work, p["name"] + ".img")
    imgs[p["name"]] = img
    with open(img, "wb") as f:
        f.truncate(size)
    tree = pdir[p["name"]]
    man = os.path.join(OUT, "%s.%s.manifest.tsv" % (NAME, p["name"]))
    if fs in ("ext4", "ext3", "ext2"):
        sh("python3", os.path.join(HERE, "manifest.py"), tree, stdout=open(man, "w"))
        sh("mkfs." + fs, "-q", "-F", "-U", p["uuid"], "-L", p.get("label", ""), "-d", tree, img)
    elif fs == "xfs":
        sh("python3", os.path.join(HERE, "manifest.py"), "--xfs-proto", tree, stdout=open(man, "w"))
        proto = os.path.join(work, p["name"] + ".proto")
        sh("python3", os.path.join(HERE, "xfsproto.py"), tree, stdout=open(proto, "w"))
        args = ["mkfs.xfs", "-q", "-f", "-m", "uuid=" + p["uuid"], "-p", proto]
        if p.get("label"):
            args += ["-L", p["label"]]
        sh(*args, img)
    elif fs == "btrfs" and p.get("subvolumes"):
        # subvolumes cannot be made offline (btrfs-progs 6.2): an empty filesystem here, the
        # subvolumes and the tree are added by guestfish below. The manifest is relative to the
        # top level (subvolid 5): the tree appears under the first subvolume (e.g. /@).
        first = p["subvolumes"][0].strip("/")
        for sv in p["subvolumes"][1:]:  # nested subvolumes appear as directories of the tree
            os.makedirs(os.path.join(tree, sv.strip("/")[len(first) + 1:]), mode=0o755, exist_ok=True)
        rows = subprocess.run(["python3", os.path.join(HERE, "manifest.py"), tree], stdout=subprocess.PIPE,
                              check=True).stdout.decode().splitlines()
        sv = "/" + p["subvolumes"][0].strip("/")
        with open(man, "w") as mf:
            mf.write("/\td\t0755\t0\t-\n")
            for other in p["subvolumes"][1:]:  # a sibling subvolume (Fedora's home) is a top-level directory
                if not other.strip("/").startswith(first + "/"):
                    mf.write("/%s\td\t0755\t0\t-\n" % other.strip("/"))
            for r in rows:
                path, rest = r.split("\t", 1)
                mf.write("%s\t%s\n" % (sv if path == "/" else sv + path, rest))
        sh("mkfs.btrfs", "-q", "-f", "-U", p["uuid"], *(["-L", p["label"]] if p.get("label") else []), img, stdout=subprocess.DEVNULL)
    elif fs == "lvm":
        pass  # made by guestfish below (device-mapper is needed to format logical volumes)
    elif fs == "btrfs":
        sh("python3", os.path.join(HERE, "manifest.py"), tree, stdout=open(man, "w"))
        args = ["mkfs.btrfs", "-q", "-f", "-U", p["uuid"], "--rootdir", tree]
        if p.get("label"):
            args += ["-L", p["label"]]
        sh(*args, img, stdout=subprocess.DEVNULL)
    elif fs == "vfat":
        sh("mkfs.vfat", "-F", "32" if p["mib"] >= 64 else "16", "-i", p["uuid"].replace("-", ""), "-n", p.get("label", "NO NAME"), img,
           stdout=subprocess.DEVNULL)
        sh("python3", os.path.join(HERE, "manifest.py"), tree, stdout=open(man, "w"))
        for e in sorted(os.listdir(tree)):
            sh("mcopy", "-s", "-i", img, os.path.join(tree, e), "::/")
    elif fs == "swap":
        os.chmod(img, 0o600)
        sh("mkswap", "-U", p["uuid"], img, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif fs == "luks":
        key = os.path.join(work, "luks.key")
        write(key, b"guestfix-test-passphrase", 0o600)
        sh("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
           "--pbkdf-force-iterations", "1000", "--uuid", p["uuid"], "--label", p.get("label", ""),
           "--key-file", key, img)

# ---- disk ---------------------------------------------------------------------------------------------
disk = os.path.join(work, NAME + ".raw")
with open(disk, "wb") as f:
    f.truncate(spec["disk_mib"] * MiB)
TYPES = {"mbr": {"ext4": "83", "xfs": "83", "btrfs": "83", "swap": "82", "vfat": "c", "luks": "83", "ntfs": "7", "lvm": "8e"},
         "gpt": {"ext4": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "xfs": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                 "btrfs": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "luks": "CA7D7CCB-63ED-4C53-861C-1742536059CC",
                 "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "vfat": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                 "bios_grub": "21686148-6449-6E6F-744E-656564454649", "ntfs": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"}}
script = "label: %s\nlabel-id: %s\nunit: sectors\n" % ("dos" if spec["table"] == "mbr" else "gpt", spec["disk_id"])
start = MiB
layout = []
for i, p in enumerate(spec["partitions"], 1):
    typ = p.get("type") or TYPES[spec["table"]][p["fs"]]
    line = "start=%d, size=%d, type=%s" % (start // 512, p["mib"] * MiB // 512, typ)
    if spec["table"] == "gpt":
        line += ', name="%s"' % p["name"]
    elif p.get("bootable"):
        line += ", bootable"
    script += line + "\n"
    layout.append((p, start))
    start += p["mib"] * MiB
sh("sfdisk", "-q", disk, input=script.encode())
for p, off in layout:
    sh("dd", "if=" + imgs[p["name"]], "of=" + disk, "bs=1M", "seek=%d" % (off // MiB), "conv=notrunc,sparse", "status=none")

# ---- guestfish: Btrfs subvolumes, LVM ------------------------------------------------------------
gf = ["run"]
for i, (p, off) in enumerate(layout, 1):
    dev = "/dev/sda%d" % i
    if p["fs"] == "btrfs" and p.get("subvolumes"):
        tarf = os.path.join(work, p["name"] + ".tar")
        sh("tar", "--numeric-owner", "-C", pdir[p["name"]], "-cf", tarf, ".")
        gf.append("mount %s /" % dev)
        for sv in p["subvolumes"]:
            parent = os.path.dirname(sv.strip("/"))
            if parent and parent not in [x.strip("/") for x in p["subvolumes"]]:
                gf.append("mkdir-p /%s" % parent)
            gf.append("btrfs-subvolume-create /%s" % sv.strip("/"))
        gf.append("umount /")
        opts = ",".join(["subvol=" + p["subvolumes"][0].lstrip("/")] + ([p["mount_options"]] if p.get("mount_options") else []))
        gf.append("mount-options %s %s /" % (opts, dev))
        gf.append("tar-in %s / xattrs:true" % tarf)
        gf.append("umount /")
        gf.append("mount %s /" % dev)
        gf.append("btrfs-subvolume-show /%s" % p["subvolumes"][0].lstrip("/"))
        gf.append("umount /")
    if p["fs"] == "lvm":
        vg = p["vg"]
        gf.append("pvcreate %s" % dev)
        gf.append("vgcreate %s %s" % (vg, dev))
        for lv in p["lvs"]:
            gf.append("lvcreate %s %s %d" % (lv["name"], vg, lv["mib"]))
            gf.append("mkfs %s /dev/%s/%s" % (lv["fs"], vg, lv["name"]))
            gf.append("set-uuid /dev/%s/%s %s" % (vg, lv["name"], lv["uuid"]))
        # mount in mountpoint order, then unpack each LV's tree
        lvs = sorted(p["lvs"], key=lambda l: len(l["mountpoint"]))
        for lv in lvs:
            if lv["mountpoint"] != "/":
                gf.append("mkdir-p %s" % lv["mountpoint"])
            gf.append("mount /dev/%s/%s %s" % (vg, lv["name"], lv["mountpoint"]))
        for lv in lvs:
            t = os.path.join(TREE, lv["tree"])
            d = os.path.join(work, "lv-" + lv["name"])
            shutil.copytree(t, d, symlinks=True)
            sh("chown", "-R", "-h", "0:0", d)
            for sp, mode in spec.get("dirs", {}).items():
                if sp.startswith("lv-%s:" % lv["name"]):
                    os.makedirs(os.path.join(d, sp.split(":", 1)[1].lstrip("/")), exist_ok=True)
                    os.chmod(os.path.join(d, sp.split(":", 1)[1].lstrip("/")), int(mode, 8))
            man = os.path.join(OUT, "%s.%s.manifest.tsv" % (NAME, lv["name"]))
            sh("python3", os.path.join(HERE, "manifest.py"), d, stdout=open(man, "w"))
            tarf = os.path.join(work, "lv-%s.tar" % lv["name"])
            sh("tar", "--numeric-owner", "-C", d, "-cf", tarf, ".")
            gf.append("tar-in %s %s" % (tarf, lv["mountpoint"]))
        gf.append("umount-all")
if len(gf) > 1:
    gfs = os.path.join(work, "gf.script")
    open(gfs, "w").write("\n".join(gf) + "\n")
    sh("guestfish", "--rw", "-a", disk, "-f", gfs, stdout=subprocess.DEVNULL)

os.replace(disk, os.path.join(OUT, NAME + ".raw"))

# ---- index fragment -------------------------------------------------------------------------------
meta_parts = []
for i, (p, off) in enumerate(layout, 1):
    mp = {"number": i, "name": p["name"], "start": off, "size": p["mib"] * MiB, "fs": p["fs"],
          "uuid": p.get("uuid", ""), "label": p.get("label", ""), "mountpoint": p.get("mountpoint")}
    man = "%s.%s.manifest.tsv" % (NAME, p["name"])
    if os.path.exists(os.path.join(OUT, man)):
        mp["manifest"] = man
    for k in ("subvolumes", "default_subvolume", "vg"):
        if k in p:
            mp[k] = p[k]
    if "lvs" in p:
        mp["lvs"] = [{"name": lv["name"], "size": lv["mib"] * MiB, "fs": lv["fs"], "uuid": lv["uuid"],
                      "mountpoint": lv["mountpoint"], "manifest": "%s.%s.manifest.tsv" % (NAME, lv["name"])}
                     for lv in p["lvs"]]
    meta_parts.append(mp)
meta = {"name": NAME, "file": NAME + ".raw", "format": "raw", "size": spec["disk_mib"] * MiB,
        "description": spec["description"], "boot": spec.get("boot", "bios"),
        "partition_table": spec["table"], "disk_id": spec["disk_id"], "partitions": meta_parts,
        "defects": spec.get("defects", []), "os": spec.get("os"), "crafted": True}
with open(os.path.join(OUT, "meta", NAME + ".json"), "w") as f:
    json.dump(meta, f, indent=1)
shutil.rmtree(work)
