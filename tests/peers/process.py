"""Start/stop plumbing shared by the peers that run as child processes.

wait_started(proc, ready, 20, "snmpd on 127.0.0.1:1161", details=lambda: log_tail(path))
stop_process(proc)          # SIGTERM, SIGKILL after the timeout; always reaps
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

__all__ = [
    "ProcessPeer",
    "free_port",
    "log_tail",
    "port_open",
    "stop_process",
    "wait_started",
    "wait_until",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> object:
    """Poll `cond` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on `host`:`port` (1 s to answer)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def log_tail(path: Path, size: int = 3000) -> str:
    """The last `size` characters of a log file ("" if it cannot be read)."""
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; always reaps.

    Returns False when the process had to be killed (it ignored SIGTERM).
    """
    if proc is None or proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return False
    return True


def wait_started(
    proc: subprocess.Popen[Any],
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    details: Callable[[], str],
) -> None:
    """Poll `ready` every 0.1 s until it is true; fail the test if `proc` exits or time runs out.

    On a timeout the process is stopped first. `details` (a log tail, say) ends each message.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{details()}")
        if ready():
            return
        time.sleep(0.1)
    stop_process(proc)
    pytest.fail(f"{what} did not answer within {timeout}s\n{details()}")


class ProcessPeer:
    """A peer run as one child process (`_proc`) that logs to `log_path`.

    Subclasses start the process and define `__enter__`; leaving the `with` stops it.
    """

    log_path: Path
    _proc: subprocess.Popen[bytes] | None = None

    def log_tail(self, size: int = 3000) -> str:
        """The end of the peer's log."""
        return log_tail(self.log_path, size)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s); a second call does nothing."""
        proc, self._proc = self._proc, None
        stop_process(proc)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
