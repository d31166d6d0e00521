"""Events kept in memory while the history cannot be written (disk full, read-only, locked).

Up/down events and alert events are the history's most valuable rows: an outage that
is not in `events` is missing from the monthly report. `PendingWrites` sits between
the daemon and `History.add_events` / `add_alert_events`: a batch whose write fails is
kept in memory, in order, and written before any newer batch once the disk takes
writes again (at the next event or the next `retry()`, which the history flush job
calls every `history.flush_interval`). At most `limit` rows are kept; past that the
oldest are dropped and counted.

The log says it once per transition: one ERROR when writes start failing (with the
reason), one INFO when they work again (with how many rows were written late), one
ERROR the first time rows are dropped for good. `len()` is the number of rows waiting
(`monitord_history_pending_events`); `errors` counts failed write attempts
(`monitord_history_write_errors_total`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from monitord.errors import HistoryError
from monitord.history.db import AlertEvent, History
from monitord.state import Event

__all__ = ["DEFAULT_LIMIT", "PendingWrites"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT: Final = 100_000  # rows (an event is ~200 bytes in memory)


class PendingWrites:
    """Ordered, bounded buffer of event rows waiting for the history (thread-safe)."""

    def __init__(
        self,
        history: History,
        limit: int = DEFAULT_LIMIT,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.history = history
        self.limit = limit
        self.on_error = on_error
        self.errors = 0
        self.dropped = 0
        self._queue: deque[tuple[str, list[Event] | list[AlertEvent]]] = deque()
        self._rows = 0
        self._failing = False
        self._late = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._rows

    def add_events(self, events: Iterable[Event]) -> bool:
        """Write up/down events (after any pending rows); keep them on failure."""
        return self._add("events", list(events))

    def add_alert_events(self, rows: Iterable[AlertEvent]) -> bool:
        """Write alert starts/resolutions (after any pending rows); keep them on failure.

        Raise HistoryError at once, keeping nothing, for a row that could never be
        written (a kind other than start/resolve)."""
        data = list(rows)
        for row in data:
            if row.kind not in ("start", "resolve"):
                raise HistoryError(f"alert event kind must be start or resolve, not {row.kind!r}")
        return self._add("alerts", data)

    def retry(self) -> bool:
        """Try to write what is pending; True when nothing is left."""
        with self._lock:
            return self._drain()

    def _add(self, kind: str, rows: list[Event] | list[AlertEvent]) -> bool:
        with self._lock:
            if rows:
                self._queue.append((kind, rows))
                self._rows += len(rows)
                self._bound()
            return self._drain()

    def _drain(self) -> bool:
        while self._queue:
            kind, rows = self._queue[0]
            try:
                if kind == "events":
                    self.history.add_events(rows)  # type: ignore[arg-type]
                else:
                    self.history.add_alert_events(rows)  # type: ignore[arg-type]
            except HistoryError as exc:
                self.errors += 1
                if self.on_error is not None:
                    self.on_error()
                if not self._failing:
                    self._failing = True
                    log.error(
                        "history write failed, keeping events in memory until it works"
                        " again (at most %d): %s",
                        self.limit,
                        exc,
                    )
                return False
            self._queue.popleft()
            self._rows -= len(rows)
            if self._failing:
                self._late += len(rows)
        if self._failing:
            self._failing = False
            log.info("history writes again: %d events kept in memory were written", self._late)
            self._late = 0
        return True

    def _bound(self) -> None:
        lost = 0
        while self._rows > self.limit and self._queue:
            _, rows = self._queue.popleft()
            self._rows -= len(rows)
            lost += len(rows)
        if lost:
            if not self.dropped:  # once: the metric keeps counting
                log.error(
                    "history: pending events dropped, more than %d waiting (oldest first)",
                    self.limit,
                )
            self.dropped += lost
