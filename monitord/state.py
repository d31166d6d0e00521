"""Rolling in-memory state: the single source for /metrics, alerts and history.

What it keeps, per (target, collector) "group":
- the latest value of every series the last polls produced, with a per-series
  timestamp; series not refreshed for `stale_after` are pruned;
- for counters, the previous raw value and the rate over the last interval, computed
  in integers with 32/64-bit wrap handling; a reset (device uptime going back, or a
  counter going back that is no plausible wrap) yields no rate for that interval;
  so does a change of the counter's width (a 32-bit reading after a 64-bit one: two
  different device counters, never a difference to take). Without an uptime sample
  in the poll, a 32-bit counter that goes back is a wrap only when the wrapped
  increase fits the series' `max_rate` x interval (the interface speed); with no
  bound known it is a reset;
- up/down with hysteresis (`failures_to_down` consecutive failed polls to go down,
  `successes_to_up` to come back) and an `Event` on every transition.

Concurrency: `record()` runs on the event loop; `snapshot()` may run in any thread
(the HTTP server's). Each group is copy-on-write: a poll builds a new immutable
`GroupView` and swaps it in under a lock, so a snapshot is a shallow copy of a dict
of references and never waits for a poll.

Keying: a series is keyed by (name, sorted label pairs). The sorted tuple is built once
per labels mapping and reused while the collector hands the same mapping object again
(the SNMP collector keeps one per interface until its labels refresh), so a poll does
not sort labels per sample. A labels mapping given to `record()` must not be mutated
afterwards (samples are frozen; their labels are treated the same way).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from monitord.types import (
    Clock,
    Sample,
    SampleKind,
    SystemClock,
    Target,
)

__all__ = [
    "Event",
    "EventKind",
    "GroupKey",
    "GroupView",
    "LabelSet",
    "SeriesKey",
    "SeriesValue",
    "Snapshot",
    "State",
    "counter_delta",
]

LabelSet = tuple[tuple[str, str], ...]
_MAX_PAIRS = 1 << 20  # distinct (label, value) pairs shared between label sets
SeriesKey = tuple[str, LabelSet]
GroupKey = tuple[str, str]  # (target, collector)


class EventKind(StrEnum):
    """What happened to a (target, collector)."""

    DOWN = "down"
    UP = "up"


@dataclass(frozen=True, slots=True)
class Event:
    """A state transition, with wall-clock time; `reason` is why it went down."""

    ts: float
    target: str
    collector: str
    kind: EventKind
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class SeriesValue:
    """The latest value of one series.

    For counters, `value` is the exposed counter (raw device counter, or the running
    total of increments), `rate` the per-second rate over the last interval (None
    after a reset or on the first poll), `mono` the monotonic time of the reading.
    """

    name: str
    labels: LabelSet
    value: float
    kind: SampleKind
    ts: float
    mono: float
    rate: float | None = None
    bits: int = 0


@dataclass(frozen=True, slots=True)
class GroupView:
    """Immutable view of one (target, collector) as of its last poll."""

    target: Target
    collector: str
    version: int
    series: Mapping[SeriesKey, SeriesValue]
    up: bool | None = None
    reason: str = ""
    last_poll_ts: float = 0.0
    last_poll_ok: bool = False
    last_duration: float = 0.0
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    uptime: float | None = None
    interval: float = 60.0
    reach: str = ""  # the collector's declared Reach ("" when none): what `down` rules select
    oldest: float = 0.0  # monotonic time of the oldest series (prune skips fresh groups)
    # The series by metric name, built on first use and kept with this (immutable) view:
    # once per group version, shared by every reader (alert rules, /metrics).
    _names: dict[str, list[SeriesValue]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def by_name(self) -> Mapping[str, list[SeriesValue]]:
        """The group's series by metric name (in series order); do not mutate."""
        names = self._names
        if not names and self.series:
            built: dict[str, list[SeriesValue]] = {}
            for sv in self.series.values():
                lst = built.get(sv.name)
                if lst is None:
                    built[sv.name] = [sv]
                else:
                    lst.append(sv)
            names.update(built)  # one step: a concurrent reader sees all or nothing new
        return names


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of the state for one reader."""

    ts: float
    groups: Mapping[GroupKey, GroupView]
    targets: Mapping[str, Target]

    def series_count(self) -> int:
        """Number of device series held."""
        return sum(len(g.series) for g in self.groups.values())

    def value(self, target: str, collector: str, name: str, **labels: str) -> float | None:
        """The latest value of one series, or None (for tests and alerts)."""
        sv = self._find(target, collector, name, labels)
        return None if sv is None else sv.value

    def rate(self, target: str, collector: str, name: str, **labels: str) -> float | None:
        """The latest rate of one counter series, or None."""
        sv = self._find(target, collector, name, labels)
        return None if sv is None else sv.rate

    def _find(
        self, target: str, collector: str, name: str, labels: Mapping[str, str]
    ) -> SeriesValue | None:
        g = self.groups.get((target, collector))
        if g is None:
            return None
        return g.series.get((name, _labelset({"target": target, **labels})))


@dataclass(slots=True)
class State:
    """The rolling state; see the module docstring."""

    clock: Clock = field(default_factory=SystemClock)
    failures_to_down: int = 2
    successes_to_up: int = 1
    event_log_size: int = 1000
    # Series of role UPTIME (declared by the collectors; set by the daemon): a decrease
    # between two polls means a restart, so that poll's counters give no rate.
    uptime_names: frozenset[str] = frozenset()
    _groups: dict[GroupKey, GroupView] = field(default_factory=dict)
    _targets: dict[str, Target] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _events: deque[Event] = field(default_factory=deque)
    # Per group, the label tuples of the last poll by the identity of the collector's
    # labels mapping: a collector that hands the same mapping object poll after poll
    # (until its labels refresh) gets the same tuple back without a sort.
    _labelsets: dict[GroupKey, dict[int, tuple[Mapping[str, str], LabelSet]]] = field(
        default_factory=dict
    )
    # One tuple per distinct (label, value) pair, shared by every label set holding it:
    # ("target", "sw-1") once per target, not once per interface label set.
    _pairs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    # --- targets -------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Declare the configured targets; groups of targets no longer present are dropped."""
        new = {t.name: t for t in targets}
        with self._lock:
            self._targets = new
            for key in [k for k in self._groups if k[0] not in new]:
                del self._groups[key]
                self._labelsets.pop(key, None)
            for key, g in list(self._groups.items()):
                if g.target != new[key[0]]:
                    self._groups[key] = replace(g, target=new[key[0]], version=g.version + 1)

    def remove(self, target: str, collector: str) -> None:
        """Forget one (target, collector): its series disappear from the next scrape."""
        with self._lock:
            self._groups.pop((target, collector), None)
            self._labelsets.pop((target, collector), None)

    # --- polls ---------------------------------------------------------------

    def record(
        self,
        target: Target,
        collector: str,
        samples: Iterable[Sample],
        *,
        ok: bool,
        reason: str = "",
        message: str = "",
        duration: float = 0.0,
        interval: float = 60.0,
        stale_after: float | None = None,
        reach: str = "",
    ) -> list[Event]:
        """Apply one poll's outcome; return the events it caused (transitions only).

        A successful poll replaces the group's series with what it returned (what the
        device no longer reports disappears); a failed poll merges whatever partial
        samples it has and keeps the rest until `stale_after`.
        """
        now_mono = self.clock.monotonic()
        now = self.clock.time()
        key = (target.name, collector)
        old = self._groups.get(key)
        old_series: Mapping[SeriesKey, SeriesValue] = old.series if old else {}
        samples = list(samples)

        uptime = next((s.value for s in samples if s.name in self.uptime_names), None)
        restarted = (
            old is not None
            and old.uptime is not None
            and uptime is not None
            and uptime + 1.0 < old.uptime
        )
        new_series: dict[SeriesKey, SeriesValue] = {} if ok else dict(old_series)
        known = self._labelsets.get(key, {})
        seen: dict[int, tuple[Mapping[str, str], LabelSet]] = {}
        for s in samples:
            lm = s.labels
            hit = seen.get(id(lm))
            if hit is None:
                hit = known.get(id(lm))
                if hit is None or hit[0] is not lm:
                    hit = (lm, _labelset(lm, self._pairs))
                seen[id(lm)] = hit
            labels = hit[1]
            skey = (s.name, labels)
            prev = old_series.get(skey)
            new_series[skey] = _next_value(
                prev, s, labels, now, now_mono, restarted, uptime is not None
            )
        horizon = stale_after if stale_after is not None else 3.0 * interval
        oldest = now_mono
        if not ok:
            new_series = {k: v for k, v in new_series.items() if now_mono - v.mono <= horizon}
            oldest = min((v.mono for v in new_series.values()), default=now_mono)

        fails = 0 if ok else (old.consecutive_failures if old else 0) + 1
        succ = (old.consecutive_successes if old else 0) + 1 if ok else 0
        was_up = old.up if old else None
        is_up = was_up
        if ok and (was_up is None or (not was_up and succ >= self.successes_to_up)):
            is_up = True
        elif not ok and (was_up is not False) and fails >= self.failures_to_down:
            is_up = False
        events: list[Event] = []
        if is_up is False and was_up is not False:
            events.append(Event(now, target.name, collector, EventKind.DOWN, reason, message))
        elif is_up is True and was_up is False:
            events.append(Event(now, target.name, collector, EventKind.UP))

        view = GroupView(
            target=target,
            collector=collector,
            version=(old.version + 1) if old else 1,
            series=new_series,
            up=is_up,
            reason="" if ok else reason,
            last_poll_ts=now,
            last_poll_ok=ok,
            last_duration=duration,
            consecutive_failures=fails,
            consecutive_successes=succ,
            uptime=uptime if uptime is not None else (old.uptime if old and not ok else None),
            interval=interval,
            reach=reach,
            oldest=oldest,
        )
        with self._lock:
            if target.name in self._targets or not self._targets:
                self._groups[key] = view
                self._labelsets[key] = seen
            for ev in events:
                self._events.append(ev)
                while len(self._events) > self.event_log_size:
                    self._events.popleft()
        return events

    def publish(self, target: Target, collector: str, samples: Iterable[Sample]) -> GroupView:
        """Replace the series of a (target, collector) that is not polled (device events).

        No up/down, no poll time: the group only carries its series, refreshed (and so
        kept from pruning) by each call. Counters are taken as given (no rate).
        """
        now, now_mono = self.clock.time(), self.clock.monotonic()
        series = {
            (s.name, ls): SeriesValue(s.name, ls, s.value, s.kind, now, now_mono)
            for s in samples
            for ls in (_labelset(s.labels, self._pairs),)
        }
        key = (target.name, collector)
        with self._lock:
            old = self._groups.get(key)
            view = GroupView(target, collector, (old.version + 1) if old else 1, series)
            if target.name in self._targets or not self._targets:
                self._groups[key] = view
        return view

    def prune(self, stale_after: Mapping[GroupKey, float] | None = None) -> int:
        """Drop series older than their group's horizon (3 x interval by default).

        Returns how many were dropped.
        """
        now_mono = self.clock.monotonic()
        dropped = 0
        with self._lock:
            for key, g in list(self._groups.items()):
                horizon = (stale_after or {}).get(key, 3.0 * g.interval)
                if now_mono - g.oldest <= horizon:
                    continue  # nothing in this group is old enough: no need to look
                keep = {k: v for k, v in g.series.items() if now_mono - v.mono <= horizon}
                oldest = min((v.mono for v in keep.values()), default=now_mono)
                if len(keep) != len(g.series):
                    dropped += len(g.series) - len(keep)
                    self._groups[key] = replace(
                        g, series=keep, version=g.version + 1, oldest=oldest
                    )
                elif oldest != g.oldest:
                    self._groups[key] = replace(g, oldest=oldest)
        return dropped

    # --- readers -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A consistent copy for one reader; O(groups), no I/O, never waits for a poll."""
        with self._lock:
            return Snapshot(self.clock.time(), dict(self._groups), dict(self._targets))

    def group(self, target: str, collector: str) -> GroupView | None:
        """The current view of one (target, collector), or None."""
        with self._lock:
            return self._groups.get((target, collector))

    def events(self) -> list[Event]:
        """The most recent transitions, oldest first."""
        with self._lock:
            return list(self._events)


def counter_delta(
    prev: int | float,
    cur: int | float,
    bits: int,
    *,
    max_delta: float = 0.0,
    uptime_known: bool = True,
) -> int | float | None:
    """Increase of a raw counter between two readings, or None when it was reset.

    A decrease is a wrap only for a counter of known width (32 or 64 bits) whose
    wrapped increase is plausible: for 32-bit any single wrap, for 64-bit less than
    half the range (a 64-bit counter that goes back is a reset, not 2^64 bytes of
    traffic). A `max_delta` > 0 rejects any larger increase (e.g. speed x interval).
    Without a device uptime (`uptime_known=False`) nothing tells a wrap from an agent
    restart, so a decrease is a reset unless a `max_delta` bound admits the wrap.
    """
    if cur >= prev:
        delta: int | float = cur - prev
    elif bits in (32, 64) and 0 <= cur and prev < (1 << bits):
        if not uptime_known and max_delta <= 0:
            return None
        delta = cur + (1 << bits) - prev
        if bits == 64 and delta >= (1 << 63):
            return None
    else:
        return None
    if max_delta > 0 and delta > max_delta:
        return None
    return delta


def _next_value(
    prev: SeriesValue | None,
    s: Sample,
    labels: LabelSet,
    now: float,
    now_mono: float,
    restarted: bool,
    uptime_known: bool = True,
) -> SeriesValue:
    if s.kind is not SampleKind.COUNTER:
        return SeriesValue(s.name, labels, s.value, s.kind, now, now_mono)
    if s.increment:
        total = (prev.value if prev is not None else 0) + s.value
        return SeriesValue(s.name, labels, total, s.kind, now, now_mono)
    rate: float | None = None
    # A reading of another width is another device counter (ifInOctets after
    # ifHCInOctets): a new baseline, never a difference.
    if prev is not None and not restarted and not (s.bits and prev.bits and s.bits != prev.bits):
        dt = now_mono - prev.mono
        if dt > 0:
            max_delta = s.max_rate * dt * 1.1 if s.max_rate > 0 else 0.0
            delta = counter_delta(
                prev.value,
                s.value,
                s.bits or prev.bits,
                max_delta=max_delta,
                uptime_known=uptime_known,
            )
            rate = None if delta is None else delta / dt
    return SeriesValue(s.name, labels, s.value, s.kind, now, now_mono, rate, s.bits)


def _labelset(
    labels: Mapping[str, str], pairs: dict[tuple[str, str], tuple[str, str]] | None = None
) -> LabelSet:
    """The sorted label pairs; with `pairs`, each pair is the one object kept there for it."""
    items = sorted(labels.items())
    if pairs is None:
        return tuple(items)
    if len(pairs) > _MAX_PAIRS:
        pairs.clear()  # label churn (renamed interfaces...): start over, nothing is lost
    return tuple(pairs.setdefault(p, p) for p in items)
