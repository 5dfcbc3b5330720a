# Shared by the boot tests (sourced; needs $tmp, a scratch folder).

# require_qemu NAME: qemu-system-x86_64 must be there. A missing one FAILS the test (exit 1), so
# that a missing install step cannot pass as a green run, unless GUESTFIX_ALLOW_SKIP=1 (then the
# test is skipped, loudly: the script exits 0).
require_qemu() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 && return 0
  echo "#####################################################################" >&2
  echo "### $1: qemu-system-x86_64 is not installed (scripts/install-deps.sh)" >&2
  if [ "${GUESTFIX_ALLOW_SKIP:-}" = 1 ]; then
    echo "### SKIPPED (GUESTFIX_ALLOW_SKIP=1)" >&2
    echo "#####################################################################" >&2
    exit 0
  fi
  echo "### FAILED (set GUESTFIX_ALLOW_SKIP=1 to skip instead)" >&2
  echo "#####################################################################" >&2
  return 1
}

# partition_offset IMAGE N -> byte offset of partition N (sfdisk's JSON)
partition_offset() {
  sfdisk -J "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
n = int(sys.argv[1])
p = [p for p in t["partitions"] if p["node"].endswith(str(n))][0]
print(p["start"] * t.get("sectorsize", 512))' "$2"
}

# add_net_probe RAW OFFSET: a oneshot unit, ordered before the serial getty, that waits (<= 90 s)
# for a global IPv4 address and prints "GUESTFIX-NET: <addresses>" on ttyS0.
add_net_probe() {
  local raw=$1 off=$2
  cat >"$tmp/gf-net.service" <<'EOF'
[Unit]
Description=guestfix boot test: print the IPv4 addresses on the serial console
After=network.target
Before=serial-getty@ttyS0.service getty.target

[Service]
Type=oneshot
# systemd expands $NAME itself: every shell dollar is written $$.
ExecStart=/bin/sh -c 'a=; for i in $$(seq 90); do a=$$(ip -4 -o addr show scope global); [ -n "$$a" ] && break; sleep 1; done; echo "GUESTFIX-NET: $${a:-none}" | tr -s " " >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
EOF
  local fstype
  fstype=$(blkid -p -o value -s TYPE -O "$off" "$raw" 2>/dev/null || true)
  if [ "$fstype" = xfs ] || [ "$fstype" = btrfs ]; then
    # XFS, Btrfs: no debugfs; the kernel writes the unit (a loop mount of the scratch copy, as
    # root; the Btrfs test guest's root is the top-level subvolume)
    local mnt=$tmp/probe-mnt
    mkdir -p "$mnt"
    mount -o loop,offset="$off" "$raw" "$mnt" || return 1
    cp "$tmp/gf-net.service" "$mnt/etc/systemd/system/gf-net.service"
    mkdir -p "$mnt/etc/systemd/system/multi-user.target.wants"
    ln -sf /etc/systemd/system/gf-net.service "$mnt/etc/systemd/system/multi-user.target.wants/gf-net.service"
    umount "$mnt"
    return 0
  fi
  local dev="$raw?offset=$off"
  local err
  err=$(debugfs -w -R "write $tmp/gf-net.service /etc/systemd/system/gf-net.service" "$dev" 2>&1 >/dev/null | grep -v '^debugfs ' || true)
  err+=$(debugfs -w -R "symlink /etc/systemd/system/multi-user.target.wants/gf-net.service /etc/systemd/system/gf-net.service" "$dev" 2>&1 >/dev/null | grep -v '^debugfs ' || true)
  # debugfs exits 0 even when it failed: read back.
  if [ -n "$err" ] || ! debugfs -R "cat /etc/systemd/system/gf-net.service" "$dev" 2>/dev/null | grep -q GUESTFIX-NET; then
    echo "boot test: could not add the probe unit: $err" >&2
    return 1
  fi
}

