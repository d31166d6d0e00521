"""Availability arithmetic (REPORTS.md): outages, coverage, maintenance, parents.

- An outage of a (target, collector) runs from its `down` event (after the hysteresis)
  to the next `up` event (the first good poll); its precision is the poll interval.
  When monitoring stopped while it was open (the daemon was stopped or killed), it is
  cut where monitoring stopped and marked `truncated`: what happened while nothing
  watched is a gap, listed as such and never filled.
- Monitored time of a target = the month ∩ the times the recorder ran ∩ the hours in
  which the target was polled ∩ [its first poll, its last poll + one interval]: nothing
  before a target's first poll is counted, nor listed as a gap. Availability =
  (monitored - maintenance - downtime outside maintenance) / (monitored - maintenance).
- A child whose outage starts while its parent is down is *affected by* the parent:
  counted fully in its own availability (what users perceived), not as an incident
  (root causes are counted once).
- A device's availability uses its primary collector: the one of lowest
  `availability_rank` its class declares (ICMP when configured; `ranks`, handed in from
  the collectors' traits), else the first by name; other collectors are services.
- Expected polls of a (target, collector) = the polls that fit in its span, the first
  counted: from a first poll at T inside the month, ceil((end - T) / interval) (the month's
  end is open), or round((last - T) / interval) + 1 when it stopped in the month.
- Monitoring began at the earliest first poll of the targets in scope (never before the
  month's start): the gaps and the coverage of a report are counted from then.
- Two coverages: `coverage` against the span monitored (polls / expected polls), and
  `coverage_month` against the whole calendar month (polls x interval / the month's
  seconds): a target installed on the 10th and polled without a gap reads 100 % and,
  for October, about 69 %. The report's coverage sentence likewise gives the share of
  the time since monitoring began and the share of the month (`coverage_month_of`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from monitord.alerts.maintenance import MaintenanceWindow
from monitord.reports.period import Interval, Period, intersect, subtract, total, union
from monitord.reports.store import Source, TargetInfo
from monitord.state import EventKind

__all__ = ["Availability", "AvailabilityModel", "Outage"]


@dataclass(frozen=True, slots=True)
class Outage:
    """One outage, clipped to the period."""

    target: str
    collector: str
    start: float
    end: float
    reason: str
    ongoing: bool = False  # still down at the end of the period
    truncated: bool = False  # monitoring stopped while it was down
    parent: str | None = None  # affected by this parent's outage
    maintenance: float = 0.0  # seconds of it inside planned maintenance

    @property
    def duration(self) -> float:
        """Seconds, maintenance included."""
        return self.end - self.start

    @property
    def counted(self) -> float:
        """Seconds outside maintenance."""
        return max(0.0, self.duration - self.maintenance)

    @property
    def in_maintenance(self) -> bool:
        """Entirely inside planned maintenance."""
        return self.counted <= 0.0

    @property
    def incident(self) -> bool:
        """Counts as an incident: own failure, not entirely in maintenance."""
        return self.parent is None and not self.in_maintenance


@dataclass(slots=True)
class Availability:
    """One (target, collector) over the period."""

    target: str
    collector: str
    monitored: float = 0.0  # seconds, maintenance excluded
    down: float = 0.0  # seconds, maintenance excluded
    maintenance: float = 0.0  # seconds of maintenance within monitored time
    polls: int = 0
    ok: int = 0
    expected: float = 0.0  # polls expected from the first poll (or the month's start) on
    expected_month: float = 0.0  # polls the whole calendar month holds at `interval`
    since: float | None = None  # start of the span `expected` covers
    interval: float = 0.0
    restarts: int = 0
    uptime: float | None = None
    outages: list[Outage] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """Availability 0-1, None without monitored time."""
        if self.monitored <= 0:
            return None
        return (self.monitored - self.down) / self.monitored

    @property
    def coverage(self) -> float | None:
        """Polls obtained / polls expected."""
        return min(1.0, self.polls / self.expected) if self.expected > 0 else None

    @property
    def coverage_month(self) -> float | None:
        """Polls obtained / polls the whole calendar month holds (not only the span
        monitored): a target first polled on the 10th can never reach 100 %."""
        return min(1.0, self.polls / self.expected_month) if self.expected_month > 0 else None

    @property
    def incidents(self) -> int:
        """Own outages not entirely in maintenance."""
        return sum(1 for o in self.outages if o.incident)


class AvailabilityModel:
    """Everything availability-related for one period, computed once."""

    def __init__(
        self,
        source: Source,
        period: Period,
        targets: Mapping[str, TargetInfo],
        maintenance: Sequence[MaintenanceWindow] = (),
        ranks: Mapping[str, int] | None = None,
    ) -> None:
        self.period = period
        self.targets = targets
        p0, p1 = period.start, period.end
        hours: dict[tuple[str, str], list[Interval]] = {}
        self.pairs: dict[tuple[str, str], Availability] = {}
        for st in source.poll_summary(p0, p1):
            self.pairs[(st.target, st.collector)] = Availability(
                st.target,
                st.collector,
                polls=st.polls,
                ok=st.ok,
                interval=st.interval,
                restarts=st.restarts,
                uptime=st.uptime,
            )
            hours[(st.target, st.collector)] = st.hours
        sessions = source.sessions(p0, p1)
        self.has_sessions = sessions is not None
        if sessions is None:
            any_hours = [h for hs in hours.values() for h in hs]
            sessions = union(any_hours)
        self.coverage = intersect(union(sessions), [(p0, p1)])
        self.seen = source.seen()
        self.gaps = self.gaps_of()
        self.maint_windows = [
            (w, a, b)
            for w in maintenance
            if w.device_maintenance
            for a, b in w.occurrences(p0, p1, period.tz.key)
        ]
        events = source.events(p0, p1)
        earliest = min((e.ts for e in events), default=p0)
        runs = source.sessions(min(earliest, p0), p1) if earliest < p0 else sessions
        self._runs = union(runs if runs is not None else sessions)
        by_pair: dict[tuple[str, str], list[tuple[float, EventKind, str]]] = defaultdict(list)
        for e in events:
            by_pair[(e.target, e.collector)].append((e.ts, e.kind, e.reason))
        for key in set(by_pair) | set(self.pairs):
            av = self.pairs.setdefault(key, Availability(*key))
            span = self._span(key[0], av.interval)
            # not before its first poll nor after its last (+ one interval)
            own = intersect(intersect(union(hours.get(key, [])), self.coverage), span)
            maint = self._maintenance(key[0], own)
            av.maintenance = total(maint)
            av.monitored = total(own) - av.maintenance
            av.since = span[0][0] if span else None
            av.expected = self._expected(key[0], av.interval)
            av.expected_month = period.seconds / av.interval if av.interval > 0 else 0.0
            av.outages = self._outages(key, by_pair.get(key, []), maint)
            av.down = sum(
                total(intersect([(o.start, o.end)], subtract(own, maint))) for o in av.outages
            )
        self.primary: dict[str, str] = {}
        rank = ranks or {}
        collectors: dict[str, set[str]] = defaultdict(set)
        for t, c in self.pairs:
            collectors[t].add(c)
        for t, cs in collectors.items():
            ranked = [c for c in cs if c in rank]
            self.primary[t] = min(ranked, key=lambda c: (rank[c], c)) if ranked else min(cs)
        self._mark_parents()

    # --- queries -----------------------------------------------------------------

    def device(self, target: str) -> Availability | None:
        """The target's availability by its primary collector."""
        col = self.primary.get(target)
        return None if col is None else self.pairs[(target, col)]

    def services(self, target: str) -> list[Availability]:
        """The target's other collectors."""
        prim = self.primary.get(target)
        return sorted(
            (a for (t, c), a in self.pairs.items() if t == target and c != prim),
            key=lambda a: a.collector,
        )

    def by_collector(self, targets: set[str] | None = None) -> dict[str, tuple[int, float, float]]:
        """Polls obtained, expected (over each target's span) and the whole calendar
        month would hold, per collector kind (of these targets, or all)."""
        out: dict[str, tuple[int, float, float]] = {}
        for (t, c), a in sorted(self.pairs.items()):
            if targets is not None and t not in targets:
                continue
            got, exp, month = out.get(c, (0, 0.0, 0.0))
            out[c] = (got + a.polls, exp + a.expected, month + a.expected_month)
        return out

    def began(self, targets: Collection[str] | None = None) -> float:
        """When monitoring of these targets (or of any) began: the earliest first poll,
        not before the period's start (the start when the source cannot tell)."""
        p0 = self.period.start
        firsts = [f for t, (f, _) in self.seen.items() if targets is None or t in targets]
        return max(p0, min(firsts)) if firsts else p0

    def gaps_of(self, targets: Collection[str] | None = None) -> list[Interval]:
        """Intervals without monitoring since monitoring of these targets began."""
        return subtract([(self.began(targets), self.period.end)], self.coverage)

    def coverage_of(self, targets: Collection[str] | None = None) -> float | None:
        """Share of the time since monitoring of these targets began in which it ran."""
        start = self.began(targets)
        span = self.period.end - start
        if span <= 0:
            return None
        return total(intersect(self.coverage, [(start, self.period.end)])) / span

    def coverage_month_of(self, targets: Collection[str] | None = None) -> float | None:
        """Share of the whole calendar month in which monitoring of these targets ran
        (from when it began: the days before installation count as not monitored)."""
        seconds = self.period.seconds
        if seconds <= 0:
            return None
        start = self.began(targets)
        return total(intersect(self.coverage, [(start, self.period.end)])) / seconds

    def maintenance_windows(self) -> list[tuple[MaintenanceWindow, float, float]]:
        """Maintenance windows overlapping the period, clipped."""
        p0, p1 = self.period.start, self.period.end
        return [(w, max(a, p0), min(b, p1)) for w, a, b in self.maint_windows]

    # --- internals ---------------------------------------------------------------

    def _span(self, target: str, interval: float) -> list[Interval]:
        """From the target's first poll to one interval after its last, within the month."""
        first, last = self.seen.get(target, (self.period.start, self.period.end))
        return intersect([(self.period.start, self.period.end)], [(first, last + interval)])

    def _expected(self, target: str, interval: float) -> float:
        """Polls that fit in the target's span at `interval`, its first poll counted."""
        if interval <= 0:
            return 0.0
        p0, p1 = self.period.start, self.period.end
        first, last = self.seen.get(target, (p0, p1))
        if first >= p1 or last + interval <= p0:
            return 0.0
        if last + interval < p1:  # stopped within the month: up to its last poll
            if first >= p0:
                return float(round((last - first) / interval) + 1)
            return float(math.floor((last - p0) / interval + 1e-6) + 1) if last >= p0 else 0.0
        if first >= p0:  # polls at first, first + interval, ... before the month's end
            return float(math.ceil((p1 - first) / interval - 1e-6))
        return (p1 - p0) / interval

    def _maintenance(self, target: str, own: list[Interval]) -> list[Interval]:
        info = self.targets.get(target)
        site, tags = (info.site, info.tags) if info is not None else ("", ())
        windows = union([(a, b) for w, a, b in self.maint_windows if w.applies(target, site, tags)])
        return intersect(own, windows)

    def _outages(
        self,
        key: tuple[str, str],
        events: list[tuple[float, EventKind, str]],
        maint: list[Interval],
    ) -> list[Outage]:
        p0, p1 = self.period.start, self.period.end
        raw: list[tuple[float, float, str, bool, bool]] = []
        open_: tuple[float, str] | None = None
        for ts, kind, reason in sorted(events, key=lambda e: e[0]):
            if kind is EventKind.DOWN:
                if open_ is not None:
                    stop = self._stop_after(open_[0])
                    if stop is not None and stop <= ts:
                        raw.append((open_[0], stop, open_[1], False, True))
                        open_ = (ts, reason)
                    continue  # a repeated down while down: keep the first
                open_ = (ts, reason)
            elif open_ is not None:
                # An up event always closes the outage of the same process: after a
                # restart, the state emits up only after a down of its own.
                raw.append((open_[0], ts, open_[1], False, False))
                open_ = None
        if open_ is not None:
            stop = self._stop_after(open_[0])
            if stop is not None and stop < p1 - 120.0:
                raw.append((open_[0], stop, open_[1], False, True))
            else:
                raw.append((open_[0], p1, open_[1], True, False))
        out = []
        for a, b, reason, ongoing, truncated in raw:
            a, b = max(a, p0), min(b, p1)
            if b <= a:
                continue
            m = total(intersect([(a, b)], maint))
            out.append(Outage(key[0], key[1], a, b, reason, ongoing, truncated, None, m))
        return out

    def _stop_after(self, ts: float) -> float | None:
        """End of the monitored stretch containing `ts` (None: no session information)."""
        if not self.has_sessions:
            return None
        for a, b in self._runs:
            if a - 1.0 <= ts <= b:
                return b
        return ts

    def _mark_parents(self) -> None:
        for (target, col), av in self.pairs.items():
            info = self.targets.get(target)
            if info is None or not info.parent or self.primary.get(target) != col:
                continue
            parent = self.device(info.parent)
            if parent is None:
                continue
            tol = 2.0 * (parent.interval or 60.0)
            marked = []
            for o in av.outages:
                hit = any(po.start - tol <= o.start <= po.end for po in parent.outages)
                marked.append(_with_parent(o, info.parent) if hit else o)
            av.outages = marked


def _with_parent(o: Outage, parent: str) -> Outage:
    return Outage(
        o.target,
        o.collector,
        o.start,
        o.end,
        o.reason,
        o.ongoing,
        o.truncated,
        parent,
        o.maintenance,
    )
