#!/usr/bin/env python3
"""Write a small crafted x86 bzImage: the real boot-protocol header (boot sector 0x55AA, "HdrS",
protocol 2.15, setup_sects, loadflags, kernel_version pointer) carrying the version string of a
REAL kernel, and no kernel code. Inspectors (and `file`) read the version from it like from a
real vmlinuz; it cannot boot.
usage: vmlinuz.py REAL_VMLINUZ OUT   (copies REAL_VMLINUZ's version string)"""
import struct
import sys


def version_of(data):
    if data[0x202:0x206] != b"HdrS":
        raise SystemExit("not a bzImage: " + sys.argv[1])
    ptr = struct.unpack_from("<H", data, 0x20E)[0] + 0x200
    end = data.index(b"\0", ptr)
    return data[ptr:end]


real = open(sys.argv[1], "rb").read()
ver = version_of(real)
setup_sects = 4
img = bytearray(real[: (setup_sects + 1) * 512])  # the real boot sector + setup header
img[0x1F1] = setup_sects
ver_off = 0x400
struct.pack_into("<H", img, 0x20E, ver_off - 0x200)
img[ver_off:ver_off + len(ver) + 1] = ver + b"\0"
img[ver_off + len(ver) + 1:] = bytes(len(img) - ver_off - len(ver) - 1)
# protected-mode part: a marker instead of a compressed kernel
img += b"guestfix crafted test kernel: header only, not bootable\n".ljust(4096, b"\0")
struct.pack_into("<I", img, 0x1F4, (len(img) - (setup_sects + 1) * 512) // 16)  # syssize
open(sys.argv[2], "wb").write(img)
assert version_of(img) == ver
