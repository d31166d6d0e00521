"""The host collector against the real machine: values checked against psutil/os read here."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import pytest

from collectors.host import KIND, HostCollector, Options, _translate, build
from exporters.prometheus import ExpositionRenderer
from monitord.errors import ConfigError, MalformedResponse, PermissionDenied
from monitord.state import State
from monitord.types import FailureReason, Sample, SampleKind, Shared, Target
from tests.conftest import FakeClock, wait_for

TARGET = Target("this-host", "127.0.0.1")
FAST = {"cpu_window": "50ms"}


def _collect(options: Mapping[str, object] = FAST) -> list[Sample]:
    return asyncio.run(build(options, Shared()).collect(TARGET))


def _series(samples: list[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Values of one metric keyed by its labels other than target."""
    return {
        tuple(sorted((k, v) for k, v in s.labels.items() if k != "target")): s.value
        for s in samples
        if s.name == name
    }


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    key = tuple(sorted(labels.items()))
    values = _series(samples, name)
    assert key in values, f"{name}{labels} missing; have {sorted(values)}"
    return values[key]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"cpu_window": "1x"}, "cpu_window"),
        ({"cpu_window": "-1s"}, "cpu_window"),
        ({"cpu_window": "2m"}, "cpu_window"),
        ({"interfaces_exclude": ["eth(0"]}, "interfaces_exclude[0]"),
        ({"fs_exclude_mountpoints": ["/ok", "[bad"]}, "fs_exclude_mountpoints[1]"),
        ({"fs_exclude_types": "tmpfs"}, "fs_exclude_types"),
    ],
    ids=["unknown-key", "bad-duration", "negative", "too-long", "bad-regex", "bad-regex-2", "str"],
)
def test_bad_options_are_config_errors_naming_the_field(
    options: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as ei:
        build(options, Shared())
    assert [i.field for i in ei.value.issues] == [field], str(ei.value)


def test_options_defaults_and_durations() -> None:
    default = build({}, Shared())
    assert KIND == "host" and default.options == Options() and default.options.cpu_window == 1.0
    assert build({"cpu_window": "250ms"}, Shared()).options.cpu_window == 0.25
    assert build({"interfaces_exclude": []}, Shared()).options.interfaces_exclude == ()


def test_memory_swap_cpu_count_and_root_filesystem_match_psutil() -> None:
    samples = _collect()
    assert _one(samples, "monitord_host_memory_total_bytes") == psutil.virtual_memory().total
    assert _one(samples, "monitord_host_swap_total_bytes") == psutil.swap_memory().total
    used = _one(samples, "monitord_host_memory_used_bytes")
    avail = _one(samples, "monitord_host_memory_available_bytes")
    assert used + avail == psutil.virtual_memory().total and avail > 0
    assert _one(samples, "monitord_host_cpus") == psutil.cpu_count()
    assert _one(samples, "monitord_host_processes") > 1
    size = _one(samples, "monitord_host_filesystem_size_bytes", mountpoint="/")
    assert size == shutil.disk_usage("/").total
    assert (
        _one(samples, "monitord_host_filesystem_inodes", mountpoint="/") == os.statvfs("/").f_files
    )
    fs_used = _one(samples, "monitord_host_filesystem_used_bytes", mountpoint="/")
    fs_avail = _one(samples, "monitord_host_filesystem_avail_bytes", mountpoint="/")
    assert 0 < fs_used < size and 0 <= fs_avail <= size - fs_used
    root = [p for p in psutil.disk_partitions(all=True) if p.mountpoint == "/"][-1]
    info = _series(samples, "monitord_host_filesystem_info")
    assert info[(("device", root.device), ("fstype", root.fstype), ("mountpoint", "/"))] == 1
    assert _one(samples, "monitord_host_filesystems_unreadable") == 0


def test_uptime_and_boot_time_agree_with_psutil() -> None:
    samples = _collect()
    boot = psutil.boot_time()
    assert _one(samples, "monitord_host_boot_time_seconds") == boot
    uptime = _one(samples, "monitord_host_uptime_seconds")
    assert uptime > 0 and abs(uptime - (time.time() - boot)) < 2.0


def test_cpu_utilization_is_a_ratio_and_rises_with_a_busy_process() -> None:
    ncpu = psutil.cpu_count() or 1
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        proc = psutil.Process(burner.pid)
        wait_for(lambda: proc.cpu_times().user > 0.05, 10, "the CPU burner to start")
        samples = _collect({"cpu_window": "1s"})
    finally:
        burner.kill()
        burner.wait(timeout=10)
    util = _one(samples, "monitord_host_cpu_utilization_ratio")
    cores = _series(samples, "monitord_host_cpu_core_utilization_ratio")
    assert sorted(int(k[0][1]) for k in cores) == list(range(ncpu))
    assert 0.0 <= util <= 1.0 and all(0.0 <= v <= 1.0 for v in cores.values())
    assert util > 0.5 / ncpu, f"utilization {util} with one core busy out of {ncpu}"
    assert sum(cores.values()) > 0.5  # about one core's worth, wherever it ran
    modes = _series(samples, "monitord_host_cpu_seconds_total")
    assert {k[0][1] for k in modes} >= {"user", "system", "idle"}
    assert modes[(("mode", "user"),)] >= psutil.cpu_times().user - 5.0  # read just before


def test_loopback_counters_increase_after_udp_traffic() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        before = _collect()
        lbl = {"ifindex": str(socket.if_nametoindex("lo")), "ifname": "lo"}
        for _ in range(20):
            tx.sendto(b"x" * 1000, rx.getsockname())
        for _ in range(20):
            assert len(rx.recv(2000)) == 1000
        after = _collect()
    finally:
        rx.close()
        tx.close()

    def delta(name: str) -> float:
        return _one(after, name, **lbl) - _one(before, name, **lbl)

    assert delta("monitord_interface_in_bytes_total") >= 20 * 1000
    assert delta("monitord_interface_out_bytes_total") >= 20 * 1000
    assert delta("monitord_interface_in_packets_total") >= 20
    assert delta("monitord_interface_out_packets_total") >= 20
    assert _one(after, "monitord_interface_oper_up", **lbl) == 1
    assert _one(after, "monitord_interface_in_errors_total", **lbl) >= 0
    bits = {
        s.bits for s in after if s.name.startswith("monitord_interface_") and s.kind == "counter"
    }
    assert bits == {64}


def test_disk_counters_lie_between_two_psutil_readings() -> None:
    first = psutil.disk_io_counters(perdisk=True, nowrap=False)
    samples = _collect()
    last = psutil.disk_io_counters(perdisk=True, nowrap=False)
    read = _series(samples, "monitord_host_disk_read_bytes_total")
    if not read:
        pytest.fail(f"no disk series; psutil sees {sorted(first)} (all excluded or none)")
    for key, value in read.items():
        dev = key[0][1]
        assert first[dev].read_bytes <= value <= last[dev].read_bytes
        written = _one(samples, "monitord_host_disk_written_bytes_total", device=dev)
        assert first[dev].write_bytes <= written <= last[dev].write_bytes
    partitions = {d for d in first if d[-1].isdigit() and d.rstrip("0123456789") in first}
    assert not partitions & {k[0][1] for k in read}


def test_exclusions_apply_and_defaults_hide_pseudo_filesystems() -> None:
    def mounts_and_ifaces(samples: list[Sample]) -> tuple[set[str], set[str]]:
        info = _series(samples, "monitord_host_filesystem_info")
        up = _series(samples, "monitord_interface_oper_up")
        return {dict(k)["mountpoint"] for k in info}, {dict(k)["ifname"] for k in up}

    defaults = _collect()
    mounts, ifaces = mounts_and_ifaces(defaults)
    assert "/" in mounts and "lo" in ifaces
    excluded = {
        **FAST,
        "fs_exclude_mountpoints": [*Options().fs_exclude_mountpoints, "/"],
        "interfaces_exclude": ["l.*"],
    }
    mounts_x, ifaces_x = mounts_and_ifaces(_collect(excluded))
    assert mounts_x == mounts - {"/"} and ifaces_x == {i for i in ifaces if not i.startswith("l")}
    for key in _series(defaults, "monitord_host_filesystem_info"):
        labels = dict(key)
        assert labels["fstype"] not in Options().fs_exclude_types
        assert not labels["mountpoint"].startswith(("/proc", "/sys", "/dev/", "/run"))


def test_unreadable_mount_is_skipped_and_counted(tmp_path: Path) -> None:
    src, priv = tmp_path / "src", tmp_path / "priv"
    mnt = priv / "mnt"
    mnt.mkdir(parents=True)
    src.mkdir()
    priv.chmod(0o700)  # only root may traverse it: statvfs of the mount fails for others
    res = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True, timeout=10)
    if res.returncode != 0:
        pytest.fail(f"cannot bind-mount for the test (needs root): {res.stderr.decode()}")
    try:
        as_root = _series(_collect(), "monitord_host_filesystem_size_bytes")
        assert (("mountpoint", str(mnt)),) in as_root
        os.seteuid(65534)  # nobody; the saved uid stays 0
        try:
            samples = _collect()
        finally:
            os.seteuid(0)
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=10)
    sizes = _series(samples, "monitord_host_filesystem_size_bytes")
    assert (("mountpoint", str(mnt)),) not in sizes and (("mountpoint", "/"),) in sizes
    assert _one(samples, "monitord_host_filesystems_unreadable") >= 1


def test_unreadable_procfs_is_malformed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path / "no-proc"))
    with pytest.raises(MalformedResponse) as ei:
        _collect()
    assert ei.value.reason is FailureReason.MALFORMED and "no-proc" in str(ei.value)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (psutil.AccessDenied(pid=1), PermissionDenied),
        (PermissionError(13, "Permission denied", "/proc/stat"), PermissionDenied),
        (FileNotFoundError(2, "No such file", "/proc/stat"), MalformedResponse),
        (psutil.NoSuchProcess(pid=1), MalformedResponse),
        (OSError(5, "I/O error"), MalformedResponse),
    ],
    ids=["access-denied", "eperm", "enoent", "no-such-process", "eio"],
)
def test_psutil_errors_translate_keeping_partial_samples(exc: Exception, cls: type) -> None:
    partial = [Sample("monitord_host_processes", {"target": "t"}, 3)]
    err = _translate(exc, partial)  # type: ignore[arg-type]
    assert type(err) is cls and err.samples == tuple(partial)


def test_contract_every_sample_matches_its_spec() -> None:
    specs = {m.name: m for m in HostCollector.metrics}
    assert len(specs) == len(HostCollector.metrics)
    for spec in specs.values():
        assert spec.name.startswith("monitord_") and spec.labels[0] == "target"
        assert spec.name.endswith("_total") == (spec.kind is SampleKind.COUNTER), spec.name
        assert "value from the last poll" in spec.help
        assert "psutil" in spec.help or "os.statvfs" in spec.help
    samples = _collect()
    assert samples
    for s in samples:
        found = specs.get(s.name)
        assert found is not None, f"{s.name} not in HostCollector.metrics"
        assert s.kind is found.kind and set(s.labels) == set(found.labels), s
        assert s.labels["target"] == TARGET.name
        if s.kind is SampleKind.INFO:
            assert s.value == 1
    optional = {"monitord_interface_speed_bytes"}  # absent when no link reports a speed
    assert set(specs) - optional <= {s.name for s in samples}
    assert len({(s.name, tuple(sorted(s.labels.items()))) for s in samples}) == len(samples)
    # The documented budget: 14 + 8 modes + 1/CPU + 6/filesystem + 2/disk + 10/interface.
    n = {m: len(_series(samples, m)) for m in specs}
    budget = 14 + 8 + n["monitord_host_cpu_core_utilization_ratio"]
    budget += 6 * n["monitord_host_filesystem_info"] + 2 * n["monitord_host_disk_read_bytes_total"]
    budget += 10 * n["monitord_interface_in_bytes_total"]
    assert 0 < len(samples) <= budget


def test_promtool_accepts_the_exposition(clock: FakeClock) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package")
    state = State(clock)
    state.set_targets([TARGET])
    state.record(TARGET, KIND, _collect(), ok=True)
    text = ExpositionRenderer(HostCollector.metrics).render(state.snapshot())
    assert b'monitord_host_filesystem_size_bytes{mountpoint="/",target="this-host"}' in text
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert res.returncode == 0 and res.stdout == b"" and res.stderr == b"", (res.stdout, res.stderr)
