"""`daemon.shard: {index, count}`: three daemons on one config poll every target once.

One config file, three `monitord run` processes that differ only in the environment
(MONITORD_SHARD, MONITORD_PORT). Each daemon's /metrics is read directly, and a real
Prometheus scrapes all three (the federation setup of docs/sharding.md): every target
has a last-poll timestamp on exactly one shard, the one its stable hash names.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.deploy.stack import query, start_daemon, start_prometheus, stop

COUNT = 3
TARGETS = [f"lo-{i:02d}" for i in range(24)] + ["sw-core-1", "db-catastro", "srv-nomina"]

CONFIG = """\
daemon:
  listen: "127.0.0.1:${{MONITORD_PORT}}"
  data_dir: "{data}/shard-${{MONITORD_SHARD}}"
  startup_spread: 1s
  shard: {{index: "${{MONITORD_SHARD}}", count: 3}}
defaults: {{interval: 2s, timeout: 2s}}
targets:
{targets}
"""


def expected_shard(name: str) -> int:
    """The documented assignment: first 8 bytes of SHA-1 of the name, big-endian, mod count."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") % COUNT


def polled(metrics_text: str) -> set[str]:
    return set(
        re.findall(
            r'^monitord_last_poll_timestamp_seconds\{[^}]*target="([^"]+)"', metrics_text, re.M
        )
    )


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def test_three_shards_poll_every_target_exactly_once(tmp_path: Path) -> None:
    lines = [
        f"  - {{name: {t}, address: 127.0.0.{i + 1}, collectors: {{icmp: {{count: 1}}}}}}"
        for i, t in enumerate(TARGETS)
    ]
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(CONFIG.format(data=tmp_path, targets="\n".join(lines)))
    want = {k: {t for t in TARGETS if expected_shard(t) == k} for k in range(COUNT)}
    assert all(want.values()), want  # every shard has work, or the test proves little
    ports = [free_port() for _ in range(COUNT)]
    procs: list[subprocess.Popen[bytes]] = []
    prom = None
    try:
        for k, port in enumerate(ports):
            env = {"MONITORD_PORT": str(port), "MONITORD_SHARD": str(k)}
            procs.append(start_daemon(cfg, tmp_path / f"daemon-{k}.log", port, env))
        # every shard polls all of its targets (bounded wait)
        deadline = time.monotonic() + 30
        seen: list[set[str]] = [set()] * COUNT
        while time.monotonic() < deadline:
            seen = [polled(_metrics(p)) for p in ports]
            if seen == [want[k] for k in range(COUNT)]:
                break
            time.sleep(0.5)
        for k in range(COUNT):
            assert seen[k] == want[k], f"shard {k}"
            text = _metrics(ports[k])
            assert re.search(rf"^monitord_targets {len(want[k])}(\.0)?$", text, re.M), k
        assert set().union(*seen) == set(TARGETS)
        assert sum(len(s) for s in seen) == len(TARGETS)  # disjoint: polled once
        # Prometheus scraping the three shards sees each target exactly once
        prom_port = free_port()
        prom = start_prometheus(
            tmp_path / "prom",
            prom_port,
            [f"127.0.0.1:{p}" for p in ports],
            tmp_path / "prom.log",
            rule_files=[],
        )
        base = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + 30
        counts: dict[str, str] = {}
        while time.monotonic() < deadline:
            rows = query(base, "count by (target) (monitord_last_poll_timestamp_seconds)")
            counts = {r["metric"]["target"]: r["value"][1] for r in rows}
            if len(counts) == len(TARGETS):
                break
            time.sleep(0.5)
        assert counts == {t: "1" for t in TARGETS}
        shard_of = {
            r["metric"]["target"]: int(r["metric"]["shard"])
            for r in query(base, "monitord_last_poll_timestamp_seconds")
        }
        assert shard_of == {t: expected_shard(t) for t in TARGETS}
    finally:
        stop(prom)
        for p in procs:
            stop(p)


def test_shard_index_must_be_below_count(tmp_path: Path) -> None:
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text("daemon: {shard: {index: 3, count: 3}}\ntargets: []\n")
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "daemon.shard.index: must be less than daemon.shard.count" in r.stderr


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_assignment_is_the_documented_hash(count: int) -> None:
    from monitord.config import shard_of

    for name in TARGETS:
        assert (
            shard_of(name, count)
            == int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") % count
        )
