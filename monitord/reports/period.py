"""The report period: a calendar month in the daemon's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Period", "intersect", "total", "union"]

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month [start, end) in `tz`."""

    year: int
    month: int
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str, tz: str | ZoneInfo = "America/Bogota") -> Period:
        """'2026-10' -> Period; ValueError on anything else."""
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"invalid month {text!r}: expected YYYY-MM, e.g. 2026-10")
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        return cls(int(m.group(1)), int(m.group(2)), zone)

    @classmethod
    def containing(cls, ts: float, tz: ZoneInfo) -> Period:
        """The month that contains `ts`."""
        d = datetime.fromtimestamp(ts, tz)
        return cls(d.year, d.month, tz)

    @property
    def label(self) -> str:
        """'2026-10'."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start_dt(self) -> datetime:
        """Local midnight of the first day."""
        return datetime(self.year, self.month, 1, tzinfo=self.tz)

    @property
    def end_dt(self) -> datetime:
        """Local midnight of the first day of the next month."""
        return self.shift(1).start_dt

    @property
    def start(self) -> float:
        """Epoch seconds of the start."""
        return self.start_dt.timestamp()

    @property
    def end(self) -> float:
        """Epoch seconds of the end (exclusive)."""
        return self.end_dt.timestamp()

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def shift(self, months: int) -> Period:
        """The month `months` after (negative: before) this one."""
        index = self.year * 12 + self.month - 1 + months
        return Period(index // 12, index % 12 + 1, self.tz)

    def days(self) -> list[date]:
        """Every date of the month."""
        first = date(self.year, self.month, 1)
        n = (self.shift(1).start_dt.date() - first).days
        return [first + timedelta(days=i) for i in range(n)]

    @property
    def first_day(self) -> int:
        """First day as YYYYMMDD."""
        return self.year * 10000 + self.month * 100 + 1

    @property
    def last_day(self) -> int:
        """Last day as YYYYMMDD."""
        return self.year * 10000 + self.month * 100 + len(self.days())


def union(intervals: list[Interval]) -> list[Interval]:
    """Sorted, merged intervals."""
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    """Intersection of two merged interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def total(intervals: list[Interval]) -> float:
    """Sum of lengths."""
    return sum(b - a for a, b in intervals)


def subtract(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    """xs minus ys (both merged)."""
    out: list[Interval] = []
    for a, b in xs:
        cur = a
        for c, d in ys:
            if d <= cur or c >= b:
                continue
            if c > cur:
                out.append((cur, c))
            cur = max(cur, d)
            if cur >= b:
                break
        if cur < b:
            out.append((cur, b))
    return out
