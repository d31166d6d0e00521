"""What the host agent checks besides the host readings: services, backups, files, security.

Runs inside `monitord agent` (collectors/hostagent/server.py), never in the daemon; the daemon
imports only the metric specs below. Every check reads what the agent's own config file
names (unit names, process names, folders, files, log paths): a request never names a
command, a path or a unit. The commands it may run are fixed argument lists, without a
shell, with a timeout: `systemctl show -p ActiveState --value -- UNIT`, `journalctl`,
`apt-get -s upgrade` / `dnf check-update` (pending updates), and on Windows `netsh
advfirewall show allprofiles state`, `wevtutil qe Security` and one PowerShell query.

Emits, all with `target` (the agent's name; the daemon's collector rewrites it):
  monitord_service_up{service}                  1 running, 0 not (configured name as label)
  monitord_backup_newest_age_seconds{backup}    age of the newest matching file
  monitord_backup_newest_size_bytes{backup}     its size
  monitord_backup_total_size_bytes{backup}      size of every matching file
  monitord_backup_files{backup}                 matching files (0: folder missing or empty)
  monitord_backup_max_age_seconds{backup}       the backup's policy (config max_age, 26 h)
  monitord_file_age_seconds{file}               age of a named file (absent when missing)
  monitord_file_exists{file}                    1 / 0
  monitord_host_failed_logins_total             counter since the agent started
  monitord_host_pending_updates                 OS updates not installed
  monitord_host_firewall_enabled                1 / 0
  monitord_agent_check_failures{check}          items the last run could not read, by check
  monitord_host_info{hostname,os,os_version,kernel,arch} = 1 (served by the agent per scrape)
Series budget: 1 per service, 5 per backup, 2 per file, 3 security, 6 check kinds, 1 info.

Failed logins are a counter since the agent started (not a windowed count): the agent
tails the configured log (auth.log, the journal, or the Security event log, event 4625)
from where it was at start-up and counts matching lines; `monitord.state` turns the
counter into per-period increases and treats an agent restart as a counter reset.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import psutil

from collectors.hostagent.config import BackupCheck, SecurityConfig, ServiceCheck
from monitord.types import MetricSpec, Role, Sample, SampleKind, role, with_roles

__all__ = [
    "AGENT_METRICS",
    "CheckKind",
    "Checks",
    "count_apt_upgrades",
    "count_dnf_updates",
    "count_matching",
    "count_new_records",
    "parse_netsh_firewall",
    "parse_wevtutil_record_ids",
    "parse_windows_services",
    "parse_windows_update_count",
    "scan_backup",
    "windows_service_up",
]

log = logging.getLogger(__name__)

IS_WINDOWS: Final = sys.platform == "win32"
_OUTPUT_CAP: Final = 4 * 1024 * 1024  # bytes kept from one command's output


class CheckKind(StrEnum):
    """Values of the `check` label of monitord_agent_check_failures."""

    SERVICE = "service"
    BACKUP = "backup"
    FILE = "file"
    FAILED_LOGINS = "failed_logins"
    UPDATES = "updates"
    FIREWALL = "firewall"


_G, _C = SampleKind.GAUGE, SampleKind.COUNTER
_LAST = "value from the agent's last check run"


def _spec(name: str, kind: SampleKind, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(f"monitord_{name}", kind, f"{help_}; {_LAST}.", ("target", *labels))


_PLAIN: Final[tuple[MetricSpec, ...]] = (
    _spec("service_up", _G, "1 if the configured service is running (systemd ActiveState"
          " active, a process of that name, or a Windows service in state running)", "service"),
    _spec("backup_newest_age_seconds", _G, "Seconds since the newest file matching the"
          " backup's pattern was modified (mtime)", "backup"),
    _spec("backup_newest_size_bytes", _G, "Size of the newest file matching the backup's"
          " pattern", "backup"),
    _spec("backup_total_size_bytes", _G, "Total size of the files matching the backup's"
          " pattern", "backup"),
    _spec("backup_files", _G, "Files matching the backup's pattern (0 when the folder is"
          " missing)", "backup"),
    _spec("backup_max_age_seconds", _G, "The backup's policy: its newest copy must be younger"
          " than this (agent config backups.NAME.max_age, default 26 h)", "backup"),
    _spec("file_age_seconds", _G, "Seconds since the named file was modified (mtime);"
          " absent when the file is missing", "file"),
    _spec("file_exists", _G, "1 if the named file exists, else 0", "file"),
    _spec("host_failed_logins_total", _C, "Failed logins counted since the agent started"
          " (auth log / journal lines matching the configured patterns; Windows Security"
          " event 4625)"),
    _spec("host_pending_updates", _G, "OS updates available and not installed (apt-get -s"
          " upgrade, dnf check-update, Windows Update)"),
    _spec("host_firewall_enabled", _G, "1 if a host firewall is enabled (a configured unit"
          " active or ufw ENABLED=yes; every Windows Firewall profile on), else 0"),
    _spec("agent_check_failures", _G, "Configured items the last check run could not read,"
          " by check", "check"),
    MetricSpec("monitord_host_info", SampleKind.INFO, "Host name, OS, OS version, kernel and"
               " architecture (agent: os-release/registry and platform; node_exporter:"
               " node_uname_info, node_os_info; windows_exporter: windows_os_info); always 1;"
               " value from the last poll.",
               ("target", "hostname", "os", "os_version", "kernel", "arch")),
)  # fmt: skip

# Roles: backups, updates, firewall and failed logins are kept in the history (servers
# report) and are the inputs of the security checks (findings).
AGENT_METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    _PLAIN,
    {
        # a service's share of polls running: its availability in the servers report
        "monitord_service_up": role(Role.DISTRIBUTION, rollup="service_up", object="service"),
        "monitord_backup_newest_age_seconds": role(
            Role.AGE_GAUGE, Role.CHECK_INPUT, rollup="backup_ts", object="backup"
        ),
        "monitord_backup_newest_size_bytes": role(
            Role.DAILY_GAUGE, rollup="backup_size", object="backup"
        ),
        "monitord_backup_files": role(Role.CHECK_INPUT, rollup="backup_files"),
        "monitord_backup_max_age_seconds": role(
            Role.DAILY_GAUGE, Role.CHECK_INPUT, rollup="backup_max_age", object="backup"
        ),
        "monitord_host_failed_logins_total": role(
            Role.COUNTER_DISTRIBUTION, Role.CHECK_INPUT, rollup="failed_logins"
        ),
        "monitord_host_pending_updates": role(
            Role.DAILY_GAUGE, Role.CHECK_INPUT, rollup="pending_updates"
        ),
        "monitord_host_firewall_enabled": role(
            Role.DAILY_GAUGE, Role.CHECK_INPUT, rollup="firewall"
        ),
    },
)


@dataclass
class _TailState:
    """Where failed-login counting is: file offset and inode, journal cursor, record id."""

    count: int = 0
    inode: int = -1
    offset: int = 0
    cursor: str = ""
    record_id: int = -1
    started: bool = False
    since: float = 0.0  # wall time of the first read (journal still empty then)


@dataclass
class Checks:
    """Runs the configured checks and keeps their latest samples (thread-safe)."""

    target: str
    services: Mapping[str, ServiceCheck]
    backups: Mapping[str, BackupCheck]
    files: Mapping[str, str]
    security: SecurityConfig
    interval: float = 15.0
    updates_interval: float = 6 * 3600.0
    command_timeout: float = 10.0
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _latest: list[Sample] = field(default_factory=list)
    _updates: float | None = None
    _updates_at: float = float("-inf")
    _tail: _TailState = field(default_factory=_TailState)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _child: subprocess.Popen[bytes] | None = None
    _patterns: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        pats = self.security.failed_login_patterns
        self._patterns = re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None

    def samples(self) -> list[Sample]:
        """The samples of the last run."""
        with self._lock:
            return list(self._latest)

    def run_once(self, updates: bool = True) -> None:
        """Run every check now; pending updates (slow) only when `updates` and
        `updates_interval` has passed since the last count."""
        out: list[Sample] = []
        failures = dict.fromkeys(CheckKind, 0)
        put = _Put(self.target, out)
        failures[CheckKind.SERVICE] = self._services(put)
        failures[CheckKind.BACKUP] = self._backups(put)
        failures[CheckKind.FILE] = self._files(put)
        failures[CheckKind.FAILED_LOGINS] = self._failed_logins(put)
        failures[CheckKind.FIREWALL] = self._firewall(put)
        now = time.monotonic()
        if updates and now - self._updates_at >= self.updates_interval:
            self._updates_at = now
            self._updates = self._pending_updates()
        if self._updates is not None:
            put("host_pending_updates", self._updates)
        elif self._updates_at > float("-inf") and self._updates_mode() != "none":
            failures[CheckKind.UPDATES] = 1
        for kind, n in failures.items():
            put("agent_check_failures", n, check=kind.value)
        with self._lock:
            self._latest = out

    def start(self) -> None:
        """Run once now (without the slow updates count), then in a daemon thread: at once
        with the updates count, then every `interval`, until `stop()`."""
        self.run_once(updates=False)
        self._thread = threading.Thread(target=self._loop, name="agent-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, ending a command it is waiting for."""
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()
        if self._thread is not None:
            self._thread.join(5.0)

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            self.run_once()
            wait = self.interval

    # -- services ---------------------------------------------------------------------

    def _services(self, put: _Put) -> int:
        failures = 0
        names: set[str] | None = None
        for label, svc in sorted(self.services.items()):
            up: bool | None
            if svc.systemd:
                up = self._unit_active(svc.systemd)
            elif svc.process:
                if names is None:
                    names = _process_names()
                up = svc.process in names
            else:
                up = _windows_service_up(svc.windows)
            if up is None:
                failures += 1
            else:
                put("service_up", 1 if up else 0, service=label)
        return failures

    def _unit_active(self, unit: str) -> bool | None:
        res = self._run(["systemctl", "show", "-p", "ActiveState", "--value", "--", unit])
        if res is None or res[0] != 0:
            return None
        return res[1].strip() == "active"

    # -- backups and files ------------------------------------------------------------

    def _backups(self, put: _Put) -> int:
        failures = 0
        now = self.clock()
        for label, b in sorted(self.backups.items()):
            scan = scan_backup(b.path, b.pattern, b.recursive, b.max_files)
            if scan is None:
                failures += 1
                scan = _Scan()
            put("backup_files", scan.files, backup=label)
            put("backup_max_age_seconds", b.max_age, backup=label)
            put("backup_total_size_bytes", scan.total, backup=label)
            if scan.newest_mtime is not None:
                put("backup_newest_age_seconds", max(0.0, now - scan.newest_mtime), backup=label)
                put("backup_newest_size_bytes", scan.newest_size, backup=label)
        return failures

    def _files(self, put: _Put) -> int:
        failures = 0
        now = self.clock()
        for label, path in sorted(self.files.items()):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                put("file_exists", 0, file=label)
                continue
            except OSError:
                failures += 1
                continue
            put("file_exists", 1, file=label)
            put("file_age_seconds", max(0.0, now - st.st_mtime), file=label)
        return failures

    # -- security ---------------------------------------------------------------------

    def _failed_logins(self, put: _Put) -> int:
        mode = self.security.failed_logins
        if mode == "auto":
            if IS_WINDOWS:
                mode = "windows"
            elif os.path.exists(self.security.auth_log):
                mode = "file"
            else:
                mode = "journal"
        if mode == "none":
            return 0
        reader = {
            "file": self._tail_file,
            "journal": self._tail_journal,
            "windows": self._tail_eventlog,
        }[mode]
        ok = reader()
        if self._tail.started:
            put("host_failed_logins_total", self._tail.count, _C)
        return 0 if ok else 1

    def _tail_file(self) -> bool:
        t, path = self._tail, self.security.auth_log
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not t.started:  # count from now on
                    t.inode, t.offset, t.started = st.st_ino, st.st_size, True
                    return True
                if st.st_ino != t.inode or st.st_size < t.offset:  # rotated or truncated
                    t.inode, t.offset = st.st_ino, 0
                fh.seek(t.offset)
                data = fh.read(_OUTPUT_CAP)
        except OSError:
            return False
        end = data.rfind(b"\n") + 1  # a partial last line is read next time
        t.offset += end
        t.count += count_matching(
            data[:end].decode("utf-8", "replace").splitlines(), self._patterns
        )
        return True

    def _tail_journal(self) -> bool:
        t = self._tail
        argv = ["journalctl", "--no-pager", "-q", "-o", "cat", "--show-cursor"]
        if self.security.journal_directory:
            argv += ["-D", self.security.journal_directory]
        if t.cursor:
            argv += ["--after-cursor", t.cursor]
        elif t.started:  # nothing matched at start-up: everything since then is new
            argv += ["--since", f"@{int(t.since)}"]
        else:
            argv += ["-n", "0"]
        for ident in self.security.journal_identifiers:
            argv += [f"SYSLOG_IDENTIFIER={ident}"]
        if self.security.journal_directory and not os.path.isdir(self.security.journal_directory):
            return False
        res = self._run(argv)
        # journalctl exits 1 when no entry matches (an empty or quiet journal): not a failure.
        if res is None or res[0] not in (0, 1) or (res[0] == 1 and res[1].strip()):
            return False
        lines = res[1].splitlines()
        cursors = [ln for ln in lines if ln.startswith("-- cursor: ")]
        if cursors:
            t.cursor = cursors[-1][len("-- cursor: ") :]
        if t.started:
            t.count += count_matching(
                (ln for ln in lines if not ln.startswith("-- cursor: ")), self._patterns
            )
        else:
            t.since = self.clock()
        t.started = True
        return True

    def _tail_eventlog(self) -> bool:
        t = self._tail
        query = "*[System[(EventID=4625)]]"
        res = self._run(
            ["wevtutil", "qe", "Security", f"/q:{query}", "/rd:true", "/c:1000", "/f:xml"]
        )
        if res is None or res[0] != 0:
            return False
        new, t.record_id = count_new_records(parse_wevtutil_record_ids(res[1]), t.record_id)
        if t.started:
            t.count += new
        t.started = True
        return True

    def _updates_mode(self) -> str:
        mode = self.security.updates
        if mode != "auto":
            return mode
        if IS_WINDOWS:
            return "windows"
        if os.path.exists("/usr/bin/apt-get"):
            return "apt"
        return "dnf" if os.path.exists("/usr/bin/dnf") else "none"

    def _pending_updates(self) -> float | None:
        mode = self._updates_mode()
        if mode == "apt":
            res = self._run(
                ["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"],
                timeout=max(self.command_timeout, 120.0),
            )
            return None if res is None or res[0] != 0 else count_apt_upgrades(res[1])
        if mode == "dnf":
            res = self._run(
                ["dnf", "-q", "--cacheonly", "check-update"],
                timeout=max(self.command_timeout, 120.0),
            )
            return None if res is None or res[0] not in (0, 100) else count_dnf_updates(res[1])
        if mode == "windows":
            script = (
                "(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()"
                ".Search('IsInstalled=0 and IsHidden=0').Updates.Count"
            )
            res = self._run(_powershell(script), timeout=max(self.command_timeout, 300.0))
            return None if res is None or res[0] != 0 else parse_windows_update_count(res[1])
        return None

    def _firewall(self, put: _Put) -> int:
        mode = self.security.firewall
        if mode == "auto":
            mode = "windows" if IS_WINDOWS else "linux"
        if mode == "none":
            return 0
        enabled: bool | None
        if mode == "windows":
            res = self._run(["netsh", "advfirewall", "show", "allprofiles", "state"])
            enabled = None if res is None or res[0] != 0 else parse_netsh_firewall(res[1])
        else:
            enabled = _ufw_enabled(self.security.ufw_conf)
            for unit in self.security.firewall_units:
                if enabled:
                    break
                active = self._unit_active(unit)
                enabled = active if active is not None else enabled
        if enabled is None:
            return 1
        put("host_firewall_enabled", 1 if enabled else 0)
        return 0

    def _run(self, argv: Sequence[str], timeout: float | None = None) -> tuple[int, str] | None:
        """Run a fixed command from the agent's config; None if it cannot run or times out.

        The running child is remembered so that `stop()` can end it at once."""
        if self._stop.is_set():
            return None
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            )
        except OSError as exc:
            log.debug("check command failed argv0=%s error=%s", argv[0], type(exc).__name__)
            return None
        self._child = proc
        try:
            out, _ = proc.communicate(timeout=timeout or self.command_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            log.debug("check command timed out argv0=%s", argv[0])
            return None
        finally:
            self._child = None
        return proc.returncode, out[:_OUTPUT_CAP].decode("utf-8", "replace")


# -- pure helpers (tested on recorded data, Windows halves included) -------------------


@dataclass(frozen=True, slots=True)
class _Scan:
    files: int = 0
    total: int = 0
    newest_mtime: float | None = None
    newest_size: int = 0


def scan_backup(path: str, pattern: str, recursive: bool, max_files: int) -> _Scan | None:
    """Count, size and find the newest regular file matching `pattern`; None if unreadable."""
    files = total = newest_size = 0
    newest: float | None = None
    stack = [path]
    try:
        while stack and files < max_files:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if recursive:
                            stack.append(entry.path)
                        continue
                    if not entry.is_file() or not fnmatch.fnmatch(entry.name, pattern):
                        continue
                    st = entry.stat()
                    files += 1
                    total += st.st_size
                    if newest is None or st.st_mtime > newest:
                        newest, newest_size = st.st_mtime, st.st_size
                    if files >= max_files:
                        break
    except OSError:
        return None
    return _Scan(files, total, newest, newest_size)


def count_matching(lines: Iterable[str], pattern: re.Pattern[str] | None) -> int:
    """Lines matching `pattern` anywhere (0 when there is no pattern)."""
    if pattern is None:
        return 0
    return sum(1 for ln in lines if pattern.search(ln))


def count_apt_upgrades(text: str) -> int:
    """Packages `apt-get -s upgrade` would install or upgrade ("Inst " lines)."""
    return sum(1 for ln in text.splitlines() if ln.startswith("Inst "))


def count_dnf_updates(text: str) -> int:
    """Packages listed by `dnf -q check-update` (up to the "Obsoleting Packages" block)."""
    n = 0
    for ln in text.splitlines():
        if ln.startswith("Obsoleting Packages"):
            break
        parts = ln.split()
        if len(parts) == 3 and "." in parts[0] and not ln.startswith(" "):
            n += 1
    return n


def parse_windows_update_count(text: str) -> int | None:
    """The integer printed by the Windows Update searcher query; None if not one."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else None


def parse_netsh_firewall(text: str) -> bool | None:
    """True if every profile of `netsh advfirewall show allprofiles state` is ON."""
    states = [
        ln.split()[-1].upper()
        for ln in text.splitlines()
        if ln.strip().lower().startswith("state") and len(ln.split()) >= 2
    ]
    if not states:
        return None
    return all(s == "ON" for s in states)


_RECORD_ID = re.compile(r"<EventRecordID>(\d+)</EventRecordID>")


def parse_wevtutil_record_ids(text: str) -> list[int]:
    """EventRecordID of each event in `wevtutil qe ... /f:xml` output."""
    return [int(m.group(1)) for m in _RECORD_ID.finditer(text)]


def count_new_records(ids: Iterable[int], last: int) -> tuple[int, int]:
    """Events newer than record id `last`, and the newest id seen (event log tailing)."""
    seen = list(ids)
    return sum(1 for i in seen if i > last), max([last, *seen])


def windows_service_up(status: str) -> bool:
    """psutil's WindowsService.status() → running or not."""
    return status == "running"


def parse_windows_services(text: str) -> dict[str, bool]:
    """Recorded `psutil.win_service_iter()` as_dict() list (JSON) → name → running."""
    data = json.loads(text)
    return {str(d["name"]): windows_service_up(str(d["status"])) for d in data}


def _windows_service_up(name: str) -> bool | None:
    getter = getattr(psutil, "win_service_get", None)
    if getter is None:  # not Windows
        return None
    try:
        return windows_service_up(str(getter(name).status()))
    except (psutil.Error, OSError):
        return None


def _process_names() -> set[str]:
    names: set[str] = set()
    for proc in psutil.process_iter(["name", "cmdline"]):
        info = proc.info
        if info.get("name"):
            names.add(str(info["name"]))
        cmd = info.get("cmdline") or []
        if cmd:
            names.add(os.path.basename(str(cmd[0])))
    return names


def _ufw_enabled(path: str) -> bool | None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(65536)
    except OSError:
        return None
    for ln in text.splitlines():
        key, _, value = ln.partition("=")
        if key.strip() == "ENABLED":
            return value.strip().strip("'\"").lower() == "yes"
    return False


def _powershell(script: str) -> list[str]:
    return ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script]


class _Put:
    """Appends samples with the `monitord_` prefix and the target label."""

    def __init__(self, target: str, out: list[Sample]) -> None:
        self._target, self._out = target, out

    def __call__(self, name: str, value: float, kind: SampleKind = _G, **labels: str) -> None:
        self._out.append(
            Sample(
                f"monitord_{name}",
                {"target": self._target, **labels},
                value,
                kind,
                bits=64 if kind is _C else 0,
            )
        )
