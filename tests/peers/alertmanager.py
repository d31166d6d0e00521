"""A real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port.

    with Alertmanager(tmp_path, webhook_url=hook.url) as am:
        am.url                                    # http://127.0.0.1:<port>
        am.alerts()                               # GET /api/v2/alerts
        am.wait_alert(lambda a: ..., 10, "what")

It runs with a temporary config and storage directory, clustering off
(`--cluster.listen-address=`), and, when `webhook_url` is given, one receiver that posts
every notification there with send_resolved, group_wait 0s and group_interval 1s, so a
test sees Alertmanager's own notifications (firing and resolved) within about a second.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers.process import stop_process

__all__ = ["BINARY", "Alertmanager"]

BINARY = "/usr/bin/prometheus-alertmanager"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Alertmanager:
    """The Alertmanager process; see the module docstring."""

    def __init__(self, directory: Path, webhook_url: str | None = None) -> None:
        self.dir = directory / "alertmanager"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        receiver = {"name": "test"}
        if webhook_url:
            receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]  # type: ignore[assignment]
        config = {
            "route": {
                "receiver": "test",
                "group_by": ["alertname", "target"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [receiver],
        }
        (self.dir / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = self.dir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Alertmanager:
        if not Path(BINARY).exists():
            pytest.fail(f"{BINARY} not found: apt-get install prometheus-alertmanager")
        self._log_fh = open(self.log, "wb")  # closed in __exit__
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_fh,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"alertmanager exited with {self.proc.returncode}: "
                    f"{self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.__exit__()
        pytest.fail(f"alertmanager not ready within 20s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc, 10)
        self._log_fh.close()

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced, inhibited, unprocessed; not resolved)."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as r:
            data = json.loads(r.read())
        assert isinstance(data, list)
        return data

    def wait_alert(
        self, cond: Callable[[list[dict[str, Any]]], object], timeout: float, what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                last = self.alerts()
            except (urllib.error.URLError, OSError):
                last = []
            if cond(last):
                return last
            time.sleep(0.05)
        pytest.fail(f"alertmanager: timed out after {timeout}s waiting for {what}; alerts: {last}")
