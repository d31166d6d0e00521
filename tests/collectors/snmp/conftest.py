"""Fixtures for the SNMP tests: one snmpsim for the session, and a poll helper.

The session responder serves the generated switches (48 and 500 ports), snmpsim's own
bundled recordings and, when MONITORD_DEVICES names a folder, every `.snmprec` in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import collectors.snmp as snmp
from monitord.errors import CollectorError
from monitord.types import Sample, Shared, Target
from tests.peers.snmprec_gen import switch, write_snmprec
from tests.peers.snmpsim import SnmpSim, V3User, bundled_recordings

# snmpsim serves one SNMPv3 user; the context name selects the recording.
SIM_V3_USER = V3User("monitord", "SHA256", "authpass123", "AES", "privpass123")

GENERATED = {
    "gen-switch-48": dict(ports=48, seed=48, name="gen-sw-48"),
    "gen-switch-500": dict(ports=500, seed=500, name="gen-sw-500", with_counter32_octets=False),
}


def device_files() -> list[Path]:
    """The recordings under $MONITORD_DEVICES (none when it is unset)."""
    folder = os.environ.get("MONITORD_DEVICES")
    if not folder:
        return []
    path = Path(folder)
    if not path.is_dir():
        pytest.fail(f"MONITORD_DEVICES={folder} is not a folder")
    return sorted(path.glob("*.snmprec"))


@dataclass
class Recordings:
    """The session's snmpsim and the recording file behind each community."""

    sim: SnmpSim
    files: Mapping[str, Path]


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recordings]:
    work = tmp_path_factory.mktemp("snmpsim")
    gen = tmp_path_factory.mktemp("generated")
    files: dict[str, Path] = {}
    with SnmpSim(work, v3_user=SIM_V3_USER) as sim:
        for community, kw in GENERATED.items():
            files[community] = write_snmprec(gen / f"{community}.snmprec", switch(**kw))  # type: ignore[arg-type]
            sim.add_file(files[community])
        for f in bundled_recordings():
            files["bundled-" + f.stem] = f
            sim.add_file(f, "bundled-" + f.stem)
        for f in device_files():
            files["dev-" + f.stem] = f
            sim.add_file(f, "dev-" + f.stem)
        sim.start()
        yield Recordings(sim, files)


def run(coro: object) -> object:
    """Run a coroutine in a fresh event loop (no pytest-asyncio)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


@dataclass
class PollResult:
    samples: list[Sample]
    error: CollectorError | None


async def poll_many(
    options: Mapping[str, object], target: Target, times: int = 1, shared: Shared | None = None
) -> list[PollResult]:
    """Build the collector and poll `target` `times` times in one loop; errors are returned."""
    sh = shared or Shared()
    collector = snmp.build(options, sh)
    out = []
    try:
        for _ in range(times):
            try:
                out.append(PollResult(await collector.collect(target), None))
            except CollectorError as exc:
                out.append(PollResult(list(exc.samples), exc))
    finally:
        if shared is None:
            await sh.aclose()
    return out


def by_series(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], Sample]:
    """Samples keyed by (name, sorted labels); fails on a duplicate series."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {}
    for s in samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in out, f"duplicate series {key}"
        out[key] = s
    return out
