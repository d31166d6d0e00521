"""What the tests of the database collectors share: a poller driven from synchronous tests,
its factory fixture body, and lookups over the samples a poll returned.

Used by test_postgres.py and test_mysql.py (one engine each, same harness).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from collectors._dbpool import TableSize
from monitord.errors import CollectorError
from monitord.types import Sample, Shared, Target, TargetKind


@dataclass
class Poller:
    """One collector, its Shared resources and a target, driven from synchronous tests."""

    collector: Any
    shared: Shared
    target: Target
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def run(self, coro: Any, timeout: float = 15.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(timeout):
                return await coro

        return self.loop.run_until_complete(bounded())

    def collect(self, timeout: float = 15.0) -> list[Sample]:
        result = self.run(self.collector.collect(self.target), timeout)
        assert isinstance(result, list)
        return result

    def fail(self, timeout: float = 15.0) -> CollectorError:
        with pytest.raises(CollectorError) as info:
            self.collect(timeout)
        return info.value

    def tables(self, n: int | None = None) -> list[TableSize]:
        result = self.run(self.collector.largest_tables(self.target, n))
        assert isinstance(result, list)
        return result

    def pool(self) -> Any:
        return self.shared.peek(f"db.pool.{self.collector.kind}.{self.target.name}")

    def close(self) -> None:
        self.loop.run_until_complete(self.shared.aclose())
        self.loop.close()


def pollers(
    build: Callable[[Mapping[str, object], Shared], Any],
    default_name: str,
    credentials: Callable[[Any], dict[str, object]],
) -> Iterator[Callable[..., Poller]]:
    """Body of a `make_poller` fixture: yields `make(server, name, **options)`, closes all after.

    `credentials(server)` gives the user (and password) options for that server.
    """
    made: list[Poller] = []

    def make(server: Any, name: str = default_name, **options: object) -> Poller:
        opts: dict[str, object] = {
            "host": server.host,
            "port": server.port,
            **credentials(server),
            "connect_timeout": "2s",
            "statement_timeout": "1s",
        }
        opts.update(options)
        shared = Shared()
        poller = Poller(build(opts, shared), shared, Target(name, server.host, TargetKind.DATABASE))
        made.append(poller)
        return poller

    yield make
    for p in made:
        p.close()


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of one series; fails when the series is missing."""
    for s in samples:
        if s.name == name and {k: v for k, v in s.labels.items() if k != "target"} == labels:
            return s.value
    have = sorted({s.name for s in samples})
    raise AssertionError(f"series {name}{labels} not in samples (have {have})")


def names(samples: list[Sample]) -> set[str]:
    return {s.name for s in samples}


def sizes(samples: list[Sample]) -> dict[str, float]:
    return {
        s.labels["database"]: s.value for s in samples if s.name == "monitord_database_size_bytes"
    }
