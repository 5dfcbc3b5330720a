#!/usr/bin/env bash
# debian12-datadisk.raw: the second virtual disk of the debian12-* guests (their fstab mounts
# /dev/sdb1 on /srv/data). It is NOT part of the imported image (only the boot disk is imported,
# WIN-9/MOD-L3); boot tests attach it so that the unmodified guest boots as it did at the source.
#   datadisk.sh OUTDIR
source "$(dirname "$0")/common.sh"
out=$1 name=debian12-datadisk
work=$(mktemp -d "$out/.work-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
MiB=$((1024 * 1024))
UUID=6d0d1b2a-5c1e-4f3e-9a61-d12b105a00da
mkdir -p "$work/tree/projects"
printf 'data disk of debian12-test (mounted on /srv/data)\n' >"$work/tree/README"
truncate -s $((63 * MiB)) "$work/p1.img"
python3 "$(dirname "$0")/manifest.py" "$work/tree" >"$out/$name.data.manifest.tsv"
mkfs.ext4 -q -F -U "$UUID" -L data -d "$work/tree" "$work/p1.img"
truncate -s $((64 * MiB)) "$work/$name.raw"
printf 'label: dos\nlabel-id: 0x0d12da7a\nstart=2048, type=83\n' | sfdisk -q "$work/$name.raw"
dd if="$work/p1.img" of="$work/$name.raw" bs=1M seek=1 conv=notrunc,sparse status=none
mv "$work/$name.raw" "$out/"
cat >"$out/meta/$name.json" <<JSON
{"name": "$name", "file": "$name.raw", "format": "raw", "size": $((64 * MiB)),
 "description": "Data disk (sdb) of the debian12-* guests; not a bootable guest, not part of an import.",
 "boot": "none", "partition_table": "mbr", "disk_id": "0x0d12da7a",
 "partitions": [{"number": 1, "name": "data", "start": $MiB, "size": $((63 * MiB)), "type": "0x83",
   "fs": "ext4", "uuid": "$UUID", "label": "data", "mountpoint": "/srv/data", "manifest": "$name.data.manifest.tsv"}],
 "defects": [], "os": null}
JSON
