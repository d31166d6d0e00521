"""Shared timers for the collectors: one event-loop timer per delay, not one per packet.

`DelayLine` hands items to a callback a fixed delay after they were added, in order,
with a single `TimerHandle` for the whole line (the ICMP pinger's gap between a target's
requests and its reply deadline). `Deadlines` expires futures a fixed delay after they
were registered (the SNMP clients' per-request timeout): a request that is answered in
time costs a deque append and nothing else; the line's one timer fires at most once per
delay while requests are in flight, instead of a timer armed and cancelled per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Deadlines", "DelayLine"]

_T = TypeVar("_T")


class DelayLine(Generic[_T]):
    """Items handed to `fire` a fixed delay after `add()`, in order, with one timer for all.

    The delay is the same for every item, so due times only grow and a deque suffices.
    `fire` may add items to the same line (the next request of one target): the line
    still holds exactly one timer. `runs` counts timer callbacks (for tests and benches).
    """

    __slots__ = ("before", "delay", "fire", "items", "loop", "runs", "timer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        fire: Callable[[_T], object],
        before: Callable[[], object] | None = None,
    ) -> None:
        self.loop = loop
        self.delay = delay
        self.fire = fire
        self.before = before  # called once before each batch of items is fired
        self.items: deque[tuple[float, _T]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.runs = 0

    def add(self, item: _T) -> None:
        """Queue `item` to be fired `delay` seconds from now."""
        due = self.loop.time() + self.delay
        self.items.append((due, item))
        if self.timer is None:
            self.timer = self.loop.call_at(due, self._run)

    def clear(self) -> None:
        """Drop every queued item and the timer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.items.clear()

    def _run(self) -> None:
        # While the batch fires, `self.timer` still holds this (spent) handle, so an
        # `add()` from `fire` does not arm a second timer; one is armed below, once.
        self.runs += 1
        handle = self.timer
        items, fire, now = self.items, self.fire, self.loop.time()
        if self.before is not None and items and items[0][0] <= now:
            self.before()
        while items and items[0][0] <= now:
            fire(items.popleft()[1])
        if self.timer is handle:  # not cleared (and maybe re-armed) by `fire`
            self.timer = self.loop.call_at(items[0][0], self._run) if items else None


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class Deadlines:
    """Futures failed with `TimeoutError` a fixed `delay` after `expire_later()`.

    A future already done when its deadline comes (answered, cancelled) is skipped.
    Bound to the loop that is running when it is first used.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._line: DelayLine[asyncio.Future[Any]] | None = None

    @property
    def line(self) -> DelayLine[asyncio.Future[Any]]:
        """The underlying delay line (created inside the running loop)."""
        if self._line is None:
            self._line = DelayLine(asyncio.get_running_loop(), self.delay, _expire)
        return self._line

    def expire_later(self, fut: asyncio.Future[Any]) -> None:
        """Fail `fut` with TimeoutError `delay` seconds from now unless it is done by then."""
        self.line.add(fut)
