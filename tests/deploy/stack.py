"""The real stack the deploy tests run: snmpsim devices, a monitord daemon, Prometheus.

    with Stack(workdir) as stack:          # everything on 127.0.0.1, free ports
        stack.query("up")                  # Prometheus HTTP API instant query

The daemon polls (every `POLL` seconds): a generated 24-port switch and one of
snmpsim's bundled real-device recordings (snmp + icmp), a loopback address (icmp), this
machine (host collector) and the PostgreSQL on 127.0.0.1:5432 (or a throw-away cluster
when that one does not answer to a superuser). Prometheus (the Debian package's
/usr/bin/prometheus) scrapes it every second with deploy/prometheus/rules/*.yml loaded,
evaluated every second. A peer that cannot start fails the test with its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.conftest import free_port
from tests.peers.postgres import PgServer, any_server
from tests.peers.process import stop_process
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim
from tests.peers.webhook import WebhookReceiver

__all__ = ["POLL", "PROMETHEUS", "REPO", "Stack", "daemon_config", "start_daemon", "stop"]

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = Path("/usr/bin/prometheus")
POLL = 2  # seconds between polls of every (target, collector)


def daemon_config(
    port: int,
    data_dir: Path,
    snmp_port: int,
    pg: PgServer,
    *,
    extra_daemon: str = "",
    webhook_url: str = "",
) -> str:
    """The daemon config of the stack (targets on loopback only).

    Secrets are references, as the config loader requires: each community and the
    database password are written to a file under `data_dir` and named as `file:`.
    """
    secrets = data_dir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)

    def ref(name: str, value: str) -> str:
        f = secrets / name
        f.write_text(value + "\n")
        f.chmod(0o600)
        return json.dumps(f"file:{f}")

    pw = f", password: {ref('pg.pw', pg.password)}" if pg.password else ""
    notify = f"{{webhook: {{url: {json.dumps(webhook_url)}}}}}" if webhook_url else ""
    return f"""\
daemon:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
  startup_spread: 1s
{extra_daemon}
defaults:
  interval: {POLL}s
  timeout: {POLL}s
alerts:
  evaluation_interval: 1s
  rules: {{target_down: {{for: 0s}}}}
  notify: [{notify}]
targets:
  # answers nothing (a community snmpsim does not serve): down from its second poll
  - name: sw-dead
    address: 127.0.0.1
    kind: switch
    site: palacio
    collectors:
      snmp: {{community: {ref("nosuch", "nosuch")}, port: {snmp_port}, version: 2c, retries: 0, request_timeout: 500ms, walk_budget: 1s}}
  - name: sw-core
    address: 127.0.0.1
    kind: switch
    site: centro
    collectors:
      icmp: {{count: 1}}
      snmp: {{community: {ref("gen", "gen-sw")}, port: {snmp_port}, version: 2c, profiles: [system, interfaces, entity, lldp]}}
  - name: rt-recorded
    address: 127.0.0.1
    kind: router
    site: palacio
    collectors:
      snmp: {{community: {ref("recorded", "recorded")}, port: {snmp_port}, version: 2c}}
  - name: gw-loopback
    address: 127.0.0.2
    kind: router
    site: palacio
    collectors:
      icmp: {{count: 2}}
  - name: srv-local
    address: 127.0.0.1
    kind: server
    site: centro
    collectors:
      host: {{}}
  - name: db-local
    address: {pg.host}
    kind: database
    site: centro
    collectors:
      postgres: {{host: {pg.host}, port: {pg.port}, user: {pg.superuser}{pw}, connect_timeout: 1s, statement_timeout: 1s}}
"""


def start_daemon(
    config: Path, log_path: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`monitord run -c config`, waited for until /healthz answers 200."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=config.parent,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    _wait(
        lambda: _status(f"http://127.0.0.1:{port}/healthz") == 200,
        30,
        f"daemon /healthz on port {port}",
        proc,
        log_path,
    )
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after `timeout`; always reaps."""
    stop_process(proc, timeout)


class Stack:
    """snmpsim + monitord + Prometheus on loopback (see the module docstring)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sim = SnmpSim(workdir / "snmpsim")
        self.daemon_port = free_port()
        self.prom_port = free_port()
        self.daemon: subprocess.Popen[bytes] | None = None
        self.prom: subprocess.Popen[bytes] | None = None
        self._exit = contextlib.ExitStack()

    @property
    def prom_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        stop(self.prom)
        stop(self.daemon)
        self._exit.close()

    def _start(self) -> None:
        if not PROMETHEUS.exists():
            pytest.fail(f"{PROMETHEUS} not found: apt-get install prometheus")
        pg = self._exit.enter_context(any_server())
        self._exit.enter_context(self.sim)
        self.hook = self._exit.enter_context(WebhookReceiver())
        self.sim.add_records("gen-sw", switch(24, seed=7, name="sw-core"))
        from tests.peers.snmpsim import bundled_recordings

        recorded = next(
            (p for p in bundled_recordings() if "linux" in p.name.lower()),
            bundled_recordings()[0],
        )
        self.sim.add_file(recorded, "recorded")
        self.sim.start()
        cfg = self.workdir / "monitord.yaml"
        cfg.write_text(
            daemon_config(
                self.daemon_port, self.workdir / "var", self.sim.port, pg, webhook_url=self.hook.url
            )
        )
        self.daemon_log = self.workdir / "daemon.log"
        self.daemon = start_daemon(cfg, self.daemon_log, self.daemon_port)
        self.prom_log = self.workdir / "prometheus.log"
        self.prom = start_prometheus(
            self.workdir / "prometheus",
            self.prom_port,
            [f"127.0.0.1:{self.daemon_port}"],
            self.prom_log,
        )

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; raise AssertionError with Prometheus' error text on failure."""
        return query(self.prom_url, expr, at)

    def wait_warm(self, timeout: float = 90) -> None:
        """Wait until rates, the down target's alert and a notification are all visible."""
        wanted = {
            "every target in monitord:target_up": "count(monitord:target_up) == 6",
            "interface rates": "count(monitord:interface_in_bytes:rate5m) > 0",
            "poll errors": "count(monitord_poll_errors_total) > 0",
            "monitord's own target_down": 'monitord_alert_active{alertname="target_down"}',
            "a notification sent": "monitord_notifications_sent_total > 0",
            "database growth": "count(monitord:database_size_bytes:deriv6h_per_day) > 0",
        }
        deadline = time.monotonic() + timeout
        missing = list(wanted)
        while time.monotonic() < deadline:
            missing = [k for k, q in wanted.items() if not self.query(q)]
            if not missing:
                return
            for p in (self.daemon, self.prom):
                if p is not None and p.poll() is not None:
                    break
            time.sleep(0.5)
        pytest.fail(
            f"stack not warm after {timeout}s, missing: {missing}\n"
            f"daemon log:\n{self.daemon_log_text()[-3000:]}\n"
            f"prometheus log:\n{self.prom_log.read_text(errors='replace')[-2000:]}"
        )

    def daemon_log_text(self) -> str:
        return self.daemon_log.read_text(errors="replace")


def start_prometheus(
    workdir: Path,
    port: int,
    targets: list[str],
    log_path: Path,
    rule_files: list[Path] | None = None,
) -> subprocess.Popen[bytes]:
    """Prometheus scraping `targets` every second, with deploy/prometheus/rules loaded."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules = (
        rule_files
        if rule_files is not None
        else sorted((REPO / "deploy/prometheus/rules").glob("*.yml"))
    )
    cfg = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [
            {
                "job_name": "monitord",
                "static_configs": [
                    {"targets": [t], "labels": {"shard": str(i)}} for i, t in enumerate(targets)
                ],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(cfg, indent=1))
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--query.lookback-delta=30s",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=workdir,
        )
    _wait(
        lambda: _status(f"http://127.0.0.1:{port}/-/ready") == 200,
        60,
        "prometheus /-/ready",
        proc,
        log_path,
    )
    return proc


def query(base: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query against `base`; fail with Prometheus' own error text."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
        raise AssertionError(f"query failed ({e.code}): {body.get('error')}\n  {expr}") from None
    if body.get("status") != "success":
        raise AssertionError(f"query failed: {body.get('error')}\n  {expr}")
    if body.get("warnings"):
        raise AssertionError(f"query warnings: {body['warnings']}\n  {expr}")
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return list(result)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        e.close()
        return int(e.code)
    except OSError:
        return 0


def _wait(
    cond: Any, timeout: float, what: str, proc: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{what}: process exited with {proc.returncode}:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        if cond():
            return
        time.sleep(0.1)
    pytest.fail(
        f"timed out after {timeout}s waiting for {what}:\n"
        + log_path.read_text(errors="replace")[-3000:]
    )


def which(name: str) -> str:
    """The path of a program, or fail the test saying what to install."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH")
    return path
