"""The collectors' shared timers: one event-loop timer per line, however items are added.

The ICMP delay-line leak (issue 16): when an item's callback added the next item to the
same line (the gap between one target's echo requests), `_run` armed a second timer and
overwrote the reference to the first; the orphans re-armed themselves while the line was
busy, so the loop ran the line far more often than items fired. These tests count timer
callbacks against items fired and probes sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from collectors import _pinger, icmp
from collectors._delayline import Deadlines, DelayLine
from monitord.types import Shared, Target


def _live_timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]


def test_fire_that_adds_to_its_own_line_keeps_one_timer() -> None:
    async def scenario() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        fired = 0
        line: DelayLine[int]

        def fire(item: int) -> None:
            nonlocal fired
            fired += 1
            line.add(item)  # the next request of the same stream, one delay later

        line = DelayLine(loop, 0.02, fire)
        for i in range(50):  # 50 streams staggered over one delay, like spread polls
            line.add(i)
            await asyncio.sleep(0.02 / 50)
        await asyncio.sleep(1.0)
        timers = _live_timers(loop)
        line.clear()
        return fired, line.runs, timers

    fired, runs, timers = asyncio.run(scenario())
    assert fired > 1000  # ~50 streams x 50 delays
    assert runs <= fired  # each callback fires at least one item (the leak: many per item)
    assert timers == 1


def test_clear_and_add_from_fire_leave_one_timer() -> None:
    async def scenario() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        line: DelayLine[str]

        def fire(item: str) -> None:
            seen.append(item)
            if item == "a":
                line.clear()
                line.add("c")

        line = DelayLine(loop, 0.01, fire)
        line.add("a")
        line.add("b")  # dropped by clear()
        await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        return seen, _live_timers(loop)

    seen, timers = asyncio.run(scenario())
    assert seen == ["a", "c"]
    assert timers == 0


def test_deadlines_expire_only_futures_still_waiting() -> None:
    async def scenario() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.05)
        futs: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(1000)]
        for f in futs:
            deadlines.expire_later(f)
        for f in futs[::2]:
            f.set_result("answered")
        out = []
        for f in futs:
            try:
                out.append(await f)
            except TimeoutError:
                out.append("timeout")
        return out, deadlines.line.runs

    out, runs = asyncio.run(scenario())
    assert out[::2] == ["answered"] * 500
    assert out[1::2] == ["timeout"] * 500
    assert runs <= 3  # one timer for the whole line, not one per request


@pytest.mark.peer
def test_two_thousand_targets_polled_for_three_seconds_cost_fewer_timer_runs_than_packets() -> None:
    targets = [Target(f"lo-{i}", f"127.2.{i // 250}.{i % 250 + 1}") for i in range(2000)]
    options = {"count": 5, "packet_interval": "100ms", "packet_timeout": "500ms"}

    async def scenario() -> tuple[int, int, int, int]:
        shared = Shared()
        collector = icmp.build(options, shared)
        deadline = time.monotonic() + 3.0
        sent = 0
        most_timers = 0  # the most timers one line had scheduled at once

        async def watch() -> None:
            nonlocal most_timers
            loop = asyncio.get_running_loop()
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                per_line: dict[int, int] = {}
                for h in loop._scheduled:  # type: ignore[attr-defined]
                    owner = getattr(h._callback, "__self__", None)
                    if isinstance(owner, DelayLine) and not h.cancelled():
                        per_line[id(owner)] = per_line.get(id(owner), 0) + 1
                most_timers = max(most_timers, *per_line.values(), 0)

        async def keep_polling(i: int, t: Target) -> None:
            nonlocal sent
            await asyncio.sleep(i * 0.5 / len(targets))  # starts spread, like the scheduler's
            while time.monotonic() < deadline:
                for s in await collector.collect(t):
                    if s.name == "monitord_icmp_packets_sent_total":
                        sent += int(s.value)

        try:
            await asyncio.gather(watch(), *(keep_polling(i, t) for i, t in enumerate(targets)))
            pinger = shared.peek(_pinger.PINGER_KEY)
            assert isinstance(pinger, _pinger.Pinger)
            lines = [*pinger._next_send.values(), *pinger._expiry.values()]
            await asyncio.sleep(0.6)  # the reply deadlines of answered probes run out
            runs = sum(line.runs for line in lines)
            live = sum(1 for line in lines if line.timer is not None)
            return sent, runs, live, most_timers
        finally:
            await shared.aclose()

    sent, runs, live, most_timers = asyncio.run(scenario())
    assert sent >= 2000 * 5
    assert most_timers == 1  # the leak piled up orphan timers on the busy lines
    # Each timer run fires at least one item, and the lines hold one item per packet (the
    # gap before requests 2..5, the deadline after the last): at most one run per packet.
    assert runs <= sent
    assert live == 0
