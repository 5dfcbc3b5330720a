#!/usr/bin/env python3
"""Make deliberately damaged container images (the FMT-3 failure cases) from good ones.

  damage.py truncate IN OUT            OUT = first half of IN (cut mid-image)
  damage.py badmagic IN OUT            OUT = IN with its first 4 bytes (the magic) replaced by 'XXXX'
  damage.py vhd-footer IN OUT          dynamic VHD: the header copy of the footer (LBA 0) gets a
                                       different timestamp (checksum fixed up) -> footers differ
  damage.py vmdk-grain IN OUT          streamOptimized VMDK: bytes inside the first compressed grain's
                                       deflate data are overwritten -> inflate fails / wrong length
  damage.py qcow2-l2 IN OUT            qcow2 (uncompressed): the first allocated L2 entry points
                                       past the end of the file
Prints a JSON object describing what was changed (offsets) on stdout.
"""
import json
import shutil
import struct
import sys


def main():
    op, src, dst = sys.argv[1:4]
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        info = globals()["op_" + op.replace("-", "_")](f)
    print(json.dumps(info))


def op_truncate(f):
    f.seek(0, 2)
    size = f.tell()
    new = (size // 2) & ~511
    f.truncate(new)
    return {"damage": "truncated", "original_size": size, "size": new}


def op_badmagic(f):
    old = f.read(4)
    f.seek(0)
    f.write(b"XXXX")
    return {"damage": "bad magic", "offset": 0, "old": old.hex(), "new": b"XXXX".hex()}


def vhd_checksum(footer):
    s = sum(footer[:64]) + sum(footer[68:])
    return (~s) & 0xFFFFFFFF


def op_vhd_footer(f):
    head = bytearray(f.read(512))
    assert head[:8] == b"conectix", "not a dynamic VHD (no footer copy at offset 0)"
    f.seek(-512, 2)
    tail = f.read(512)
    assert tail[:8] == b"conectix"
    assert head == tail, "footers already differ"
    ts = struct.unpack_from(">I", head, 24)[0]
    struct.pack_into(">I", head, 24, ts + 3600)
    struct.pack_into(">I", head, 64, vhd_checksum(head))
    f.seek(0)
    f.write(head)
    return {"damage": "VHD footer copy at offset 0 differs from the trailing footer (timestamp +3600, valid checksum)",
            "offset": 24}


def op_vmdk_grain(f):
    hdr = f.read(512)
    assert hdr[:4] == b"KDMV"
    overhead = struct.unpack_from("<Q", hdr, 64)[0]
    pos = overhead * 512
    f.seek(0, 2)
    end = f.tell()
    while pos + 12 <= end:
        f.seek(pos)
        lba, size = struct.unpack("<QI", f.read(12))
        if size == 0:  # metadata marker: numSectors(8) size(4)=0 type(4), then numSectors of data
            mtype = struct.unpack("<I", f.read(4))[0]
            if mtype == 0:  # end of stream
                break
            pos += 512 + lba * 512
            continue
        if size >= 64:
            off = pos + 12 + size // 2
            f.seek(off)
            f.write(b"\xde\xad\xbe\xef" * 4)
            return {"damage": "corrupt compressed grain", "grain_lba": lba, "marker_offset": pos,
                    "offset": off, "length": 16}
        pos += (12 + size + 511) // 512 * 512
    raise SystemExit("no compressed grain found")


def op_qcow2_l2(f):
    hdr = f.read(104)
    assert hdr[:4] == b"QFI\xfb"
    cluster_bits = struct.unpack_from(">I", hdr, 20)[0]
    l1_size = struct.unpack_from(">I", hdr, 36)[0]
    l1_off = struct.unpack_from(">Q", hdr, 40)[0]
    csize = 1 << cluster_bits
    f.seek(0, 2)
    end = f.tell()
    mask = 0x00FFFFFFFFFFFE00
    f.seek(l1_off)
    l1 = struct.unpack(">%dQ" % l1_size, f.read(8 * l1_size))
    for i, e in enumerate(l1):
        l2_off = e & mask
        if not l2_off:
            continue
        f.seek(l2_off)
        n = csize // 8
        l2 = struct.unpack(">%dQ" % n, f.read(csize))
        for j, e2 in enumerate(l2):
            if e2 & (1 << 62):
                continue  # compressed entry: not what this damage is about
            if e2 & mask:
                bad = ((end + (1 << 30)) // csize) * csize
                new = (e2 & ~mask) | bad
                f.seek(l2_off + 8 * j)
                f.write(struct.pack(">Q", new))
                return {"damage": "L2 entry points past the end of the file", "l1_index": i, "l2_index": j,
                        "guest_offset": (i * n + j) * csize, "entry_offset": l2_off + 8 * j,
                        "old_host_offset": e2 & mask, "new_host_offset": bad, "file_size": end}
    raise SystemExit("no allocated L2 entry")


main()
