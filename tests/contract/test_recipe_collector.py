"""A collector written only against the recipe (tests/contract/dnscheck.py) needs no core edit.

Its module, one registration line (here in a copy of the registry: `{**COLLECTORS,
dnscheck.KIND: dnscheck.build}`) and this test are all it takes for its data to reach
/metrics, the alerts (a `down` rule naming the collector), the history (the role of
`monitord_dns_response_seconds`) and the network report's availability. The daemon
runs in this process (the real `Daemon`, the real scheduler and HTTP server) against
a DNS responder on 127.0.0.1 that the test starts and later silences.
"""

from __future__ import annotations

import asyncio
import csv
import socket
import sqlite3
import struct
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from collectors import COLLECTORS
from exporters.reports.files import write_files
from monitord.config import load_config
from monitord.daemon import CONFIG_CHECKS, Daemon
from monitord.reports.job import configured_targets, write_reports
from monitord.reports.period import Period
from monitord.types import Shared
from tests.conftest import free_port, http_get
from tests.contract import dnscheck

CONFIG = """\
daemon: {{listen: "127.0.0.1:{port}", data_dir: "{data}", startup_spread: 0.1s}}
defaults: {{interval: 1s, timeout: 900ms, failures_to_down: 2}}
history: {{flush_interval: 2s}}
targets:
  - {{name: ns-1, address: 127.0.0.1, kind: router, collectors: {{dns: {{port: {dns}}}}}}}
alerts:
  evaluation_interval: 1s
  rules:
    dns_down: {{kind: down, collectors: [dns], severity: critical}}
"""


class DnsResponder:
    """Answers every query on 127.0.0.1 with one A record until `silence()`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answering = True
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            self.queries += 1
            if not self.answering or len(data) < 12:
                continue
            qid = struct.unpack("!H", data[:2])[0]
            question = data[12:]
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 1])
            header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
            self.sock.sendto(header + question + answer, addr)

    def silence(self) -> None:
        self.answering = False

    def __enter__(self) -> DnsResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _value(text: str, name: str, **labels: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def _until(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(cond):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_recipe_collector_reaches_metrics_alerts_history_and_network_report(
    tmp_path: Path,
) -> None:
    registry = {**COLLECTORS, dnscheck.KIND: dnscheck.build}  # its registration line
    port = free_port()
    data = tmp_path / "var"
    with DnsResponder() as dns:
        path = tmp_path / "monitord.yaml"
        path.write_text(CONFIG.format(port=port, data=data, dns=dns.port))
        shared = Shared()
        cfg = load_config(path, registry, shared, checks=CONFIG_CHECKS)
        daemon = Daemon(path, cfg, registry, shared)

        def metrics() -> str:
            try:
                code, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except OSError:  # not listening yet
                return ""
            return body if code == 200 else ""

        async def scenario() -> None:
            task = asyncio.create_task(daemon.run())
            try:
                await _until(
                    lambda: _value(metrics(), "monitord_dns_answers", target="ns-1") == 1,
                    20,
                    "the dns series on /metrics",
                )
                await asyncio.sleep(3)  # a few good polls into the history
                dns.silence()
                await _until(
                    lambda: (
                        _value(
                            metrics(), "monitord_alert_active", alertname="dns_down", target="ns-1"
                        )
                        == 1
                    ),
                    20,
                    "the dns_down alert",
                )
                text = metrics()
                assert _value(text, "monitord_target_up", target="ns-1", collector="dns") == 0
                assert (
                    _value(text, "monitord_poll_errors_total", collector="dns", reason="timeout")
                    or 0
                ) >= 2
            finally:
                daemon.request_stop()
                await task

        asyncio.run(scenario())
    assert dns.queries >= 4

    # the history: polls (availability) and the declared distribution
    db = data / "monitord.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        polls = c.execute(
            "SELECT SUM(p.polls), SUM(p.ok) FROM poll_hour p JOIN series s ON s.id = p.sid "
            "WHERE s.target = 'ns-1' AND s.collector = 'dns'"
        ).fetchone()
        dist = c.execute(
            "SELECT d.n, d.max FROM dist_day d JOIN series s ON s.id = d.sid "
            "WHERE s.target = 'ns-1' AND s.kind = 'dns_rtt'"
        ).fetchall()
    total, ok = polls
    assert total > ok >= 2, polls
    assert dist and dist[0][0] == ok and 0 < dist[0][1] < 2.0, dist

    # the network report: the device's availability, by its only collector
    period = Period.containing(time.time(), ZoneInfo(cfg.daemon.timezone))
    files = write_reports(
        db,
        period,
        tmp_path / "reports",
        render=write_files,
        kinds=["network"],
        formats=["csv"],
        lang="en",
        config=cfg.reports,
        configured=configured_targets(cfg),
    )
    (table,) = [f for f in files if f.name.endswith("_availability_by_device.csv")]
    with table.open(encoding="utf-8-sig") as f:
        rows = {r["Device"]: r for r in csv.DictReader(f)}
    assert rows["ns-1"]["Incidents"] == "1", rows  # the outage the silenced responder caused
    assert 0 < float(rows["ns-1"]["Availability (%)"]) < 100, rows
