"""The daemon as a user runs it: a subprocess on a free port, scraped over HTTP, signalled."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitord.types import FailureReason
from tests.conftest import REPO, wait_for

BASE = """\
daemon:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
  startup_spread: 0.2s
defaults: {{interval: 1s, timeout: 900ms, failures_to_down: 2}}
targets:
"""


def _values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def _value(text: str, name: str, **labels: str) -> float | None:
    for key, v in _values(text, name).items():
        if all((k, val) in key for k, val in labels.items()):
            return v
    return None


def test_default_config_runs_and_serves_host_and_icmp(start_daemon) -> None:
    cfg = (REPO / "config" / "monitord.yaml").read_text()
    cfg = cfg.replace("listen: 127.0.0.1:9877", "listen: 127.0.0.1:{port}").replace(
        "data_dir: ./var", "data_dir: {data_dir}"
    )
    cfg = cfg.replace("{interval: 30s, count: 3}", "{{interval: 1s, count: 3}}").replace(
        "{interval: 30s}", "{{interval: 2s, cpu_window: 200ms}}"
    )
    cfg = cfg.replace(
        "defaults:\n  interval: 60s\n  timeout: 5s", "defaults:\n  interval: 60s\n  timeout: 900ms"
    )
    d = start_daemon(cfg)

    def ready() -> str | None:
        text = d.metrics()
        have = _value(text, "monitord_host_memory_total_bytes", target="localhost")
        up = _value(text, "monitord_target_up", target="localhost", collector="icmp")
        return text if have and up == 1 else None

    text = str(wait_for(ready, 20, "host and icmp metrics"))
    import psutil

    assert (
        _value(text, "monitord_host_memory_total_bytes", target="localhost")
        == psutil.virtual_memory().total
    )
    assert _value(text, "monitord_target_up", target="localhost", collector="host") == 1
    rtt = _value(text, "monitord_icmp_rtt_seconds", target="localhost")
    assert rtt is not None and 0 < rtt < 0.5
    assert _value(text, "monitord_icmp_packet_loss_ratio", target="localhost") == 0
    util = _value(text, "monitord_host_cpu_utilization_ratio", target="localhost")
    assert util is not None and 0 <= util <= 1
    root_size = _value(
        text, "monitord_host_filesystem_size_bytes", target="localhost", mountpoint="/"
    )
    assert root_size == shutil.disk_usage("/").total
    assert (
        _value(text, "monitord_host_filesystem_avail_bytes", target="localhost", mountpoint="/")
        is not None
    )
    # Self-metrics.
    assert _value(text, "monitord_poll_duration_seconds_count", collector="icmp") >= 1
    assert _value(text, "monitord_polls_total", collector="host") >= 1
    assert _value(text, "monitord_scheduler_lag_seconds_count") >= 1
    assert _value(text, "monitord_series") > 10
    assert (
        "monitord_scheduler_missed_runs_total" in text
        or "# TYPE monitord_scheduler_missed_runs" in text
    )
    assert (
        _value(text, "monitord_target_info", target="localhost", kind="server", site="local") == 1
    )
    res = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert res.returncode == 0 and not res.stdout and not res.stderr, res.stdout + res.stderr
    assert d.stop() == 0
    log = d.log()
    assert "monitord started" in log and "monitord stopped" in log
    assert re.search(
        r"^\S+ \S+ INFO monitord\.daemon: monitord started listen=127\.0\.0\.1:\d+ targets=1 jobs=2",
        log,
        re.M,
    )


def test_reload_keeps_unchanged_state_and_refuses_bad_config(start_daemon) -> None:
    a = "  - {{name: a, address: 127.0.0.1, collectors: {{icmp: {{count: 1}}}}}}\n"
    b = "  - {{name: b, address: 127.0.0.2, collectors: {{icmp: {{count: 1}}}}}}\n"
    c = "  - {{name: c, address: 127.0.0.3, collectors: {{icmp: {{count: 1}}}}}}\n"
    d = start_daemon(BASE + a + b)
    sent = lambda t: _value(d.metrics(), "monitord_icmp_packets_sent_total", target=t)  # noqa: E731
    wait_for(lambda: (sent("a") or 0) >= 3 and (sent("b") or 0) >= 1, 20, "a and b polled")
    before = sent("a")
    d.config.write_text((BASE + a + c).format(port=d.port, data_dir=d.config.parent / "var"))
    d.signal(signal.SIGHUP)
    wait_for(
        lambda: "config reloaded added=1 removed=1 replaced=0 kept=1" in d.log(),
        10,
        "reload log line",
    )
    wait_for(lambda: sent("c"), 10, "c polled")
    text = d.metrics()
    assert _value(text, "monitord_icmp_packets_sent_total", target="b") is None
    # a kept its state: its running total went on from where it was.
    assert _value(text, "monitord_icmp_packets_sent_total", target="a") >= before

    d.config.write_text("targets:\n  - {name: a, address: 127.0.0.1, colour: red}\n")
    d.signal(signal.SIGHUP)
    wait_for(lambda: "config reload refused" in d.log(), 10, "refusal log line")
    assert re.search(
        r"config error: .*monitord-0\.yaml:2: targets\[0\]\.colour: unknown key", d.log()
    )
    after_bad = sent("a")
    wait_for(lambda: (sent("a") or 0) > after_bad, 10, "a still polled after a bad reload")
    assert sent("c") is not None
    assert _value(d.metrics(), "monitord_config_reloads_total", result="error") == 1
    assert d.stop() == 0


def test_sigterm_cancels_inflight_polls_quickly(start_daemon) -> None:
    # 40 packets 0.25 s apart: a poll takes ~10 s, far longer than the stop should.
    slow = "  - {{name: slow, address: 127.0.0.1, collectors: {{icmp: {{interval: 30s, timeout: 20s, count: 40, packet_interval: 250ms}}}}}}\n"
    d = start_daemon(BASE + slow)
    wait_for(
        lambda: _value(d.metrics(), "monitord_polls_in_flight") == 1, 10, "slow poll in flight"
    )
    t0 = time.monotonic()
    assert d.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert "polls stopped cancelled=1" in d.log()
    assert "Traceback" not in d.log()


def test_events_recorded_in_history(start_daemon, tmp_path: Path) -> None:
    # A name that never resolves (RFC 6761 .invalid): every poll fails with reason dns.
    t = "  - {{name: ghost, address: ghost.invalid, collectors: {{icmp: {{count: 1}}}}}}\n"
    d = start_daemon(BASE + t)
    wait_for(
        lambda: _value(d.metrics(), "monitord_target_up", target="ghost") == 0, 15, "ghost down"
    )
    assert _value(d.metrics(), "monitord_poll_errors_total", collector="icmp", reason="dns") >= 2
    assert "target down target=ghost collector=icmp reason=dns" in d.log()
    assert d.stop() == 0
    db = sqlite3.connect(tmp_path / "var" / "monitord.db")
    rows = db.execute("SELECT target, collector, kind, reason FROM events").fetchall()
    assert rows == [("ghost", "icmp", "down", "dns")]
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_bad_config_refuses_to_start(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("daemon:\n  listen: 127.0.0.1:notaport\n")
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2
    assert f"{cfg}:2: daemon.listen: invalid listen address '127.0.0.1:notaport'" in res.stderr


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("targets:\n  - {name: a, address: 127.0.0.1, collectors: {icmp: {}}}\n")
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(good)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (res.returncode, res.stdout.strip()) == (0, f"{good}: ok (1 targets, 1 jobs)")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {icmp: {count: x}}}\n"
        "  - {name: a, address: 127.0.0.1, collectors: {icmp: {}, snmpp: {}}}\n"
        "  - {name: b, address: 127.0.0.1, collectors: {icmp: {interval: 3 weeks}}, x: '${MONITORD_TEST_UNDEFINED}'}\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert (
        f"{bad}:4: targets[2].x: environment variable MONITORD_TEST_UNDEFINED is not defined"
        in lines
    )
    assert f"{bad}:4: targets[2].x: unknown key" in lines
    assert (
        f"{bad}:3: targets[1].name: duplicate target name 'a' (first defined at targets[0])"
        in lines
    )
    assert any(
        line.startswith(f"{bad}:3: targets[1].collectors.snmpp: unknown collector 'snmpp' (known: ")
        for line in lines
    )
    assert any(
        line.startswith(
            f"{bad}:2: targets[0].collectors.icmp.count: Input should be a valid integer"
        )
        for line in lines
    )
    assert lines[-1] == f"{bad}: 5 error(s)"


def test_version_and_help() -> None:
    from monitord import __version__

    res = subprocess.run(
        [sys.executable, "-m", "monitord", "version"], capture_output=True, text=True, timeout=30
    )
    assert res.stdout.strip() == f"monitord {__version__}"
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "--help"], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0
    for word in ("run", "check-config", "version", "SIGHUP", "${ENV_VAR}"):
        assert word in res.stdout


def test_netns_host_goes_down_and_up_within_two_cycles(start_daemon, tmp_path: Path) -> None:
    from tests.peers.netns import netns_host

    interval = 1.0
    with netns_host("daemonupdown") as host:
        t = f"  - {{{{name: ns-host, address: {host.address}, collectors: {{{{icmp: {{{{count: 2, packet_interval: 100ms, packet_timeout: 500ms}}}}}}}}}}}}\n"
        d = start_daemon(BASE + t)
        up = lambda: _value(d.metrics(), "monitord_target_up", target="ns-host", collector="icmp")  # noqa: E731
        wait_for(lambda: up() == 1, 10, "ns-host up")
        t0 = time.monotonic()
        host.link_down()
        wait_for(lambda: up() == 0, 2 * interval + 2.5, "ns-host down within two cycles")
        down_after = time.monotonic() - t0
        host.link_up()
        t1 = time.monotonic()
        wait_for(lambda: up() == 1, 2 * interval + 2.5, "ns-host back up within two cycles")
        up_after = time.monotonic() - t1
        text = d.metrics()
        assert (
            _value(text, "monitord_poll_errors_total", collector="icmp", reason="unreachable") >= 2
        )
        assert d.stop() == 0
    # failures_to_down=2 at a 1 s interval: the second failed poll ends <= 2 cycles + the poll's own time.
    assert down_after <= 2 * interval + 2.5 and up_after <= 2 * interval + 2.5
    db = sqlite3.connect(tmp_path / "var" / "monitord.db")
    rows = db.execute("SELECT target, collector, kind, reason FROM events ORDER BY ts").fetchall()
    assert rows == [("ns-host", "icmp", "down", "unreachable"), ("ns-host", "icmp", "up", "")]
    log = d.log()
    assert "target down target=ns-host collector=icmp reason=unreachable" in log
    assert "target up target=ns-host collector=icmp" in log


def test_thousand_loopback_targets_all_up_no_loss(start_daemon) -> None:
    n = 1000
    rows = "".join(
        f"  - {{{{name: lo-{i:04d}, address: 127.10.{i // 250}.{i % 250 + 1}, collectors: {{{{icmp: {{{{count: 3}}}}}}}}}}}}\n"
        for i in range(n)
    )
    d = start_daemon(
        BASE.replace("interval: 1s", "interval: 2s").replace("timeout: 900ms", "timeout: 1900ms")
        + rows
    )

    def cycles_done() -> str | None:
        text = d.metrics()
        sent = _values(text, "monitord_icmp_packets_sent_total")
        return text if len(sent) == n and min(sent.values()) >= 6 else None  # two cycles each

    text = str(wait_for(cycles_done, 30, "two cycles of 1000 targets"))
    up = _values(text, "monitord_target_up")
    assert len(up) == n and set(up.values()) == {1.0}
    sent = _values(text, "monitord_icmp_packets_sent_total")
    received = _values(text, "monitord_icmp_packets_received_total")
    assert received == sent  # not one packet lost anywhere
    assert set(_values(text, "monitord_icmp_packet_loss_ratio").values()) == {0.0}
    errors = {
        dict(k)["reason"]: v
        for k, v in _values(text, "monitord_poll_errors_total").items()
        if dict(k)["collector"] == "icmp"
    }
    # every reason is declared at 0 up front (graphs and rate() see 0, not nothing)
    assert errors == {reason.value: 0.0 for reason in FailureReason}
    assert d.stop() == 0
