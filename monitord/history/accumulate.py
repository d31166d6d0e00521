"""Accumulators of the rollups: histograms and per-window sums, mergeable in any order."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar
from zoneinfo import ZoneInfo

from monitord.types import Target

__all__ = [
    "BUSY_RATIO",
    "DEFAULT_WAN_ALIAS",
    "DIST_KINDS",
    "SLOT",
    "WAN_TAGS",
    "Batch",
    "DistAcc",
    "GaugeAcc",
    "HistKind",
    "IfaceAcc",
    "PollAcc",
    "RateAcc",
    "SeriesId",
    "bucket_of",
    "bucket_value",
    "day_key",
    "iface_object",
    "iface_parts",
    "quantile",
]

WAN_TAGS: Final = frozenset({"wan", "uplink", "internet"})
DEFAULT_WAN_ALIAS: Final = r"(?i)\b(wan|internet|uplink|isp|mpls)\b"
BUSY_RATIO: Final = 0.8
SLOT: Final = 300


class HistKind(StrEnum):
    """Bucketing of a distribution."""

    LOG = "log"
    LINEAR = "linear"


_LOG_BASE = 1e-5
_LOG_STEP = math.log(1.02)
_LIN_WIDTH = 0.01

DIST_KINDS: Final[Mapping[str, HistKind]] = {
    "rtt": HistKind.LOG,
    "loss": HistKind.LINEAR,
    "cpu": HistKind.LINEAR,
    "mem": HistKind.LINEAR,
    "failed_logins": HistKind.LOG,  # increases per poll: the month's total is the sum
    # 1 per poll that returned partial data, 0 per complete one (monitord_*_poll_partial):
    # n = polls that said, sum = partial polls; the report's completeness reads it
    "partial": HistKind.LINEAR,
}
# (target, collector, kind, object): one row of the `series` table.
SeriesId = tuple[str, str, str, str]


def iface_object(ifname: str, ifindex: str | None) -> str:
    """The stored identity of an interface: `<ifIndex>:<ifName>`; the name alone only when
    the collector gives no index. Two interfaces sharing a name ("WAN Miniport (IP)") stay
    apart, and a renamed interface is a new series, not a merged one."""
    return f"{ifindex}:{ifname}" if ifindex else ifname


def iface_parts(obj: str) -> tuple[str, str]:
    """(ifIndex, ifName) of a stored interface identity ('' index for name-only ones)."""
    head, sep, tail = obj.partition(":")
    return (head, tail) if sep and head.isdigit() else ("", obj)


def bucket_of(value: float, kind: HistKind) -> int:
    """Histogram bucket holding `value`."""
    if kind is HistKind.LOG:
        if value <= _LOG_BASE:
            return 0
        return int(math.log(value / _LOG_BASE) / _LOG_STEP) + 1
    if value <= 0.0:
        return -1  # exact zero (no loss, idle CPU) is common: its own bucket
    return int(value / _LIN_WIDTH)


def bucket_value(bucket: int, kind: HistKind) -> float:
    """The value a bucket stands for: its (geometric, for LOG) midpoint."""
    if kind is HistKind.LOG:
        if bucket <= 0:
            return _LOG_BASE
        return _LOG_BASE * math.exp((bucket - 0.5) * _LOG_STEP)
    if bucket < 0:
        return 0.0
    return (bucket + 0.5) * _LIN_WIDTH


def quantile(
    hist: Mapping[int, int],
    q: float,
    kind: HistKind,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    """Nearest-rank quantile of a histogram (None when empty), clamped to [lo, hi]."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    value = 0.0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            value = bucket_value(b, kind)
            break
    if lo is not None:
        value = max(value, lo)
    if hi is not None:
        value = min(value, hi)
    return value


def day_key(ts: float, tz: ZoneInfo) -> int:
    """The local calendar day of `ts` as YYYYMMDD."""
    d = datetime.fromtimestamp(ts, tz)
    return d.year * 10000 + d.month * 100 + d.day


@dataclass(slots=True)
class PollAcc:
    """Polls of one (target, collector) in one hour."""

    polls: int = 0
    ok: int = 0
    interval: float = 0.0
    restarts: int = 0
    uptime: float | None = None
    first_ts: float | None = None  # the actual times of the hour's first and last polls
    last_ts: float | None = None

    def merge(self, o: PollAcc) -> None:
        """Add `o`, which is later."""
        self.polls += o.polls
        self.ok += o.ok
        self.interval = o.interval or self.interval
        self.restarts += o.restarts
        self.uptime = o.uptime if o.uptime is not None else self.uptime
        if o.first_ts is not None:
            self.first_ts = o.first_ts if self.first_ts is None else min(self.first_ts, o.first_ts)
        if o.last_ts is not None:
            self.last_ts = o.last_ts if self.last_ts is None else max(self.last_ts, o.last_ts)


@dataclass(slots=True)
class DistAcc:
    """A distribution over one day: count, sum, extremes and a sparse histogram."""

    n: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    hist: dict[int, int] = field(default_factory=dict)

    def add(self, value: float, kind: HistKind) -> None:
        """Count one value."""
        self.n += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        b = bucket_of(value, kind)
        self.hist[b] = self.hist.get(b, 0) + 1

    def merge(self, o: DistAcc) -> None:
        """Add another distribution."""
        self.n += o.n
        self.sum += o.sum
        self.min = min(self.min, o.min)
        self.max = max(self.max, o.max)
        for b, c in o.hist.items():
            self.hist[b] = self.hist.get(b, 0) + c


@dataclass(slots=True)
class GaugeAcc:
    """A gauge over one day."""

    first: float
    first_ts: float
    last: float
    last_ts: float
    min: float
    max: float

    def add(self, value: float, ts: float) -> None:
        """Record one reading."""
        if ts < self.first_ts:
            self.first, self.first_ts = value, ts
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merge(self, o: GaugeAcc) -> None:
        """Fold another day-part in."""
        self.add(o.first, o.first_ts)
        self.add(o.last, o.last_ts)
        self.min = min(self.min, o.min)
        self.max = max(self.max, o.max)


@dataclass(slots=True)
class IfaceAcc:
    """One interface over one day."""

    secs: float = 0.0
    in_bytes: float = 0.0
    out_bytes: float = 0.0
    in_peak: float = 0.0
    out_peak: float = 0.0
    in_errors: float = 0.0
    out_errors: float = 0.0
    in_discards: float = 0.0
    out_discards: float = 0.0
    oper_secs: float = 0.0
    up_secs: float = 0.0
    oper_changes: int = 0
    busy_secs: float = 0.0
    speed: float = 0.0

    def merge(self, o: IfaceAcc) -> None:
        """Add a later part of the day."""
        for name in (
            "secs",
            "in_bytes",
            "out_bytes",
            "in_errors",
            "out_errors",
            "in_discards",
            "out_discards",
            "oper_secs",
            "up_secs",
            "busy_secs",
        ):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        self.oper_changes += o.oper_changes
        self.in_peak = max(self.in_peak, o.in_peak)
        self.out_peak = max(self.out_peak, o.out_peak)
        self.speed = o.speed or self.speed


@dataclass(slots=True)
class RateAcc:
    """Traffic of one WAN interface in one 5-minute slot."""

    secs: float = 0.0
    in_bytes: float = 0.0
    out_bytes: float = 0.0

    def merge(self, o: RateAcc) -> None:
        """Add a later part of the slot."""
        self.secs += o.secs
        self.in_bytes += o.in_bytes
        self.out_bytes += o.out_bytes


@dataclass(slots=True)
class Batch:
    """Everything one or more windows accumulated, ready for `write_batch`."""

    polls: dict[tuple[SeriesId, int], PollAcc] = field(default_factory=dict)
    dists: dict[tuple[SeriesId, int], DistAcc] = field(default_factory=dict)
    gauges: dict[tuple[SeriesId, int], GaugeAcc] = field(default_factory=dict)
    ifaces: dict[tuple[SeriesId, int], IfaceAcc] = field(default_factory=dict)
    rates: dict[tuple[SeriesId, int], RateAcc] = field(default_factory=dict)
    meta: dict[SeriesId, dict[str, str]] = field(default_factory=dict)
    targets: dict[str, tuple[Target, float]] = field(default_factory=dict)

    def merge(self, o: Batch) -> None:
        """Fold a later batch into this one."""
        _merge_into(self.polls, o.polls)
        _merge_into(self.dists, o.dists)
        _merge_into(self.gauges, o.gauges)
        _merge_into(self.ifaces, o.ifaces)
        _merge_into(self.rates, o.rates)
        self.meta.update(o.meta)
        self.targets.update(o.targets)

    def rows(self) -> int:
        """Number of rows this batch writes."""
        return (
            len(self.polls)
            + len(self.dists)
            + len(self.gauges)
            + len(self.ifaces)
            + len(self.rates)
        )


class _Mergeable(Protocol):
    def merge(self, o: Any, /) -> None: ...


_M = TypeVar("_M", bound=_Mergeable)


def _merge_into(mine: dict[Any, _M], theirs: Mapping[Any, _M]) -> None:
    for k, v in theirs.items():
        cur = mine.get(k)
        if cur is None:
            mine[k] = v
        else:
            cur.merge(v)
