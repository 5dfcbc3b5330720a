#!/usr/bin/env bash
# Compare `guestfix inspect --xml` with libguestfs's `virt-inspector` on the built test images,
# field by field, and validate guestfix's XML against virt-inspector.rng.
#   scripts/compare-virt-inspector.sh [IMAGES_DIR]
# IMAGES_DIR defaults to $GUESTFIX_TEST_IMAGES, else the output of scripts/make-test-images.sh.
# Compared (both sides normalised with python3 xml.etree): name, arch, distro, product_name,
# major/minor version, hostname, package format/management, mountpoints, filesystems with
# type/uuid/label, applications (name+epoch+version+release+arch sets), and every other
# per-OS element both tools report. A field one tool reports and the other leaves out counts
# as a difference for the fields listed above, and is only listed for the others.
# Exit: 0 all equal (or virt-inspector not installed: loud skip), 1 any difference, an
# invalid XML, or an image virt-inspector could not inspect (nothing was compared for it:
# that is a failure too, unless COMPARE_ALLOW_SKIP=1), 2 usage / setup error.
# Environment: GUESTFIX (the binary; default: build target/release/guestfix),
# COMPARE_IMAGES (space-separated image names, default below), COMPARE_KEEP (keep outputs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if ! command -v virt-inspector >/dev/null 2>&1; then
  echo "################################################################################"
  echo "## SKIPPED: virt-inspector is not installed (Debian package: guestfs-tools);   ##"
  echo "## guestfix inspect --xml was NOT compared with libguestfs.                    ##"
  echo "################################################################################"
  exit 0
fi
for tool in python3 xmllint; do
  command -v "$tool" >/dev/null 2>&1 || { echo "compare-virt-inspector: $tool is needed" >&2; exit 2; }
done

IMAGES_DIR="${1:-${GUESTFIX_TEST_IMAGES:-}}"
if [ -z "$IMAGES_DIR" ]; then
  IMAGES_DIR=$(scripts/make-test-images.sh | tail -n 1)
fi
[ -d "$IMAGES_DIR" ] || { echo "compare-virt-inspector: no such folder: $IMAGES_DIR" >&2; exit 2; }

RNG_GZ=/usr/share/doc/guestfs-tools/virt-inspector.rng.gz
[ -f "$RNG_GZ" ] || { echo "compare-virt-inspector: $RNG_GZ is missing (guestfs-tools)" >&2; exit 2; }

# libguestfs on this machine: direct backend, TCG, supermin kernel (scripts/libguestfs-env.sh).
# shellcheck source=scripts/libguestfs-env.sh
source scripts/libguestfs-env.sh || { echo "compare-virt-inspector: libguestfs setup failed" >&2; exit 2; }

if [ -z "${GUESTFIX:-}" ]; then
  echo "== building guestfix (cargo build --release)" >&2
  cargo build -q --release --bin guestfix
  GUESTFIX="${CARGO_TARGET_DIR:-$ROOT/target}/release/guestfix"
fi

WORK="$(mktemp -d)"
if [ -n "${COMPARE_KEEP:-}" ]; then
  echo "outputs kept in $WORK" >&2
else
  trap 'rm -rf "$WORK"' EXIT
fi
gunzip -c "$RNG_GZ" > "$WORK/virt-inspector.rng"

# The Python side: normalise both XML documents and print the per-field table.
cat > "$WORK/compare.py" <<'PY'
import sys
import xml.etree.ElementTree as ET

# Fields that both tools must report (a field only one side reports is a difference).
REQUIRED = ["name", "arch", "distro", "product_name", "major_version", "minor_version",
            "hostname", "package_format", "package_management",
            "mountpoints", "filesystems", "applications"]
STRUCTURED = {"mountpoints", "filesystems", "applications", "drive_mappings", "icon"}


def text(e):
    return (e.text or "").strip() if e is not None else None


def norm_os(os_el):
    f = {}
    for child in os_el:
        tag = child.tag
        if tag == "mountpoints":
            f[tag] = sorted((m.get("dev"), text(m)) for m in child)
        elif tag == "filesystems":
            fss = {}
            for fs in child:
                fss[fs.get("dev")] = {c.tag: text(c) for c in fs}
            f[tag] = fss
        elif tag == "applications":
            apps = set()
            for a in child:
                d = {c.tag: text(c) for c in a}
                apps.add((d.get("name", ""), d.get("epoch", "0") or "0", d.get("version", ""),
                          d.get("release", ""), d.get("arch", "")))
            f[tag] = apps
        elif tag == "drive_mappings":
            f[tag] = sorted((m.get("name"), text(m)) for m in child)
        elif tag == "icon":
            f[tag] = "(icon)"
        else:
            f[tag] = text(child)
    return f


def load(path):
    root = ET.parse(path).getroot()
    return {text(o.find("root")): norm_os(o) for o in root.findall("operatingsystem")}


def short(v, n=60):
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def fmt_app(a):
    name, epoch, ver, rel, arch = a
    return f"{name} {epoch + ':' if epoch != '0' else ''}{ver}{'-' + rel if rel else ''} {arch}"


def drop_absent_disk_mounts(image, present, a, b):
    """fstab entries naming a device of a disk that is not in the image (debian12-*'s
    `/dev/sdb1 /srv/data`): nothing in the image can say which answer is right, and
    virt-inspector's answer depends on its appliance's own disks (on GPT images it reports the
    guest's /dev/sda1 for it, after failing to mount the appliance's /dev/sdb1). Such mount
    points are listed and left out of the comparison on both sides, with the type-less
    <filesystem> entries that only they bring."""
    notes = []
    for mp_dev, mp in list(b.get("mountpoints", [])):
        if mp_dev in present:
            continue
        vi_devs = [d for d, m in a.get("mountpoints", []) if m == mp]
        notes.append(f"{mp}: guestfix {mp_dev} (not in the image), virt-inspector {', '.join(vi_devs) or '-'}")
        for side, devs in ((a, vi_devs), (b, [mp_dev])):
            side["mountpoints"] = [(d, m) for d, m in side.get("mountpoints", []) if m != mp]
            for d in devs:
                if not side.get("filesystems", {}).get(d, {}).get("type"):
                    side.get("filesystems", {}).pop(d, None)
    for n in notes:
        print(f"note: {image}: mount point of a disk absent from the image, not compared: {n}")


def main():
    image, vi_path, gf_path, present = sys.argv[1:5]
    present = set(present.split(","))
    vi, gf = load(vi_path), load(gf_path)
    for r in set(vi) & set(gf):
        drop_absent_disk_mounts(image, present, vi[r], gf[r])
    diffs = []
    print(f"\n### {image}\n")
    print("| root | field | virt-inspector | guestfix | result |")
    print("|---|---|---|---|---|")
    roots = sorted(set(vi) | set(gf), key=str)
    for r in roots:
        if r not in vi or r not in gf:
            side = "virt-inspector" if r in vi else "guestfix"
            print(f"| {r} | (operating system) | {'yes' if r in vi else '-'} | {'yes' if r in gf else '-'} | DIFF |")
            diffs.append(f"{image}: OS root {r} found only by {side}")
            continue
        a, b = vi[r], gf[r]
        fields = REQUIRED + sorted((set(a) | set(b)) - set(REQUIRED) - {"root"})
        for k in fields:
            va, vb = a.get(k), b.get(k)
            if va is None and vb is None:
                print(f"| {r} | {k} | - | - | both absent |")
                continue
            if va is None or vb is None:
                who = "virt-inspector" if va is None else "guestfix"
                shown_a = "-" if va is None else short(va if k not in STRUCTURED else f"{len(va)} entries")
                shown_b = "-" if vb is None else short(vb if k not in STRUCTURED else f"{len(vb)} entries")
                if k in REQUIRED:
                    print(f"| {r} | {k} | {shown_a} | {shown_b} | DIFF (missing in {who}) |")
                    diffs.append(f"{image} {r} {k}: missing in {who} (virt-inspector={shown_a!s}, guestfix={shown_b!s})")
                else:
                    print(f"| {r} | {k} | {shown_a} | {shown_b} | only one reports it |")
                continue
            if k == "applications":
                only_a, only_b = sorted(va - vb), sorted(vb - va)
                ok = not only_a and not only_b
                print(f"| {r} | applications | {len(va)} packages | {len(vb)} packages | {'same' if ok else 'DIFF'} |")
                for x in only_a:
                    diffs.append(f"{image} {r} application only in virt-inspector: {fmt_app(x)}")
                for x in only_b:
                    diffs.append(f"{image} {r} application only in guestfix: {fmt_app(x)}")
            elif k == "filesystems":
                ok = va == vb
                print(f"| {r} | filesystems | {len(va)} ({', '.join(sorted(va))}) | {len(vb)} ({', '.join(sorted(vb))}) | {'same' if ok else 'DIFF'} |")
                for dev in sorted(set(va) | set(vb)):
                    fa, fb = va.get(dev), vb.get(dev)
                    if fa != fb:
                        diffs.append(f"{image} {r} filesystem {dev}: virt-inspector={fa} guestfix={fb}")
            elif k in STRUCTURED:
                ok = va == vb
                print(f"| {r} | {k} | {short(va)} | {short(vb)} | {'same' if ok else 'DIFF'} |")
                if not ok:
                    diffs.append(f"{image} {r} {k}: virt-inspector={va} guestfix={vb}")
            else:
                ok = va == vb
                print(f"| {r} | {k} | {short(va)} | {short(vb)} | {'same' if ok else 'DIFF'} |")
                if not ok:
                    diffs.append(f"{image} {r} {k}: virt-inspector={va!r} guestfix={vb!r}")
    for d in diffs:
        print(f"DIFF: {d}", file=sys.stderr)
    sys.exit(1 if diffs else 0)


main()
PY

DEFAULT_IMAGES="debian12-bios debian12-uefi debian12-xfs debian12-btrfs win2019 win11 win2012r2 win2022-bios win2022-uefi win10"
FAILED=()
SKIPPED=()
for name in ${COMPARE_IMAGES:-$DEFAULT_IMAGES}; do
  img="$IMAGES_DIR/$name.raw"
  if [ ! -f "$img" ]; then
    echo "compare-virt-inspector: $img is missing" >&2
    FAILED+=("$name: image missing")
    continue
  fi
  echo "== $name: virt-inspector -a $img" >&2
  vi_opts=()
  if ! virt-inspector -a "$img" > "$WORK/$name.vi.xml" 2> "$WORK/$name.vi.err"; then
    echo "   virt-inspector failed ($(tail -n 1 "$WORK/$name.vi.err")); retrying with --no-applications" >&2
    vi_opts=(--no-applications)
    if ! virt-inspector "${vi_opts[@]}" -a "$img" > "$WORK/$name.vi.xml" 2> "$WORK/$name.vi.err"; then
      echo "   virt-inspector does not accept $name: $(tail -n 1 "$WORK/$name.vi.err")" >&2
      SKIPPED+=("$name (virt-inspector: $(tail -n 1 "$WORK/$name.vi.err"))")
      continue
    fi
  fi
  if ! grep -q '<operatingsystem>' "$WORK/$name.vi.xml"; then
    echo "   virt-inspector found no operating system in $name; not compared" >&2
    SKIPPED+=("$name (virt-inspector found no operating system)")
    continue
  fi
  echo "== $name: guestfix inspect --xml $img" >&2
  if ! "$GUESTFIX" inspect --xml "$img" > "$WORK/$name.gf.xml" 2> "$WORK/$name.gf.err"; then
    echo "   guestfix inspect failed: $(tail -n 3 "$WORK/$name.gf.err")" >&2
    FAILED+=("$name: guestfix inspect --xml failed")
    continue
  fi
  if [ ${#vi_opts[@]} -gt 0 ]; then
    # virt-inspector could only run without applications: compare without them.
    python3 - "$WORK/$name.gf.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1])
for o in t.getroot().findall("operatingsystem"):
    for a in o.findall("applications"):
        o.remove(a)
t.write(sys.argv[1] + ".noapps")
PY
    gf_cmp="$WORK/$name.gf.xml.noapps"
  else
    gf_cmp="$WORK/$name.gf.xml"
  fi
  if ! xmllint --noout --relaxng "$WORK/virt-inspector.rng" "$WORK/$name.gf.xml" 2> "$WORK/$name.rng.err"; then
    echo "   guestfix XML does NOT validate against virt-inspector.rng:" >&2
    cat "$WORK/$name.rng.err" >&2
    FAILED+=("$name: guestfix XML invalid against virt-inspector.rng")
  else
    echo "   guestfix XML validates against virt-inspector.rng" >&2
  fi
  # The devices the image really has (index.json, written by make-test-images.sh): /dev/sdaN.
  present=$(python3 - "$IMAGES_DIR/index.json" "$name" <<'PY'
import json, sys
for i in json.load(open(sys.argv[1]))["images"]:
    if i["name"] == sys.argv[2]:
        print(",".join(f"/dev/sda{p['number']}" for p in i.get("partitions", [])))
PY
)
  if ! python3 "$WORK/compare.py" "$name${vi_opts:+ (virt-inspector ${vi_opts[*]})}" \
      "$WORK/$name.vi.xml" "$gf_cmp" "$present"; then
    FAILED+=("$name: fields differ")
  fi
done

echo
if [ ${#SKIPPED[@]} -gt 0 ]; then
  echo "not compared (virt-inspector could not inspect them):"
  printf '  %s\n' "${SKIPPED[@]}"
  if [ "${COMPARE_ALLOW_SKIP:-}" != 1 ]; then
    for s in "${SKIPPED[@]}"; do FAILED+=("$s: not compared"); done
  fi
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "compare-virt-inspector: FAILED"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
echo "compare-virt-inspector: guestfix inspect --xml agrees with virt-inspector on every compared field"
