"""Shared fixtures: a controllable clock, free ports, and the daemon as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.process import stop_process

REPO = Path(__file__).resolve().parent.parent


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    mono: float = 1000.0
    wall: float = 1_790_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> object:
    """Poll `cond` until truthy or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@dataclass
class DaemonProc:
    """A monitord subprocess with its config, port and captured stderr."""

    proc: subprocess.Popen[str]
    port: int
    config: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        code, body = http_get(self.url + "/metrics")
        assert code == 200, body
        return body

    def log(self) -> str:
        return self.log_path.read_text()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> int:
        if not stop_process(self.proc, timeout):
            pytest.fail(f"daemon did not stop within {timeout}s of SIGTERM:\n{self.log()[-3000:]}")
        return int(self.proc.returncode)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProc]]:
    """Start `monitord run` on a config text (`{port}` and `{data_dir}` are filled in)."""
    started: list[DaemonProc] = []

    def start(
        config_text: str,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        preexec_fn: Callable[[], None] | None = None,
    ) -> DaemonProc:
        port = free_port()
        cfg = tmp_path / f"monitord-{len(started)}.yaml"
        cfg.write_text(config_text.format(port=port, data_dir=tmp_path / "var"))
        log_path = tmp_path / f"daemon-{len(started)}.log"
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "w") as log_file:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", "run", "-c", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                text=True,
                env=full_env,
                cwd=tmp_path,
                preexec_fn=preexec_fn,
            )
        d = DaemonProc(proc, port, cfg, log_path, env or {})
        started.append(d)
        if wait_ready:

            def ready() -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"daemon exited with {proc.returncode}:\n{d.log()[-3000:]}")
                try:
                    return http_get(d.url + "/healthz", timeout=1)[0] == 200
                except OSError:
                    return False

            wait_for(ready, 20, "daemon /healthz")
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(5)
