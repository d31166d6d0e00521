"""The host agent's inventory (hoja de vida del equipo), served as JSON on GET /inventory.

Runs inside `monitord agent` only. Everything is read without root-only tricks: on Linux
/etc/os-release, /proc/cpuinfo, /sys/class/dmi/id (fields the kernel makes root-only,
such as product_serial, are null unless the agent runs as root), /sys/block, psutil, and
the dpkg database (/var/lib/dpkg/status, read directly) or `rpm -qa`; on Windows the
registry (CurrentVersion, CentralProcessor, the Uninstall keys, 64- and 32-bit views) and
one PowerShell CIM query (Win32_ComputerSystem, Win32_BIOS, Win32_DiskDrive).

Each Windows reader is split in two: the part that calls the OS (winreg, PowerShell),
which runs only on Windows, and a pure function that turns what it returns into the
inventory's shape; the tests run the pure halves on recorded data from
tests/collectors/data/windows/.

Shape (schema 1): hostname, os{family,name,version,pretty}, kernel, arch,
cpu{model,cores,threads}, memory_bytes, swap_bytes,
system{manufacturer,model,serial,bios_version}, disks[{device,model,size_bytes}],
filesystems[{mountpoint,device,fstype,size_bytes}],
interfaces[{name,mac,addresses[{family,address,netmask}],up,speed_bytes,mtu}],
boot_time, software_source, software[{name,version,arch,publisher}], collected_at.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Final

import psutil

__all__ = [
    "SCHEMA",
    "basic_info",
    "parse_dpkg_status",
    "parse_os_release",
    "parse_rpm_query",
    "parse_windows_wmi",
    "read_inventory",
    "software_from_uninstall",
    "windows_os_from_registry",
]

SCHEMA: Final = 1
_DMI: Final = "/sys/class/dmi/id"
_UNINSTALL: Final = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
_UNINSTALL_32: Final = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
_SKIP_BLOCK: Final = re.compile(r"(loop|ram|zram|sr|fd|dm-|md)\d*")
_WMI_SCRIPT: Final = (
    "@{cs = Get-CimInstance Win32_ComputerSystem | Select-Object Manufacturer,Model;"
    " bios = Get-CimInstance Win32_BIOS | Select-Object SerialNumber,SMBIOSBIOSVersion;"
    " disks = @(Get-CimInstance Win32_DiskDrive | Select-Object DeviceID,Model,Size)}"
    " | ConvertTo-Json -Depth 3 -Compress"
)

Json = dict[str, object]


def basic_info() -> dict[str, str]:
    """hostname, os, os_version, kernel, arch: the labels of monitord_host_info (cheap)."""
    os_info = _os_info()
    return {
        "hostname": socket.gethostname(),
        "os": str(os_info.get("name") or platform.system()),
        "os_version": str(os_info.get("version") or ""),
        "kernel": platform.release(),
        "arch": platform.machine(),
    }


def read_inventory(
    fs_exclude_types: Iterable[str] = (),
    fs_exclude_mountpoints: Iterable[str] = (),
    timeout: float = 30.0,
) -> Json:
    """Read the whole inventory (blocking; tens of milliseconds, more with many packages).

    Filesystems are the physical ones (psutil.disk_partitions(all=False)) minus the excluded
    types and mount points (the host collector's options: regular expressions matching the
    whole mount point).
    """
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    excluded = frozenset(fs_exclude_types)
    patterns = [re.compile(p) for p in fs_exclude_mountpoints]
    filesystems: list[Json] = []
    for part in psutil.disk_partitions(all=False):
        if part.fstype in excluded or any(p.fullmatch(part.mountpoint) for p in patterns):
            continue
        try:
            size = psutil.disk_usage(part.mountpoint).total
        except OSError:
            continue
        filesystems.append(
            {
                "mountpoint": part.mountpoint,
                "device": part.device,
                "fstype": part.fstype,
                "size_bytes": size,
            }
        )
    if sys.platform == "win32":
        system, disks = _windows_wmi(timeout)
        source, software = "registry", software_from_uninstall(_windows_uninstall_entries())
        cpu_model = str(_winreg_values(_CPU_KEY).get("ProcessorNameString", "")).strip()
    else:
        system, disks = _linux_dmi(), _linux_disks()
        source, software = _linux_software(timeout)
        cpu_model = _linux_cpu_model()
    return {
        "schema": SCHEMA,
        **{k: v for k, v in basic_info().items() if k not in ("os", "os_version")},
        "os": _os_info(),
        "cpu": {
            "model": cpu_model,
            "cores": psutil.cpu_count(logical=False),
            "threads": psutil.cpu_count(logical=True),
        },
        "memory_bytes": vm.total,
        "swap_bytes": sw.total,
        "system": system,
        "disks": disks,
        "filesystems": filesystems,
        "interfaces": _interfaces(),
        "boot_time": psutil.boot_time(),
        "software_source": source,
        "software": software,
        "collected_at": time.time(),
    }


# -- Linux --------------------------------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of /etc/os-release, quotes removed."""
    out: dict[str, str] = {}
    for ln in text.splitlines():
        key, sep, value = ln.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key.strip()] = value.replace('\\"', '"')
    return out


def parse_dpkg_status(text: str) -> list[Json]:
    """Installed packages of a dpkg status file: name, version, arch."""
    out: list[Json] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for ln in stanza.splitlines():
            if ln and not ln[0].isspace():
                key, _, value = ln.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            out.append(
                {
                    "name": fields["Package"],
                    "version": fields.get("Version", ""),
                    "arch": fields.get("Architecture", ""),
                    "publisher": "",
                }
            )
    return sorted(out, key=lambda p: (str(p["name"]), str(p["arch"])))


def parse_rpm_query(text: str) -> list[Json]:
    """`rpm -qa --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\n'` output."""
    out: list[Json] = []
    for ln in text.splitlines():
        parts = ln.split("\t")
        if len(parts) >= 3 and parts[0]:
            vendor = parts[3] if len(parts) > 3 and parts[3] != "(none)" else ""
            out.append(
                {"name": parts[0], "version": parts[1], "arch": parts[2], "publisher": vendor}
            )
    return sorted(out, key=lambda p: (str(p["name"]), str(p["arch"])))


def _os_info() -> Json:
    if sys.platform == "win32":
        return windows_os_from_registry(_winreg_values(_NT_KEY))
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as fh:
                rel = parse_os_release(fh.read(65536))
        except OSError:
            continue
        return {
            "family": "linux",
            "name": rel.get("NAME", "Linux"),
            "version": rel.get("VERSION_ID", ""),
            "pretty": rel.get("PRETTY_NAME", ""),
        }
    return {
        "family": platform.system().lower(),
        "name": platform.system(),
        "version": "",
        "pretty": platform.platform(),
    }


def _linux_cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return platform.processor()
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for ln in text.splitlines():
            name, sep, value = ln.partition(":")
            if sep and name.strip() == key:
                return value.strip()
    return platform.processor()


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(4096).strip() or None
    except OSError:  # missing, or root-only (product_serial)
        return None


def _linux_dmi() -> Json:
    return {
        "manufacturer": _read_small(f"{_DMI}/sys_vendor"),
        "model": _read_small(f"{_DMI}/product_name"),
        "serial": _read_small(f"{_DMI}/product_serial"),
        "bios_version": _read_small(f"{_DMI}/bios_version"),
    }


def _linux_disks() -> list[Json]:
    out: list[Json] = []
    try:
        names = sorted(os.listdir("/sys/block"))
    except OSError:
        return out
    for dev in names:
        if _SKIP_BLOCK.fullmatch(dev):
            continue
        sectors = _read_small(f"/sys/block/{dev}/size")
        model = _read_small(f"/sys/block/{dev}/device/model")
        size = int(sectors) * 512 if sectors and sectors.isdigit() else None
        out.append({"device": dev, "model": model, "size_bytes": size})
    return out


def _linux_software(timeout: float) -> tuple[str, list[Json]]:
    try:
        with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as fh:
            return "dpkg", parse_dpkg_status(fh.read())
    except OSError:
        pass
    qf = "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\n"
    try:
        res = subprocess.run(
            ["rpm", "-qa", "--qf", qf],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "none", []
    if res.returncode != 0:
        return "none", []
    return "rpm", parse_rpm_query(res.stdout.decode("utf-8", "replace"))


def _interfaces() -> list[Json]:
    stats = psutil.net_if_stats()
    out: list[Json] = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        mac = ""
        addresses: list[Json] = []
        for a in addrs:
            if a.family == psutil.AF_LINK:
                mac = a.address.replace("-", ":").lower()
            elif a.family in (socket.AF_INET, socket.AF_INET6):
                fam = "ipv4" if a.family == socket.AF_INET else "ipv6"
                addresses.append({"family": fam, "address": a.address, "netmask": a.netmask})
        st = stats.get(name)
        out.append(
            {
                "name": name,
                "mac": mac,
                "addresses": addresses,
                "up": bool(st.isup) if st else None,
                "speed_bytes": st.speed * 125_000 if st and st.speed > 0 else None,
                "mtu": st.mtu if st else None,
            }
        )
    return out


# -- Windows ------------------------------------------------------------------------------

_NT_KEY: Final = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
_CPU_KEY: Final = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"


def windows_os_from_registry(values: Mapping[str, object]) -> Json:
    """OS name and version from HKLM\\...\\Windows NT\\CurrentVersion values.

    Windows 11 still writes "Windows 10" in ProductName; build 22000 and later is 11.
    """
    name = str(values.get("ProductName", "Windows"))
    build = str(values.get("CurrentBuild") or values.get("CurrentBuildNumber") or "")
    if build.isdigit() and int(build) >= 22000 and "Windows 10" in name:
        name = name.replace("Windows 10", "Windows 11")
    display = str(values.get("DisplayVersion") or values.get("ReleaseId") or "")
    ubr = values.get("UBR")
    version = f"10.0.{build}.{ubr}" if build and isinstance(ubr, int) else build
    return {
        "family": "windows",
        "name": name,
        "version": version,
        "pretty": f"{name} {display}".strip(),
    }


def software_from_uninstall(entries: Iterable[Mapping[str, object]]) -> list[Json]:
    """Installed programs from the registry's Uninstall keys (one mapping of values each).

    Skips entries without DisplayName, system components (SystemComponent=1), updates
    (ParentKeyName set, or ReleaseType update/hotfix) and duplicates across the 64- and
    32-bit views.
    """
    seen: set[tuple[str, str]] = set()
    out: list[Json] = []
    for e in entries:
        name = str(e.get("DisplayName") or "").strip()
        if not name or e.get("SystemComponent") in (1, "1") or e.get("ParentKeyName"):
            continue
        if str(e.get("ReleaseType") or "").lower() in ("update", "hotfix", "security update"):
            continue
        version = str(e.get("DisplayVersion") or "").strip()
        if (name, version) in seen:
            continue
        seen.add((name, version))
        out.append(
            {
                "name": name,
                "version": version,
                "arch": str(e.get("_view") or ""),
                "publisher": str(e.get("Publisher") or "").strip(),
            }
        )
    return sorted(out, key=lambda p: (str(p["name"]).lower(), str(p["version"])))


def parse_windows_wmi(text: str) -> tuple[Json, list[Json]]:
    """The PowerShell CIM query's JSON → (system, disks)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    cs = data.get("cs") or {}
    bios = data.get("bios") or {}
    disks_raw = data.get("disks") or []
    if isinstance(disks_raw, dict):  # ConvertTo-Json unwraps one-element arrays
        disks_raw = [disks_raw]
    system: Json = {
        "manufacturer": _clean(cs.get("Manufacturer")),
        "model": _clean(cs.get("Model")),
        "serial": _clean(bios.get("SerialNumber")),
        "bios_version": _clean(bios.get("SMBIOSBIOSVersion")),
    }
    disks: list[Json] = []
    for d in disks_raw:
        size = d.get("Size")
        disks.append(
            {
                "device": _clean(d.get("DeviceID")),
                "model": _clean(d.get("Model")),
                "size_bytes": int(size)
                if isinstance(size, int | str) and str(size).isdigit()
                else None,
            }
        )
    return system, disks


def _clean(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _windows_wmi(timeout: float) -> tuple[Json, list[Json]]:
    cmd = ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", _WMI_SCRIPT]
    try:
        res = subprocess.run(
            cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
        if res.returncode == 0:
            return parse_windows_wmi(res.stdout.decode("utf-8", "replace"))
    except (OSError, subprocess.TimeoutExpired, ValueError):
        pass
    empty: Json = {"manufacturer": None, "model": None, "serial": None, "bios_version": None}
    return empty, []


def _winreg_values(path: str, view: int = 0) -> dict[str, object]:
    """Values of HKLM\\`path` (empty if missing or not on Windows)."""
    if sys.platform != "win32":
        return {}
    import winreg

    out: dict[str, object] = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, path, 0, winreg.KEY_READ | view) as key:
            i = 0
            while True:
                try:
                    name, value, _ = winreg.EnumValue(key, i)
                except OSError:
                    break
                out[name] = value
                i += 1
    except OSError:
        pass
    return out


def _windows_uninstall_entries() -> list[dict[str, object]]:
    """One mapping of values per Uninstall subkey, 64- and 32-bit views."""
    if sys.platform != "win32":
        return []
    import winreg

    out: list[dict[str, object]] = []
    for path, view in ((_UNINSTALL, "x64"), (_UNINSTALL_32, "x86")):
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, path) as key:
                n = winreg.QueryInfoKey(key)[0]
                subkeys = [winreg.EnumKey(key, i) for i in range(n)]
        except OSError:
            continue
        for sub in subkeys:
            values = _winreg_values(f"{path}\\{sub}")
            if values:
                out.append({**values, "_view": view})
    return out
