"""Maintenance windows (config) and silences (run time): the one calendar of planned work.

This is the one maintenance-window model: `alerts.maintenance` (mutes alerts, and the
reports exclude it from availability) and `reports.maintenance` (reports only, for a
stretch declared after the fact) both hold `MaintenanceWindow`s. The reports read the
calendar through `monitord.reports.calendar`.

A muted alert is still evaluated and written to the event log with `silenced=1` (the
monthly report counts it); it is only not notified. A window or silence names what it
mutes by target names, sites, tags and/or alert names (at least one); an alert is muted
when its target matches any listed target, site or tag (or none of these is listed) and
its name is listed (or no name is listed).

Windows, in the daemon's time zone unless `timezone` is set (or the time has an offset):
- one-off:   `{targets: [sw-core-1], start: "2026-12-05T22:00", end: "2026-12-06T02:00"}`
- cron-like: `{sites: [centro], schedule: "0 22 * * sat", duration: 4h}` (minute hour
  day-of-month month day-of-week; `*`, lists, ranges, `*/n` steps, names sun..sat, jan..dec;
  when both day fields are restricted either one matching is enough, as in cron)
- weekly:    `{tags: [backup], weekly: {days: [sun], start: "01:00", end: "05:00"}}`
  (an end at or before the start ends the next day)
`all_targets: true` covers every target (instead of targets, sites or tags); `comment`
(also accepted as `description`, the `reports.maintenance` word) is shown in the reports.
In `reports.maintenance` a window that lists no target, site or tag covers every target,
as it always did there.

Silences are added at run time (`monitord silence add`), kept in `silences.json` in the
data directory so a restart keeps them, and expire by themselves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import time as wall_clock
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator

from monitord.configtypes import Duration, StrictModel
from monitord.types import Target

__all__ = [
    "Cron",
    "MaintenanceWindow",
    "Silence",
    "SilenceStore",
    "WeeklySchedule",
    "check_times",
    "in_scope",
    "report_window",
]

log = logging.getLogger(__name__)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_DOW = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_MONTH = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def in_scope(
    target: Target,
    alertname: str,
    targets: Iterable[str],
    sites: Iterable[str],
    tags: Iterable[str],
    alertnames: Iterable[str],
) -> bool:
    """The matching rule shared by windows and silences (see the module docstring)."""
    targets, sites, tags, alertnames = set(targets), set(sites), set(tags), set(alertnames)
    if alertnames and alertname not in alertnames:
        return False
    if not (targets or sites or tags):
        return bool(alertnames)
    return (
        target.name in targets
        or (bool(target.site) and target.site in sites)
        or bool(tags & set(target.tags))
    )


@dataclass(frozen=True, slots=True)
class Cron:
    """A five-field cron expression: the sets of minutes, hours, days, months, weekdays."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expr: str) -> Cron:
        """Parse `"0 22 * * sat"`; raise ValueError naming the bad field."""
        parts = expr.split()
        if len(parts) != 5:
            raise ValueError(f"cron {expr!r}: expected 5 fields (minute hour day month weekday)")
        names = ("minute", "hour", "day of month", "month", "day of week")
        bounds: tuple[tuple[int, int, dict[str, int]], ...] = (
            (0, 59, {}),
            (0, 23, {}),
            (1, 31, {}),
            (1, 12, _CRON_MONTH),
            (0, 7, _CRON_DOW),
        )
        sets = []
        for part, name, (lo, hi, alias) in zip(parts, names, bounds, strict=True):
            try:
                sets.append(_cron_field(part.lower(), lo, hi, alias))
            except ValueError as exc:
                raise ValueError(f"cron {expr!r}: {name} {part!r}: {exc}") from None
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")

    def day_matches(self, d: date) -> bool:
        """Whether the day fields match `d` (cron's OR when both are restricted)."""
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def last_at_or_before(self, now: datetime, lookback_days: int) -> datetime | None:
        """The latest matching minute not after `now` within `lookback_days`, or None."""
        for back in range(lookback_days + 1):
            d = now.date() - timedelta(days=back)
            if not self.day_matches(d):
                continue
            for h in sorted(self.hours, reverse=True):
                for m in sorted(self.minutes, reverse=True):
                    t = datetime.combine(d, time(h, m), now.tzinfo)
                    if t <= now:
                        return t
        return None


class WeeklySchedule(StrictModel):
    """Every listed weekday from `start` to `end` (HH:MM, local time)."""

    days: list[Weekday]
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"invalid time {v!r}: expected HH:MM")
        return v


class MaintenanceWindow(StrictModel):
    """One maintenance window. Define windows in `alerts.maintenance`: they mute alerts and
    the reports exclude them from availability; `reports.maintenance` takes the same model
    for the reports only (there, naming no target, site or tag covers every target). Give
    exactly one of `start`/`end`, `schedule` + `duration`, `weekly`; `comment` is also
    accepted as `description`; `alertnames` limits it to those alerts (then it is not
    device maintenance and the reports ignore it)."""

    name: str = ""
    targets: list[str] = []
    sites: list[str] = []
    tags: list[str] = []
    alertnames: list[str] = []
    all_targets: bool = False  # every target (no targets, sites or tags needed)
    start: datetime | None = None  # naive: in `timezone`, else the daemon's time zone
    end: datetime | None = None
    schedule: str | None = None
    duration: Duration | None = None
    weekly: WeeklySchedule | None = None
    timezone: str | None = None
    comment: str = Field("", validation_alias=AliasChoices("comment", "description"))
    author: str = ""  # who declared it (the reports list it; a silence's author)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _datetime(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return datetime.fromisoformat(v.strip())
            except ValueError:
                raise ValueError(f"invalid date-time {v!r}: expected 2026-12-05T22:00") from None
        return v

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if not (self.targets or self.sites or self.tags or self.alertnames or self.all_targets):
            raise ValueError(
                "a maintenance window needs targets, sites, tags or alertnames "
                "(or all_targets: true)"
            )
        forms = [
            self.start is not None or self.end is not None,
            self.schedule is not None,
            self.weekly is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: start/end, schedule/duration, weekly")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if forms[0]:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            tz = ZoneInfo("UTC")
            if _aware(self.start, tz) >= _aware(self.end, tz):
                raise ValueError("maintenance end must be after start")
        if self.schedule is not None:
            Cron.parse(self.schedule)
            if self.duration is None:
                raise ValueError("a schedule needs a duration (e.g. 4h)")
        elif self.duration is not None:
            raise ValueError("duration goes with schedule")
        return self

    @property
    def description(self) -> str:
        """The text the reports show: the comment, else the name."""
        return self.comment or self.name

    @property
    def device_maintenance(self) -> bool:
        """True when the window covers whole devices (no alert names): only those are
        excluded from availability; one limited to some alerts only mutes them."""
        return not self.alertnames

    def applies(self, target: str, site: str, tags: tuple[str, ...] = ()) -> bool:
        """True when the window covers this target (alert names aside)."""
        if self.all_targets:
            return True
        return (
            target in self.targets
            or (bool(site) and site in self.sites)
            or bool(set(tags) & set(self.tags))
        )

    def bounds(self, tz: ZoneInfo) -> tuple[float, float]:
        """A one-off window's start and end as Unix times (naive times in its `timezone`,
        else `tz`); ValueError for a recurring window (use `occurrences`)."""
        if self.start is None or self.end is None:
            raise ValueError("a recurring window has no bounds; use occurrences()")
        zone = ZoneInfo(self.timezone) if self.timezone else tz
        return _aware(self.start, zone).timestamp(), _aware(self.end, zone).timestamp()

    def occurrences(self, start: float, end: float, default_tz: str) -> list[tuple[float, float]]:
        """Every stretch of this window that overlaps [start, end), as Unix times (the
        calendar the monthly reports exclude from availability)."""
        tz = ZoneInfo(self.timezone or default_tz)
        out: list[tuple[float, float]] = []
        if self.start is not None and self.end is not None:
            out.append(self.bounds(tz))
        else:
            span = float(self.duration or 0.0) if self.schedule is not None else 2 * 86400.0
            d = datetime.fromtimestamp(start - span, tz).date()
            last = datetime.fromtimestamp(end, tz).date()
            cron = Cron.parse(self.schedule) if self.schedule is not None else None
            while d <= last:
                if cron is not None and cron.day_matches(d):
                    for h in sorted(cron.hours):
                        for m in sorted(cron.minutes):
                            t = datetime.combine(d, time(h, m), tz).timestamp()
                            out.append((t, t + float(self.duration or 0.0)))
                elif self.weekly is not None and _DAYS[d.weekday()] in self.weekly.days:
                    sh, sm = (int(x) for x in self.weekly.start.split(":"))
                    eh, em = (int(x) for x in self.weekly.end.split(":"))
                    a = datetime.combine(d, time(sh, sm), tz)
                    b = datetime.combine(d, time(eh, em), tz)
                    if b <= a:
                        b += timedelta(days=1)
                    out.append((a.timestamp(), b.timestamp()))
                d += timedelta(days=1)
        return [(a, b) for a, b in out if a < end and b > start]

    def active(self, target: Target, alertname: str, now: float, default_tz: str) -> bool:
        """True when this window mutes `alertname` on `target` at Unix time `now`."""
        if self.alertnames and alertname not in self.alertnames:
            return False
        if not self.all_targets and not in_scope(
            target, alertname, self.targets, self.sites, self.tags, self.alertnames
        ):
            return False
        tz = ZoneInfo(self.timezone or default_tz)
        local_now = datetime.fromtimestamp(now, tz)
        if self.start is not None and self.end is not None:
            a, b = self.bounds(tz)
            return a <= now < b
        if self.schedule is not None and self.duration is not None:
            lookback = int(self.duration // 86400) + 1
            t = Cron.parse(self.schedule).last_at_or_before(local_now, lookback)
            return t is not None and now < t.timestamp() + self.duration
        if self.weekly is not None:
            return _weekly_active(self.weekly, local_now)
        return False


def report_window(item: object) -> object:
    """A `reports.maintenance` item as a window: there, a window that lists no target,
    site, tag or alert name covers every target (`all_targets`), as it always did."""
    if isinstance(item, dict) and not any(
        item.get(k) for k in ("targets", "sites", "tags", "alertnames", "all_targets")
    ):
        return {**item, "all_targets": True}
    return item


@dataclass(frozen=True, slots=True)
class Silence:
    """A run-time silence; `ends_at`/`starts_at` are Unix times."""

    id: str
    starts_at: float
    ends_at: float
    targets: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    alertnames: tuple[str, ...] = ()
    comment: str = ""
    created_by: str = ""

    def active(self, target: Target, alertname: str, now: float) -> bool:
        """True when this silence mutes `alertname` on `target` at `now`."""
        return self.starts_at <= now < self.ends_at and in_scope(
            target, alertname, self.targets, self.sites, self.tags, self.alertnames
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


class SilenceStore:
    """The silences of one daemon, persisted to `path` (if given) on every change."""

    MAX_SILENCES = 1000
    MAX_LENGTH = 366 * 86400.0  # a silence ends at most a year after it starts

    def __init__(
        self,
        path: Path | None = None,
        on_change: Callable[[Silence, float | None], None] | None = None,
    ) -> None:
        self.path = path
        # told of each silence added (`None`) and removed (the time of removal): the
        # daemon keeps them in the history, where the reports find them after they end
        self.on_change = on_change
        self._silences: dict[str, Silence] = {}
        if path is not None and path.exists():
            self._load(path)

    def add(
        self,
        *,
        starts_at: float,
        ends_at: float,
        targets: Iterable[str] = (),
        sites: Iterable[str] = (),
        tags: Iterable[str] = (),
        alertnames: Iterable[str] = (),
        comment: str = "",
        created_by: str = "",
    ) -> Silence:
        """Add a silence; raise ValueError (storing nothing) if it matches nothing, ends
        before it starts, or its times are not finite or it lasts more than a year."""
        check_times(float(starts_at), float(ends_at), self.MAX_LENGTH)
        s = Silence(
            secrets.token_hex(4),
            float(starts_at),
            float(ends_at),
            tuple(targets),
            tuple(sites),
            tuple(tags),
            tuple(alertnames),
            comment[:500],
            created_by[:100],
        )
        if not (s.targets or s.sites or s.tags or s.alertnames):
            raise ValueError("a silence needs --target, --site, --tag or --alertname")
        if s.ends_at <= s.starts_at:
            raise ValueError("a silence must end after it starts")
        self.expire(starts_at)
        if len(self._silences) >= self.MAX_SILENCES:
            raise ValueError(f"too many silences (max {self.MAX_SILENCES}); remove some first")
        self._silences[s.id] = s
        self._save()
        if self.on_change is not None:
            self.on_change(s, None)
        return s

    def remove(self, silence_id: str, now: float | None = None) -> bool:
        """Remove a silence (at `now`, default the wall clock); False when there is none
        with that id."""
        s = self._silences.pop(silence_id, None)
        if s is None:
            return False
        self._save()
        if self.on_change is not None:
            self.on_change(s, wall_clock() if now is None else now)
        return True

    def list(self, now: float) -> list[Silence]:
        """Silences not yet expired, soonest end first."""
        self.expire(now)
        return sorted(self._silences.values(), key=lambda s: (s.ends_at, s.id))

    def expire(self, now: float) -> None:
        """Forget silences that ended."""
        gone = [k for k, s in self._silences.items() if s.ends_at <= now]
        for k in gone:
            del self._silences[k]
        if gone:
            self._save()

    def muting(self, target: Target, alertname: str, now: float) -> Silence | None:
        """The first silence muting `alertname` on `target` now, or None."""
        for s in self._silences.values():
            if s.active(target, alertname, now):
                return s
        return None

    def all(self) -> tuple[Silence, ...]:
        """Every silence held, expired ones included until `expire` drops them."""
        return tuple(sorted(self._silences.values(), key=lambda s: s.starts_at))

    def _load(self, path: Path) -> None:
        """Read the stored silences; a bad entry (or a bad file) is skipped with a
        warning, never fatal: one broken silence must not stop alerting or listing."""
        try:
            data = json.loads(path.read_text("utf-8"))
            items = data.get("silences", [])
            if not isinstance(items, list):
                raise TypeError("silences is not a list")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("silences file ignored path=%s error=%s", path, type(exc).__name__)
            return
        for n, item in enumerate(items):
            try:
                lists = {k: tuple(str(x) for x in item.get(k, ())) for k in _LISTS}
                s = Silence(
                    id=str(item["id"]),
                    starts_at=float(item["starts_at"]),
                    ends_at=float(item["ends_at"]),
                    targets=lists["targets"],
                    sites=lists["sites"],
                    tags=lists["tags"],
                    alertnames=lists["alertnames"],
                    comment=str(item.get("comment", "")),
                    created_by=str(item.get("created_by", "")),
                )
                check_times(s.starts_at, s.ends_at, self.MAX_LENGTH)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("stored silence %d ignored path=%s: %s", n, path, exc)
                continue
            self._silences[s.id] = s

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        body = json.dumps(
            {"silences": [s.to_dict() for s in self._silences.values()]}, indent=1, allow_nan=False
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.replace(tmp, self.path)


_LISTS = ("targets", "sites", "tags", "alertnames")


def check_times(starts_at: float, ends_at: float, max_length: float) -> None:
    """Raise ValueError unless both times are finite Unix times and the silence lasts
    more than zero and at most `max_length` seconds."""
    if not (math.isfinite(starts_at) and math.isfinite(ends_at)):
        raise ValueError("silence times must be finite numbers")
    if not 0 <= starts_at < 4102444800:  # 2100-01-01
        raise ValueError("silence start out of range")
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    if ends_at - starts_at > max_length:
        raise ValueError(f"a silence lasts at most {max_length / 86400:g} days")


def _cron_field(part: str, lo: int, hi: int, alias: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for item in part.split(","):
        rng, _, step_s = item.partition("/")
        step = int(step_s) if step_s else 1
        if step < 1:
            raise ValueError("step must be at least 1")
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a_s, b_s = rng.split("-", 1)
            a, b = _cron_value(a_s, alias), _cron_value(b_s, alias)
        else:
            a = b = _cron_value(rng, alias)
            if step_s:
                b = hi
        if not lo <= a <= b <= hi:
            raise ValueError(f"out of range {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return frozenset(out)


def _cron_value(v: str, alias: dict[str, int]) -> int:
    if v in alias:
        return alias[v]
    if not v.isdigit():
        raise ValueError("expected a number or a name")
    return int(v)


def _aware(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)


def _weekly_active(w: WeeklySchedule, now: datetime) -> bool:
    sh, sm = (int(x) for x in w.start.split(":"))
    eh, em = (int(x) for x in w.end.split(":"))
    for back in (0, 1):
        d = now.date() - timedelta(days=back)
        if _DAYS[d.weekday()] not in w.days:
            continue
        start = datetime.combine(d, time(sh, sm), now.tzinfo)
        end = datetime.combine(d, time(eh, em), now.tzinfo)
        if end <= start:
            end += timedelta(days=1)
        if start <= now < end:
            return True
    return False
