"""Real senders for the event tests: net-snmp's snmptrap/snmpinform and util-linux logger."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

__all__ = ["capture_trap", "logger", "snmptrap", "tool"]


def tool(name: str) -> str:
    """Path of a sender program; fail (never skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is needed by this test: apt-get install snmp bsdutils")
    return path


def snmptrap(port: int, opts: list[str], trap: list[str], *, inform: bool = False,
             check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run snmptrap (or snmpinform) `opts` udp:127.0.0.1:port `trap`."""
    prog = tool("snmpinform" if inform else "snmptrap")
    r = subprocess.run(
        [prog, *opts, f"udp:127.0.0.1:{port}", *trap], capture_output=True, text=True, timeout=15
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def capture_trap(opts: list[str], trap: list[str]) -> bytes:
    """The datagram snmptrap sends with `opts` and `trap`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        snmptrap(s.getsockname()[1], opts, trap)
        data, _ = s.recvfrom(65535)
        return data


def logger(port: int, message: str, *, tcp: bool, rfc: int, octet_count: bool = False,
           tag: str = "monitord-test", extra: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Send one message with util-linux logger."""
    args = [
        tool("logger"), "--server", "127.0.0.1", "--port", str(port),
        "--tcp" if tcp else "--udp", "--rfc5424" if rfc == 5424 else "--rfc3164",
        "-t", tag, *extra,
    ]  # fmt: skip
    if octet_count:
        args.append("--octet-count")
    r = subprocess.run([*args, message], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
