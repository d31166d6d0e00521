"""Silences stay in the month's maintenance calendar after they expire or are removed.

The real `Daemon` runs in this process (scheduler, control socket, history); silences are
added and removed with the `monitord silence` command line over the control socket. Once
they have expired (and `silences.json` no longer holds them), `monitord report` lists
them in the network report's maintenance table with their start, end, scope, comment
and author; a removed silence ends when it was removed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collectors import COLLECTORS
from monitord.alerts.control import add_parser, run
from monitord.cli import main as cli_main
from monitord.config import load_config
from monitord.daemon import CONFIG_CHECKS, Daemon
from monitord.history.db import History
from monitord.types import Shared
from tests.conftest import free_port

TZ = "America/Bogota"

CONFIG = """\
daemon: {{listen: "127.0.0.1:{port}", data_dir: "{data}", startup_spread: 0.1s, timezone: {tz}}}
defaults: {{interval: 1s, timeout: 900ms}}
history: {{flush_interval: 2s}}
targets:
  - {{name: sw-1, address: 127.0.0.1, kind: switch, collectors: {{tcp: {{must_be_open: [{svc}]}}}}}}
  - {{name: sw-2, address: 127.0.0.1, kind: switch, collectors: {{tcp: {{must_be_open: [{svc}]}}}}}}
alerts:
  evaluation_interval: 1s
"""


def _silence(sock: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return run(parser.parse_args(["silence", "--socket", str(sock), *argv]))


def test_expired_and_removed_silences_stay_in_the_months_maintenance_calendar(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    path = tmp_path / "monitord.yaml"
    svc = listener.getsockname()[1]
    path.write_text(CONFIG.format(port=free_port(), data=data, svc=svc, tz=TZ))
    shared = Shared()
    cfg = load_config(path, COLLECTORS, shared, checks=CONFIG_CHECKS)
    daemon = Daemon(path, cfg, COLLECTORS, shared)
    sock = data / "control.sock"
    times: dict[str, float] = {}

    async def scenario() -> None:
        task = asyncio.create_task(daemon.run())
        try:
            deadline = time.monotonic() + 20
            while not sock.exists():
                assert time.monotonic() < deadline, "the control socket never appeared"
                await asyncio.sleep(0.1)
            times["a0"] = time.time()
            rc = await asyncio.to_thread(
                _silence, sock, "add", "--target", "sw-1", "--for", "2s", "--comment",
                "Cambio de UPS",
            )  # fmt: skip
            times["a1"] = time.time()
            assert rc == 0
            rc = await asyncio.to_thread(
                _silence, sock, "add", "--site", "norte", "--for", "1h", "--comment",
                "Traslado de rack",
            )  # fmt: skip
            assert rc == 0
            assert daemon.alerts is not None
            held = daemon.alerts.silences.list(time.time())
            removed = next(s for s in held if s.comment == "Traslado de rack")
            await asyncio.sleep(0.5)
            times["r0"] = time.time()
            assert await asyncio.to_thread(_silence, sock, "remove", removed.id) == 0
            times["r1"] = time.time()
            await asyncio.sleep(max(0.0, times["a1"] + 2.2 - time.time()))
            assert await asyncio.to_thread(_silence, sock, "list") == 0  # expires the first
        finally:
            daemon.request_stop()
            await task

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
    # the running store forgot both: only the history still knows them
    kept = json.loads((data / "silences.json").read_text("utf-8"))["silences"]
    assert kept == []
    h = History(data / "monitord.db")
    try:
        stored = {s.comment: s for s in h.silences()}
    finally:
        h.close()
    assert set(stored) == {"Cambio de UPS", "Traslado de rack"}
    ups, rack = stored["Cambio de UPS"], stored["Traslado de rack"]
    assert times["a0"] <= ups.starts_at <= times["a1"]
    assert ups.ends_at == ups.starts_at + 2.0 and ups.removed_at is None
    assert times["r0"] <= (rack.removed_at or 0) <= times["r1"]
    assert rack.ends_at == rack.starts_at + 3600.0
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    assert ups.created_by == rack.created_by == user

    # the month's network report, written by `monitord report` after both ended
    month = datetime.fromtimestamp(ups.starts_at, ZoneInfo(TZ)).strftime("%Y-%m")
    out = tmp_path / "reports"
    args = ["report", "-c", str(path), "--month", month, "--kind", "network"]
    assert cli_main([*args, "--format", "csv", "--lang", "en", "--out", str(out)]) == 0
    (table,) = (out / month / "csv").glob("*_maintenance*.csv")
    with table.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    zone = ZoneInfo(TZ)

    def local(ts: float) -> str:
        return datetime.fromtimestamp(int(ts), zone).strftime("%Y-%m-%d %H:%M:%S")

    got = {r["Description"]: r for r in rows}
    assert set(got) == {"Cambio de UPS", "Traslado de rack"}, rows
    assert got["Cambio de UPS"]["Applies to"] == "sw-1"
    assert got["Traslado de rack"]["Applies to"] == "norte"
    assert got["Cambio de UPS"]["Declared by"] == got["Traslado de rack"]["Declared by"] == user
    assert got["Cambio de UPS"]["Start"] == local(ups.starts_at)
    assert got["Cambio de UPS"]["End"] == local(ups.starts_at + 2.0)
    # the removed silence ends at its removal, not an hour later
    assert got["Traslado de rack"]["End"] == local(rack.removed_at or 0)
