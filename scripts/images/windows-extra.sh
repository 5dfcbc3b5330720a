#!/usr/bin/env bash
# More Windows-like test guests, built by the same builder as win2019/win11
# (scripts/images/windows.py) from specs kept in this script:
#
#   win2012r2  Windows Server 2012 R2 Standard (build 9600, no CurrentMajorVersionNumber: the
#              version comes from CurrentVersion 6.3), BIOS/MBR, sysprepped, German OS language
#              with a de-DE language pack, DHCP client disabled, a boot menu with two Windows
#              entries, only .NET 3.5 SP1, pending file renames, P2V leftovers (VMware Converter
#              service, HP Smart Array driver boot-start), hibernation header in hiberfil.sys,
#              SQL Server Express; virtio drivers present (viostor boot-start, netkvm); a SAM hive
#              with RC4-era hash entries (every enabled account has a password).
#
# usage: windows-extra.sh OUTDIR     (needs guestfish + hivexregedit, like windows.py; source
#                                    scripts/libguestfs-env.sh first)
# Writes OUTDIR/<name>.raw, its manifests and OUTDIR/meta/<name>.json (merged into index.json by
# scripts/images/index.py). windows.py reads its specs from <repo>/test-images/trees/<name>/:
# the specs are written into a scratch "repo" that links the real windows.py, so nothing in the
# checkout changes.
set -euo pipefail
OUT=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
mkdir -p "$OUT/meta"
SCRATCH=$(mktemp -d "$OUT/.work-windows-extra.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/scripts/images"
ln -s "$HERE/windows.py" "$SCRATCH/scripts/images/windows.py"
# windows.py finds the minimal hive beside the repo; point it at the real one.
MINIMAL=${GUESTFIX_MINIMAL_HIVE:-$(dirname "$REPO")/shared/data/libguestfs/test-data/phony-guests/minimal-hive}
[ -f "$MINIMAL" ] || MINIMAL=/work/shared/data/libguestfs/test-data/phony-guests/minimal-hive
export GUESTFIX_MINIMAL_HIVE=$MINIMAL

python3 - "$SCRATCH/test-images/trees" <<'PY'
import json, os, sys
trees = sys.argv[1]

def multi_sz(*items):
    data = "".join(s + "\0" for s in items) + "\0"
    return "hex(7):" + ",".join("%02x" % b for b in data.encode("utf-16-le"))

name = "win2012r2"
d = os.path.join(trees, name)
os.makedirs(d)
system = r'''Windows Registry Editor Version 5.00
; SYSTEM hive of the crafted Windows Server 2012 R2 guest (parents before children).

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000001
"Default"=dword:00000001
"LastKnownGood"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\MountedDevices]
"\\DosDevices\\C:"=hex(3):@MOUNTED_C@

[HKEY_LOCAL_MACHINE\SYSTEM\Setup]
"SystemSetupInProgress"=dword:00000001
"OOBEInProgress"=dword:00000001
"SetupType"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName\ComputerName]
"ComputerName"=str(1):"@HOSTNAME@"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Session Manager]
"PendingFileRenameOperations"=@PENDING@

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Session Manager\Environment]
"PROCESSOR_ARCHITECTURE"=str(1):"AMD64"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Session Manager\Memory Management]
"PagingFiles"=@PAGING@

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\TimeZoneInformation]
"TimeZoneKeyName"=str(1):"W. Europe Standard Time"
"RealTimeIsUniversal"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Terminal Server]
"fDenyTSConnections"=dword:00000000

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Nls]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Nls\Language]
"Default"=str(1):"0407"
"InstallLanguage"=str(1):"0407"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\MUI]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\MUI\UILanguages]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\MUI\UILanguages\de-DE]
"LCID"=dword:00000407

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\MUI\UILanguages\en-US]
"LCID"=dword:00000409

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip]
"Start"=dword:00000001
"Type"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters]
"Hostname"=str(1):"@HOSTNAME@"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters\Interfaces]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters\Interfaces\{2012a5e5-0001-4e1b-9c3a-0a1b2c3d4e5f}]
"EnableDHCP"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Dhcp]
"Start"=dword:00000004
"Type"=dword:00000020
"ImagePath"=str(2):"%SystemRoot%\\system32\\svchost.exe -k LocalServiceNetworkRestricted"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\SharedAccess]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\SharedAccess\Parameters]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy\FirewallRules]
"RemoteDesktop-UserMode-In-TCP"=str(1):"v2.22|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=3389|App=%SystemRoot%\\system32\\svchost.exe|Svc=termservice|Name=@FirewallAPI.dll,-28775|"
"FPS-SMB-In-TCP"=str(1):"v2.22|Action=Allow|Active=FALSE|Dir=In|Protocol=6|LPort=445|App=System|Name=@FirewallAPI.dll,-28502|"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\viostor]
"Start"=dword:00000000
"Type"=dword:00000001
"ImagePath"=str(2):"System32\\drivers\\viostor.sys"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\netkvm]
"Start"=dword:00000003
"Type"=dword:00000001
"ImagePath"=str(2):"System32\\drivers\\netkvm.sys"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\HpSAMD]
"Start"=dword:00000000
"Type"=dword:00000001
"ImagePath"=str(2):"System32\\drivers\\HpSAMD.sys"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\vstor2-mntapi20-shared]
"Start"=dword:00000001
"Type"=dword:00000001
"ImagePath"=str(2):"\\SystemRoot\\system32\\drivers\\vstor2-x64.sys"
"DisplayName"=str(1):"Vstor2 MntApi 2.0 Driver (shared)"
'''
system = system.replace("@PENDING@", multi_sz(r"\??\C:\Windows\Temp\update.dll", "", r"\??\C:\Windows\System32\update.dll"))
system = system.replace("@PAGING@", multi_sz(r"C:\pagefile.sys 2048 2048"))
software = r'''Windows Registry Editor Version 5.00
; SOFTWARE hive of the crafted Windows Server 2012 R2 guest: no CurrentMajorVersionNumber.

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"=str(1):"Windows Server 2012 R2 Standard"
"EditionID"=str(1):"ServerStandard"
"InstallationType"=str(1):"Server"
"CurrentVersion"=str(1):"6.3"
"CurrentBuild"=str(1):"9600"
"CurrentBuildNumber"=str(1):"9600"
"BuildLabEx"=str(1):"9600.17415.amd64fre.winblue_r4.141028-1500"
"SystemRoot"=str(1):"C:\\Windows"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon]
"AutoAdminLogon"=str(1):"0"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\NET Framework Setup]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\NET Framework Setup\NDP]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\NET Framework Setup\NDP\v3.5]
"Install"=dword:00000001
"SP"=dword:00000001
"Version"=str(1):"3.5.30729.4926"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL]
"SQLEXPRESS"=str(1):"MSSQL12.SQLEXPRESS"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL12.SQLEXPRESS]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL12.SQLEXPRESS\Setup]
"Edition"=str(1):"Express Edition"
"Version"=str(1):"12.0.2000.8"
'''
bm = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}"
l1 = "{2012a5e5-0b1e-11e4-9a3b-0a1b2c3d4e5f}"
l2 = "{2012a5e5-0b1e-11e4-9a3b-0a1b2c3d4e60}"
bcd = r'''Windows Registry Editor Version 5.00
; BCD store: boot manager with a display order of two Windows loaders (a boot menu, WIN-9).

[HKEY_LOCAL_MACHINE\BCD00000000\Description]
"KeyName"=str(1):"BCD00000000"

[HKEY_LOCAL_MACHINE\BCD00000000\Objects]
'''
def obj(guid, typ, elems):
    t = "\n[HKEY_LOCAL_MACHINE\\BCD00000000\\Objects\\%s]\n" % guid
    t += "\n[HKEY_LOCAL_MACHINE\\BCD00000000\\Objects\\%s\\Description]\n\"Type\"=dword:%08x\n" % (guid, typ)
    t += "\n[HKEY_LOCAL_MACHINE\\BCD00000000\\Objects\\%s\\Elements]\n" % guid
    for k, v in elems:
        t += "\n[HKEY_LOCAL_MACHINE\\BCD00000000\\Objects\\%s\\Elements\\%s]\n\"Element\"=%s\n" % (guid, k, v)
    return t
bcd += obj(bm, 0x10100002, [("12000004", 'str(1):"Windows Boot Manager"'),
                           ("23000003", 'str(1):"%s"' % l1),
                           ("24000001", multi_sz(l1, l2))])
bcd += obj(l1, 0x10200003, [("12000002", r'str(1):"\\Windows\\system32\\winload.exe"'),
                           ("12000004", 'str(1):"Windows Server 2012 R2"')])
bcd += obj(l2, 0x10200003, [("12000002", r'str(1):"\\Windows\\system32\\winload.exe"'),
                           ("12000004", 'str(1):"Windows Server 2012 R2 (old)"')])
for fn, text in (("SYSTEM.reg", system), ("SOFTWARE.reg", software), ("BCD.reg", bcd)):
    open(os.path.join(d, fn), "w", encoding="utf-8").write(text)
spec = {
    "description": "Crafted Windows Server 2012 R2 Standard guest, legacy BIOS/MBR: p1 'System Reserved' NTFS (bootmgr, Boot/BCD with two loaders), p2 NTFS C:; sysprepped, German OS language, DHCP client disabled, .NET 3.5 only, P2V leftovers, hibernation header, SQL Server Express; virtio drivers present.",
    "boot": "bios", "table": "mbr", "disk_mib": 128, "disk_id": "0x2012a5e5",
    "partitions": [
        {"name": "system", "fs": "ntfs", "mib": 32, "label": "System Reserved", "role": "system", "bootable": True},
        {"name": "windows", "fs": "ntfs", "mib": 95, "label": "", "role": "windows"}],
    "hives": {"SYSTEM": "SYSTEM.reg", "SOFTWARE": "SOFTWARE.reg", "BCD": "BCD.reg"},
    "hive_paths": {"SYSTEM": "windows:/Windows/System32/config/SYSTEM",
                   "SOFTWARE": "windows:/Windows/System32/config/SOFTWARE",
                   "BCD": "system:/Boot/BCD",
        "SAM": "windows:/Windows/System32/config/SAM"},
    # Before Windows 10 1607 the SAM keeps RC4-style hash entries (4-byte header + 16 bytes).
    "accounts": [
        {"name": "Administrator", "rid": 500, "password": True, "hash": "rc4",
         "comment": "Built-in account for administering the computer/domain"},
        {"name": "Guest", "rid": 501, "disabled": True, "password": False, "hash": "rc4",
         "password_not_required": True, "comment": "Built-in account for guest access to the computer/domain"},
        {"name": "Administrateur", "rid": 1000, "password": True, "hash": "rc4", "lm": True,
         "full_name": "Lokaler Administrator"}],
    "pe": ["windows:/Windows/System32/cmd.exe", "windows:/Windows/System32/ntoskrnl.exe",
           "windows:/Windows/System32/winload.exe", "system:/bootmgr"],
    "files": {
        "windows:/Windows/System32/drivers/viostor.sys": "crafted driver placeholder (viostor)\n",
        "windows:/Windows/System32/drivers/netkvm.sys": "crafted driver placeholder (netkvm)\n",
        "windows:/Windows/System32/drivers/HpSAMD.sys": "crafted driver placeholder (HP Smart Array)\n",
        "windows:/Windows/Setup/State/State.ini": "[State]\r\nImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE\r\n",
        "windows:/hiberfil.sys": "hibr crafted hibernation file header\n"},
    "dirs": ["windows:/ProgramData", "windows:/Windows/Temp"],
    "defects": [
        "WIN-9: DHCP client service disabled (Dhcp Start=4); boot menu with two Windows loaders",
        "WIN-8: sysprepped (State.ini IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE, OOBEInProgress=1)",
        "WIN-4: German OS language (Nls Language 0407) with a de-DE language pack",
        "WIN-6: only .NET Framework 3.5 SP1; pending file rename operations",
        "WIN-2: Windows Server 2012 R2 (the service installs the SR-IOV drivers)",
        "GEN-1: P2V leftovers (vstor2-mntapi20-shared service, HpSAMD boot-start)",
        "GEN-5: hiberfil.sys starts with a hibernation signature",
        "OS-5: SQL Server Express Edition installed"],
    "os": {"type": "windows", "distro": "windows", "product_name": "Windows Server 2012 R2 Standard",
           "product_variant": "Server", "major_version": 6, "minor_version": 3, "build": "9600",
           "arch": "x86_64", "hostname": "WIN2012R2-TEST", "systemroot": "/Windows",
           "edition": "ServerStandard", "boot": "bios"},
}
json.dump(spec, open(os.path.join(d, "windows.json"), "w"), indent=1)
PY

for t in "$SCRATCH"/test-images/trees/*/windows.json; do
  n=$(basename "$(dirname "$t")")
  python3 "$SCRATCH/scripts/images/windows.py" "$n" "$OUT"
done
