"""Issue 15 against the real daemon: hostile HTTP clients, hostile reloads, a full disk,
bad silences, a clean stop. Every attack runs while healthy loopback targets are polled
every second; each test checks they kept their interval (no missed run, no failed
poll, never down).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitord.alerts.control import request, socket_path
from tests.conftest import DaemonProc, http_get, wait_for
from tests.monitord.test_daemon import _value, _values

HEAD = """\
daemon:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
  startup_spread: {spread}
  http_request_timeout: 2s
defaults: {{interval: 1s, timeout: 900ms, failures_to_down: 1}}
"""
# Formatted twice (here, then by start_daemon): literal braces are quadrupled.
ICMP = "  - {{{{name: {name}, address: {addr}, collectors: {{{{icmp: {{{{count: 1, packet_timeout: 500ms}}}}}}}}}}}}\n"


class Acceptor:
    """A TCP service on loopback for the tcp collector: accepts and closes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def acceptor() -> Iterator[Acceptor]:
    a = Acceptor()
    yield a
    a.close()


def head(spread: str = "0.2s") -> str:
    return HEAD.replace("{spread}", spread)


def polls(text: str) -> dict[str, float]:
    """monitord_polls_total by collector."""
    return {dict(k)["collector"]: v for k, v in _values(text, "monitord_polls_total").items()}


def healthy_kept_interval(before: str, after: str, seconds: float, collectors: list[str]) -> None:
    """Between two scrapes `seconds` apart, every healthy job kept its 1 s interval."""
    p0, p1 = polls(before), polls(after)
    jobs = {
        c: sum(1 for k in _values(after, "monitord_target_up") if dict(k)["collector"] == c)
        for c in collectors
    }
    for c in collectors:
        # One poll per job per second, give or take the two edges.
        assert p1[c] - p0[c] >= jobs[c] * (seconds - 2), (c, p0[c], p1[c], seconds)
        assert (_value(after, "monitord_scheduler_missed_runs_total", collector=c) or 0) == 0
        errors = sum(
            v
            for k, v in _values(after, "monitord_poll_errors_total").items()
            if dict(k)["collector"] == c
        )
        assert errors == 0, (c, errors)
    for k, v in _values(after, "monitord_target_up").items():
        if dict(k)["collector"] in collectors:
            assert v == 1, k


def no_tracebacks(d: DaemonProc) -> None:
    log = d.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Too many open files" not in log
    assert "Error running job" not in log and "raised an exception" not in log


def test_idle_and_disconnecting_clients_do_not_blind_polling(
    start_daemon, acceptor: Acceptor
) -> None:
    tcp = f"  - {{{{name: svc, address: 127.0.0.1, collectors: {{{{tcp: {{{{must_be_open: [{acceptor.port}], connect_timeout: 500ms}}}}}}}}}}}}\n"
    cfg = head() + "targets:\n" + ICMP.format(name="a", addr="127.0.0.1") + tcp

    def small_fd_limit() -> None:  # the case of the report: soft and hard limit 1024
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    d = start_daemon(cfg, preexec_fn=small_fd_limit)
    wait_for(
        lambda: all(polls(d.metrics()).get(c, 0) >= 2 for c in ("icmp", "tcp")), 20, "first polls"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    before, t0 = d.metrics(), time.monotonic()
    idle: list[socket.socket] = []
    try:
        for _ in range(1000):  # unauthenticated, never send a byte
            idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
        for i in range(60):  # clients that go away early: reset mid-request, or before the answer
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            if i % 2:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
        # Hold the attack a while: the polls go on meanwhile.
        time.sleep(max(0.0, 8 - (time.monotonic() - t0)))
    finally:
        for s in idle:
            s.close()
    seconds = time.monotonic() - t0
    after = d.metrics()
    healthy_kept_interval(before, after, seconds, ["icmp", "tcp"])
    rejected = _value(after, "monitord_http_connections_rejected_total", server="metrics")
    # 64 slots, each freed by the 2 s deadline: most of the 1,060 were closed on accept.
    assert rejected is not None and rejected >= 700, rejected
    assert d.stop() == 0
    no_tracebacks(d)


def test_refused_reloads_change_nothing_and_large_reload_does_not_starve(start_daemon) -> None:
    targets = "".join(ICMP.format(name=n, addr=f"127.0.0.{i}") for i, n in enumerate("abc", 1))
    sweep = (
        "  - {name: sweep, address: 127.0.0.1, collectors: {discovery: {ranges: [127.0.0.0/29],"
        " icmp: true, tcp_ports: [], probe_timeout: 500ms}}}\n"
    )
    good = head("1h") + "targets:\n" + targets + sweep.replace("{", "{{").replace("}", "}}")
    d = start_daemon(good)
    # .1-.6 answer; .1-.3 are targets: three unknown hosts.
    wait_for(
        lambda: _value(d.metrics(), "monitord_discovery_unknown_hosts", target="sweep") == 3,
        20,
        "first sweep",
    )
    before, t0 = d.metrics(), time.monotonic()
    path = d.config
    fill = {"port": d.port, "data_dir": path.parent / "var"}
    more = "".join(
        ICMP.format(name=n, addr=f"127.0.0.{i}") for i, n in zip((4, 5, 6), "def", strict=True)
    )
    # 1. Two bad durations among valid targets d, e, f (their addresses would have made
    # the sweep's unknown hosts 0 had the refused reload leaked into the discovery list).
    bad = (
        head("1h")
        + "targets:\n"
        + ICMP.format(name="a", addr="127.0.0.1").replace("count: 1,", "count: 1, interval: .nan,")
        + ICMP.format(name="b", addr="127.0.0.2").replace(
            "count: 1,", "count: 1, interval: 9999999999d,"
        )
        + ICMP.format(name="c", addr="127.0.0.3")
        + sweep.replace("{", "{{").replace("}", "}}")
        + more
    )
    path.write_text(bad.format(**fill))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "config reload refused" in d.log(), 15, "refusal")
    log = d.log()
    assert (
        f"config error: {path}:8: targets[0].collectors.icmp.interval: duration must be a finite number"
        in log
    )
    assert (
        f"config error: {path}:9: targets[1].collectors.icmp.interval: duration '9999999999d' is too long"
        in log
    )
    # 2. An alias bomb: refused without growing the daemon.
    path.write_text(
        "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
            for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
        )
    )
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log().count("config reload refused") == 2, 15, "bomb refusal")
    assert "invalid YAML: aliases (*name) expand to" in d.log()
    rss_kb = int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    )
    assert rss_kb < 400_000, rss_kb
    time.sleep(max(0.0, 4 - (time.monotonic() - t0)))
    mid = d.metrics()
    assert _value(mid, "monitord_jobs") == 4
    assert _value(mid, "monitord_config_reloads_total", result="error") == 2
    assert _value(mid, "monitord_discovery_unknown_hosts", target="sweep") == 3
    healthy_kept_interval(before, mid, time.monotonic() - t0, ["icmp"])
    # 3. A large valid reload (3,000 more targets, hourly, spread over the hour) while the
    # three healthy targets keep their 1 s interval.
    big = "".join(
        f"  - {{{{name: t{i}, address: 127.1.{i // 250}.{i % 250 + 1}, collectors: {{{{icmp:"
        f" {{{{interval: 1h, count: 1}}}}}}}}}}}}\n"
        for i in range(3000)
    )
    path.write_text((good + big).format(**fill))
    sent = lambda text, t: _value(text, "monitord_icmp_packets_sent_total", target=t) or 0  # noqa: E731

    def rate(start: str, end: str, seconds: float) -> float:
        return sum(sent(end, t) - sent(start, t) for t in "abc") / seconds

    # Reference: the three 1 s targets' poll rate just before, on this machine, now.
    ref0, r0 = d.metrics(), time.monotonic()
    time.sleep(6)
    before, t0 = d.metrics(), time.monotonic()
    reference = rate(ref0, before, t0 - r0)
    d.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded added=3000" in d.log(), 60, "large reload")
    time.sleep(max(0.0, 6 - (time.monotonic() - t0)))
    after = d.metrics()
    during = rate(before, after, time.monotonic() - t0)
    assert _value(after, "monitord_jobs") == 3004
    # Polling went on at (nearly) the same pace while 3,000 targets were parsed and added.
    assert during >= 0.75 * reference, (during, reference)
    assert (_value(after, "monitord_scheduler_missed_runs_total", collector="icmp") or 0) == 0
    assert d.stop() == 0
    no_tracebacks(d)


def test_clean_sigterm_logs_no_error_for_jobs_cancelled_before_start(
    start_daemon, acceptor: Acceptor
) -> None:
    # 300 jobs due in the same 0.2 s every second, and a 1 s history flush: whenever the
    # SIGTERM lands, some jobs were submitted and not started yet.
    tcp = "".join(
        f"  - {{{{name: s{i}, address: 127.0.0.1, collectors: {{{{tcp: {{{{must_be_open:"
        f" [{acceptor.port}], connect_timeout: 500ms}}}}}}}}}}}}\n"
        for i in range(300)
    )
    cfg = head() + "history: {{flush_interval: 1s}}\ntargets:\n" + tcp
    for delay in (1.3, 2.05, 2.6):
        d = start_daemon(cfg)
        wait_for(lambda: polls(d.metrics()).get("tcp", 0) >= 300, 20, "first round")  # noqa: B023
        time.sleep(delay)
        assert d.stop() == 0
        log = d.log()
        assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
        assert "monitord stopped" in log


def _events(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as con:
        return [tuple(r) for r in con.execute("SELECT target, kind FROM events ORDER BY id")]


class WebService:
    """A web server on loopback for the http collector (200 on /), stoppable."""

    def __init__(self) -> None:
        class Ok(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.fail(f"cannot mount a 2 MiB tmpfs for the disk-full case: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_events_kept_while_disk_full_and_written_when_space_returns(
    start_daemon, small_disk: Path
) -> None:
    service = WebService()
    tcp = f"  - {{{{name: svc, address: 127.0.0.1, collectors: {{{{http: {{{{url: 'http://127.0.0.1:{service.port}/', request_timeout: 300ms}}}}}}}}}}}}\n"
    cfg = (
        head()
        + f"history: {{{{path: {small_disk}/monitord.db, flush_interval: 2s}}}}\n"
        + "targets:\n"
        + ICMP.format(name="a", addr="127.0.0.1")
        + tcp
    )
    try:
        d = start_daemon(cfg)
        wait_for(lambda: _value(d.metrics(), "monitord_target_up", target="svc") == 1, 20, "svc up")
        before, t0 = d.metrics(), time.monotonic()
        filler = _fill(small_disk)
        service.close()  # the real outage: svc goes down while the disk is full
        wait_for(
            lambda: (_value(d.metrics(), "monitord_history_pending_events") or 0) >= 1,
            20,
            "down event pending",
        )
        text = d.metrics()
        assert _value(text, "monitord_target_up", target="svc") == 0
        assert (_value(text, "monitord_history_write_errors_total") or 0) >= 1
        log = d.log()
        assert log.count("history write failed, keeping events in memory") == 1
        assert "database or disk is full" in log
        assert ("svc", "down") not in _events(small_disk / "monitord.db")
        mid = d.metrics()
        icmp_ok = _value(mid, "monitord_icmp_packets_sent_total", target="a") or 0
        assert icmp_ok - (_value(before, "monitord_icmp_packets_sent_total", target="a") or 0) >= (
            time.monotonic() - t0 - 2
        )
        assert _value(mid, "monitord_target_up", target="a") == 1
        filler.unlink()  # space returns
        wait_for(lambda: _value(d.metrics(), "monitord_history_pending_events") == 0, 20, "written")
        assert ("svc", "down") in _events(small_disk / "monitord.db")
        assert "history writes again: " in d.log()
        assert d.log().count("history write failed, keeping events in memory") == 1
        text = d.metrics()
        # No event is due now (svc stays down): the count still grows, by the 2 s flushes.
        flushes = _value(text, "monitord_history_write_duration_seconds_count") or 0
        wait_for(
            lambda: (
                (_value(d.metrics(), "monitord_history_write_duration_seconds_count") or 0)
                > flushes
            ),
            10,
            "a timed history flush",
        )
        assert (_value(text, "monitord_scheduler_missed_runs_total", collector="icmp") or 0) == 0
        assert d.stop() == 0
    finally:
        service.close()


def test_bad_silences_refused_unstored_and_listing_survives_a_bad_file(
    start_daemon, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    # A file written by an older version (or by hand): one good silence, two broken ones.
    now = time.time()
    good = {"id": "good", "starts_at": now, "ends_at": now + 3600, "targets": ["a"]}
    broken = [
        {"id": "inf", "starts_at": now, "ends_at": float("inf"), "targets": ["a"]},
        {"id": "nan", "starts_at": float("nan"), "ends_at": 5, "targets": ["a"]},
    ]
    (data / "silences.json").write_text(json.dumps({"silences": [good, *broken]}))
    d = start_daemon(head() + "targets:\n" + ICMP.format(name="a", addr="127.0.0.1"))
    before, t0 = d.metrics(), time.monotonic()
    sock = socket_path(data)
    for ends in (float("inf"), float("nan"), 1e300, now + 400 * 86400):
        answer = request(sock, {"op": "silence.add", "ends_at": ends, "targets": ["a"]})
        assert answer["ok"] is False and "bad request" in answer["error"], answer
    answer = request(sock, {"op": "silence.list"})
    assert [s["id"] for s in answer["silences"]] == ["good"]
    stored = json.loads((data / "silences.json").read_text())["silences"]
    assert [s["id"] for s in stored] == ["good", "inf", "nan"]  # untouched: nothing was added
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "silence", "-c", str(d.config), "list"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.splitlines()[1].startswith("good")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitord",
            "silence",
            "-c",
            str(d.config),
            "add",
            "--target",
            "a",
            "--for",
            "9999999999d",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert res.returncode == 1 and "too long" in res.stderr, res.stderr
    assert "stored silence 1 ignored" in d.log() and "stored silence 2 ignored" in d.log()
    time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
    healthy_kept_interval(before, d.metrics(), time.monotonic() - t0, ["icmp"])
    assert d.stop() == 0
    no_tracebacks(d)


def test_metrics_server_answers_after_the_attack(start_daemon) -> None:
    d = start_daemon(head() + "targets:\n" + ICMP.format(name="a", addr="127.0.0.1"))
    # A slow client dribbling a header: dropped at the 2 s deadline, not kept alive.
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    t0 = time.monotonic()
    closed_after = None
    try:
        for ch in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 40:
            s.sendall(bytes([ch]))
            time.sleep(0.2)
    except OSError:
        closed_after = time.monotonic() - t0
    if closed_after is None:
        s.settimeout(5)
        assert s.recv(100) == b""
        closed_after = time.monotonic() - t0
    s.close()
    assert closed_after < 6, closed_after
    assert http_get(d.url + "/healthz")[0] == 200
    assert os.path.exists(f"/proc/{d.proc.pid}")
    assert d.stop() == 0
