"""Fixtures of the collector tests: `start_agent` runs real agents on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.collectors.test_agent_server import AgentProc, spawn_agent


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProc]]:
    started: list[AgentProc] = []

    def start(config: Mapping[str, object] | None = None, **kw: object) -> AgentProc:
        agent = spawn_agent(tmp_path, config, **kw)  # type: ignore[arg-type]
        started.append(agent)
        return agent

    yield start
    for a in started:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait(5)
