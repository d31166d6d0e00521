"""The agent's checks and inventory readers: the Linux halves run for real on this machine,
the Windows halves parse recorded data (tests/collectors/data/windows)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from collectors.hostagent.checks import (
    Checks,
    count_apt_upgrades,
    count_dnf_updates,
    count_new_records,
    parse_netsh_firewall,
    parse_wevtutil_record_ids,
    parse_windows_services,
    parse_windows_update_count,
    scan_backup,
)
from collectors.hostagent.config import BackupCheck, SecurityConfig, ServiceCheck
from collectors.hostagent.inventory import (
    basic_info,
    parse_dpkg_status,
    parse_os_release,
    parse_rpm_query,
    parse_windows_wmi,
    read_inventory,
    software_from_uninstall,
    windows_os_from_registry,
)
from monitord.types import Sample, SampleKind
from tests.conftest import wait_for

DATA = Path(__file__).parent / "data" / "windows"
NO_SECURITY = SecurityConfig(failed_logins="none", updates="none", firewall="none")


def _values(samples: list[Sample], name: str) -> dict[str, float]:
    """Values of one metric keyed by its single non-target label value ('' if none)."""
    out: dict[str, float] = {}
    for s in samples:
        if s.name == name:
            rest = [v for k, v in s.labels.items() if k != "target"]
            out[rest[0] if rest else ""] = s.value
    return out


def _backup_dir(root: Path) -> Path:
    """Three dumps (a .gz newest), a log file, a nested old dump; mtimes set by hand."""
    d = root / "db"
    (d / "old").mkdir(parents=True)
    now = time.time()
    for name, size, age in [
        ("a.sql.gz", 1000, 7200),
        ("b.sql.gz", 3000, 600),
        ("c.sql.gz", 500, 3600),
        ("run.log", 99, 10),
    ]:
        p = d / name
        p.write_bytes(b"x" * size)
        os.utime(p, (now - age, now - age))
    p = d / "old" / "z.sql.gz"
    p.write_bytes(b"y" * 4000)
    os.utime(p, (now - 86400, now - 86400))
    return d


def test_scan_backup_pattern_recursion_and_missing_folder(tmp_path: Path) -> None:
    d = _backup_dir(tmp_path)
    flat = scan_backup(str(d), "*.sql.gz", False, 1000)
    assert flat is not None and (flat.files, flat.total, flat.newest_size) == (3, 4500, 3000)
    assert flat.newest_mtime == pytest.approx(os.stat(d / "b.sql.gz").st_mtime)
    deep = scan_backup(str(d), "*.sql.gz", True, 1000)
    assert deep is not None and (deep.files, deep.total) == (4, 8500)
    everything = scan_backup(str(d), "*", False, 1000)
    assert everything is not None and everything.files == 4 and everything.newest_size == 99
    capped = scan_backup(str(d), "*", True, 2)
    assert capped is not None and capped.files == 2
    assert scan_backup(str(tmp_path / "absent"), "*", False, 10) is None


@pytest.fixture
def named_process(tmp_path: Path) -> Iterator[str]:
    """A running process called `mdtestsvc` (a copy of sleep)."""
    exe = tmp_path / "mdtestsvc"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "60"])
    try:
        wait_for(lambda: psutil.Process(proc.pid).name() == "mdtestsvc", 5, "mdtestsvc to run")
        yield "mdtestsvc"
    finally:
        proc.kill()
        proc.wait(5)


def _systemd_booted() -> bool:
    return os.path.isdir("/run/systemd/system")


def test_checks_services_backups_and_files(tmp_path: Path, named_process: str) -> None:
    d = _backup_dir(tmp_path)
    flag = tmp_path / "export.done"
    flag.write_text("ok")
    os.utime(flag, (time.time() - 120, time.time() - 120))
    checks = Checks(
        "agent-host",
        {"svc": ServiceCheck(process=named_process),
         "ghost": ServiceCheck(process="no-such-process-x"),
         "ssh": ServiceCheck(systemd="ssh.service")},
        {"db": BackupCheck(str(d), "*.sql.gz", max_age=7200.0),
         "gone": BackupCheck(str(tmp_path / "gone"))},
        {"export": str(flag), "missing": str(tmp_path / "nope")},
        NO_SECURITY,
    )  # fmt: skip
    checks.run_once()
    s = checks.samples()
    assert all(x.labels["target"] == "agent-host" for x in s)
    up = _values(s, "monitord_service_up")
    failures = _values(s, "monitord_agent_check_failures")
    assert up["svc"] == 1 and up["ghost"] == 0
    if _systemd_booted():
        res = subprocess.run(
            ["systemctl", "show", "-p", "ActiveState", "--value", "ssh.service"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert up["ssh"] == (1 if res.stdout.strip() == "active" else 0)
        assert failures["service"] == 0
    else:  # systemctl cannot answer: the unit is unknown, not down
        assert "ssh" not in up and failures["service"] == 1
    assert _values(s, "monitord_backup_files") == {"db": 3, "gone": 0}
    assert _values(s, "monitord_backup_total_size_bytes") == {"db": 4500, "gone": 0}
    assert _values(s, "monitord_backup_newest_size_bytes") == {"db": 3000}
    # the policy is served for every backup, missing ones too: the alert needs both sides
    assert _values(s, "monitord_backup_max_age_seconds") == {"db": 7200.0, "gone": 93600.0}
    age = _values(s, "monitord_backup_newest_age_seconds")
    assert set(age) == {"db"} and 595 <= age["db"] <= 660
    assert failures["backup"] == 1
    assert _values(s, "monitord_file_exists") == {"export": 1, "missing": 0}
    fage = _values(s, "monitord_file_age_seconds")
    assert set(fage) == {"export"} and 115 <= fage["export"] <= 180
    assert failures["file"] == 0
    assert set(failures) == {"service", "backup", "file", "failed_logins", "updates", "firewall"}


def test_failed_logins_count_only_new_matching_lines_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(
        "Mar  1 10:00:00 vm sshd[1]: Failed password for root from 127.0.0.9 port 1 ssh2\n"
    )
    sec = SecurityConfig(failed_logins="file", auth_log=str(log), updates="none", firewall="none")
    checks = Checks("h", {}, {}, {}, sec)
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 0}
    with log.open("a") as fh:
        fh.write(
            "Mar  1 10:00:01 vm sshd[2]: Failed password for invalid user admin from 127.0.0.9\n"
        )
        fh.write("Mar  1 10:00:02 vm sshd[2]: Accepted publickey for ops from 127.0.0.5\n")
        fh.write("Mar  1 10:00:03 vm login[3]: FAILED LOGIN (1) on '/dev/tty1' FOR 'root'\n")
        fh.write("Mar  1 10:00:04 vm sshd[4]: Failed keyboard-interactive/pam for x from 127.0.0.9")
    checks.run_once()  # the last line has no line feed yet: not counted
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 2}
    with log.open("a") as fh:
        fh.write(" port 22 ssh2\n")
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 3}
    log.rename(tmp_path / "auth.log.1")  # logrotate: a new file from the start
    log.write_text("Mar  2 00:00:01 vm su[9]: FAILED SU (to root) ops on pts/0\n")
    checks.run_once()
    s = checks.samples()
    assert _values(s, "monitord_host_failed_logins_total") == {"": 4}
    counter = next(x for x in s if x.name == "monitord_host_failed_logins_total")
    assert counter.kind is SampleKind.COUNTER and counter.bits == 64
    assert _values(s, "monitord_agent_check_failures")["failed_logins"] == 0
    log.unlink()
    checks.run_once()
    assert _values(checks.samples(), "monitord_agent_check_failures")["failed_logins"] == 1


JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def _journal(directory: Path, ident: str, message: str) -> None:
    """Append one entry (now) to a real journal file, written by systemd-journal-remote."""
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        pytest.fail(f"{JOURNAL_REMOTE} missing: apt-get install systemd-journal-remote")
    now = time.time_ns() // 1000
    entry = (
        f"__REALTIME_TIMESTAMP={now}\n__MONOTONIC_TIMESTAMP={now}\n"
        f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=vm\n"
        f"SYSLOG_IDENTIFIER={ident}\nMESSAGE={message}\n\n"
    )
    subprocess.run(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        input=entry.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )


@pytest.mark.parametrize("at_start", ["sshd", "cron"], ids=["cursor", "since-start"])
def test_failed_logins_from_a_real_journal_count_only_new_entries(
    tmp_path: Path, at_start: str
) -> None:
    """journalctl -D over a journal file: entries present at start-up are not counted;
    later ones of the configured identifiers that match a pattern are. "since-start": no
    sshd/login/su entry at start-up (journalctl exits 1), so no cursor exists yet."""
    if shutil.which("journalctl") is None:
        pytest.fail("journalctl not found: apt-get install systemd")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    _journal(jdir, at_start, "Failed password for root from 127.0.0.1 port 22 ssh2")
    sec = SecurityConfig(
        failed_logins="journal", journal_directory=str(jdir), updates="none", firewall="none"
    )
    checks = Checks("h", {}, {}, {}, sec)
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 0}
    assert _values(checks.samples(), "monitord_agent_check_failures")["failed_logins"] == 0
    _journal(jdir, "sshd", "Failed password for invalid user admin from 127.0.0.9 port 4 ssh2")
    _journal(jdir, "sshd", "Accepted publickey for ops from 127.0.0.5 port 5 ssh2")
    _journal(jdir, "cron", "Failed password for cron-is-not-watched")
    _journal(jdir, "login", "FAILED LOGIN (1) on '/dev/tty1' FOR 'root'")
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 2}
    checks.run_once()  # nothing new
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 2}
    _journal(jdir, "su", "FAILED SU (to root) ops on pts/0")
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_failed_logins_total") == {"": 3}
    sec_gone = SecurityConfig(
        failed_logins="journal", journal_directory=str(tmp_path / "nope"), updates="none",
        firewall="none",
    )  # fmt: skip
    gone = Checks("h", {}, {}, {}, sec_gone)
    gone.run_once()
    assert _values(gone.samples(), "monitord_agent_check_failures")["failed_logins"] == 1
    assert "" not in _values(gone.samples(), "monitord_host_failed_logins_total")


def test_firewall_from_ufw_conf(tmp_path: Path) -> None:
    conf = tmp_path / "ufw.conf"
    conf.write_text("# /etc/ufw/ufw.conf\nENABLED=no\nLOGLEVEL=low\n")
    sec = SecurityConfig(
        failed_logins="none",
        updates="none",
        firewall="linux",
        ufw_conf=str(conf),
        firewall_units=(),
    )
    checks = Checks("h", {}, {}, {}, sec)
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_firewall_enabled") == {"": 0}
    conf.write_text("ENABLED=yes\n")
    checks.run_once()
    assert _values(checks.samples(), "monitord_host_firewall_enabled") == {"": 1}


def test_pending_updates_from_apt_simulation() -> None:
    if shutil.which("apt-get") is None:
        pytest.fail("apt-get not found: this test needs Debian's apt")
    sec = SecurityConfig(failed_logins="none", updates="apt", firewall="none")
    checks = Checks("h", {}, {}, {}, sec, command_timeout=120)
    checks.run_once(updates=False)
    assert "" not in _values(checks.samples(), "monitord_host_pending_updates")
    checks.run_once()
    res = subprocess.run(
        ["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LC_ALL": "C"},
    )
    expected = sum(1 for ln in res.stdout.splitlines() if ln.startswith("Inst "))
    assert _values(checks.samples(), "monitord_host_pending_updates") == {"": expected}
    assert (
        count_apt_upgrades(
            "Reading package lists...\n"
            "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n"
            "Inst tzdata [2024a-0] (2024a-0+deb12u1 Debian:stable-updates [all])\n"
            "Conf libc6 (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n"
        )
        == 2
    )


def test_dnf_check_update_output_is_counted() -> None:
    text = (
        "\nkernel.x86_64                 5.14.0-362.18.1.el9_3      baseos\n"
        "openssl-libs.x86_64           1:3.0.7-25.el9_3           baseos\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64            1:2.06-70.el9_3.2          baseos\n"
        "    grub2-tools.x86_64        1:2.06-70.el9_3.1          @baseos\n"
    )
    assert count_dnf_updates(text) == 2


# -- Windows halves on recorded data ------------------------------------------------------


def test_windows_services_status_to_up() -> None:
    up = parse_windows_services((DATA / "services.json").read_text())
    assert up == {
        "Spooler": True,
        "MSSQLSERVER": True,
        "wuauserv": False,
        "VeeamBackupSvc": False,
        "W3SVC": False,
    }


def test_windows_firewall_netsh_output() -> None:
    text = (DATA / "netsh_firewall.txt").read_text()
    assert parse_netsh_firewall(text) is False  # public profile off
    assert parse_netsh_firewall(text.replace("OFF", "ON")) is True
    assert parse_netsh_firewall("The requested operation requires elevation.\r\n") is None


def test_windows_failed_logins_from_event_records() -> None:
    ids = parse_wevtutil_record_ids((DATA / "wevtutil_4625.xml").read_text())
    assert ids == [1849203, 1849197, 1848011]
    assert count_new_records(ids, -1) == (3, 1849203)
    assert count_new_records(ids, 1849197) == (1, 1849203)
    assert count_new_records([], 1849203) == (0, 1849203)


def test_windows_pending_updates_count() -> None:
    assert parse_windows_update_count((DATA / "pending_updates.txt").read_text()) == 3
    assert parse_windows_update_count("Exception from HRESULT: 0x8024402C\r\n") is None


def test_windows_os_name_and_version_from_the_registry() -> None:
    values = json.loads((DATA / "currentversion.json").read_text())
    assert windows_os_from_registry(values) == {
        "family": "windows", "name": "Windows Server 2022 Standard",
        "version": "10.0.20348.2227", "pretty": "Windows Server 2022 Standard 21H2",
    }  # fmt: skip
    win11 = {
        "ProductName": "Windows 10 Pro",
        "CurrentBuild": "22631",
        "UBR": 3155,
        "DisplayVersion": "23H2",
    }
    assert windows_os_from_registry(win11)["name"] == "Windows 11 Pro"


def test_windows_installed_software_from_uninstall_keys() -> None:
    entries = [{**e, "_view": "x64"} for e in json.loads((DATA / "uninstall_x64.json").read_text())]
    entries += [
        {**e, "_view": "x86"} for e in json.loads((DATA / "uninstall_wow6432.json").read_text())
    ]
    assert software_from_uninstall(entries) == [
        {"name": "7-Zip 23.01 (x64)", "version": "23.01", "arch": "x64",
         "publisher": "Igor Pavlov"},
        {"name": "Adobe Acrobat Reader DC", "version": "23.008.20470", "arch": "x86",
         "publisher": "Adobe"},
        {"name": "Microsoft SQL Server 2022 (64-bit)", "version": "16.0.1000.6", "arch": "x64",
         "publisher": "Microsoft Corporation"},
        {"name": "PowerShell 7-x64", "version": "7.4.6.0", "arch": "x64",
         "publisher": "Microsoft Corporation"},
        {"name": "Veeam Backup & Replication", "version": "12.1.1.56", "arch": "x64",
         "publisher": "Veeam Software Group GmbH"},
    ]  # fmt: skip


def test_windows_wmi_system_and_disks() -> None:
    system, disks = parse_windows_wmi((DATA / "wmi_inventory.json").read_text())
    assert system == {
        "manufacturer": "Dell Inc.",
        "model": "PowerEdge R640",
        "serial": "7XK9P33",
        "bios_version": "2.17.1",
    }
    assert [d["size_bytes"] for d in disks] == [479_559_942_144, 1_999_844_147_200]
    assert disks[0]["device"] == "\\\\.\\PHYSICALDRIVE0"
    system1, disks1 = parse_windows_wmi((DATA / "wmi_inventory_one_disk.json").read_text())
    assert system1["manufacturer"] == "VMware, Inc." and len(disks1) == 1
    assert disks1[0]["size_bytes"] == 107_372_805_120
    with pytest.raises(ValueError):
        parse_windows_wmi("[]")


# -- Linux inventory, for real --------------------------------------------------------------


def test_os_release_and_dpkg_database_parse_like_the_system_tools() -> None:
    rel = parse_os_release(Path("/etc/os-release").read_text())
    assert rel == platform.freedesktop_os_release()
    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    pkgs = parse_dpkg_status(status)
    res = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    installed = {
        (p, v)
        for st, p, v in (ln.split("\t") for ln in res.stdout.splitlines())
        if st.startswith("ii")
    }
    assert len(installed) > 100
    assert {(str(p["name"]), str(p["version"])) for p in pkgs} == installed


def test_rpm_query_output_parses() -> None:
    text = (
        "bash\t5.1.8-6.el9\tx86_64\tRed Hat, Inc.\ngpg-pubkey\t8d8b756f-62911f9f\t(none)\t(none)\n"
    )
    assert parse_rpm_query(text) == [
        {"name": "bash", "version": "5.1.8-6.el9", "arch": "x86_64", "publisher": "Red Hat, Inc."},
        {"name": "gpg-pubkey", "version": "8d8b756f-62911f9f", "arch": "(none)", "publisher": ""},
    ]


def test_read_inventory_agrees_with_psutil_and_the_system() -> None:
    inv = read_inventory(("tmpfs",), (r"/run(/.*)?",))
    assert inv["hostname"] == socket.gethostname() == basic_info()["hostname"]
    assert inv["memory_bytes"] == psutil.virtual_memory().total
    assert inv["kernel"] == platform.release() and inv["arch"] == platform.machine()
    assert inv["os"]["version"] == platform.freedesktop_os_release().get("VERSION_ID")  # type: ignore[index]
    assert inv["cpu"]["threads"] == psutil.cpu_count()  # type: ignore[index]
    fs = {f["mountpoint"]: f for f in inv["filesystems"]}  # type: ignore[attr-defined]
    assert fs["/"]["size_bytes"] == shutil.disk_usage("/").total
    assert not [m for m in fs if m.startswith("/run")]
    ifaces = {i["name"]: i for i in inv["interfaces"]}  # type: ignore[attr-defined]
    assert {"family": "ipv4", "address": "127.0.0.1", "netmask": "255.0.0.0"} in ifaces["lo"][
        "addresses"
    ]
    for name, iface in ifaces.items():
        mac_path = Path(f"/sys/class/net/{name}/address")
        if mac_path.exists():
            assert iface["mac"] == mac_path.read_text().strip()
    assert inv["software_source"] == "dpkg" and len(inv["software"]) > 100  # type: ignore[arg-type]
    assert inv["boot_time"] == psutil.boot_time()
    disks = {d["device"] for d in inv["disks"]}  # type: ignore[attr-defined]
    assert disks and not [d for d in disks if d.startswith(("loop", "zram", "ram"))]
    json.dumps(inv)  # serialisable as served
    assert sys.platform != "win32"
