"""One maintenance calendar for alerts and reports.

The reports exclude from availability every planned stretch the office declared, wherever
it declared it: `alerts.maintenance` and `reports.maintenance` (one model,
`monitord.alerts.maintenance.MaintenanceWindow`: one-off, cron-like and weekly windows; the
alerts' ones are expanded here into their occurrences in the month) and the run-time
silences (`monitord silence add`). A window or silence limited to some alert names mutes
those alerts only: it is not maintenance of the device, so it stays out of the calendar.

Silences come from the history (`silences` table: the daemon records each one when it is
added, and its removal), where they stay after they expire or are removed, and from
`silences.json` (those not yet in the history: a daemon from before it kept them). A
removed silence counts until its removal; the reports list its author.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.alerts.maintenance import MaintenanceWindow, Silence, SilenceStore
from monitord.errors import HistoryError
from monitord.history.db import History, StoredSilence
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig

AlertWindow = MaintenanceWindow  # the alerts' windows: the same model

__all__ = ["from_stored", "planned", "silences", "with_calendar"]

log = logging.getLogger(__name__)


def silences(data_dir: Path, db: Path | None = None, period: Period | None = None) -> list[Silence]:
    """The silences of the history `db` (those touching `period`, expired and removed
    ones included) and those kept in `<data_dir>/silences.json`; one per id, the
    history's record first (it knows a removal)."""
    out: dict[str, Silence] = {}
    if db is not None and db.exists():
        try:
            h = History(db)
            try:
                rows = h.silences(*((period.start, period.end) if period else (0.0, 1e18)))
            finally:
                h.close()
        except HistoryError as exc:
            log.warning("silences not read from the history for the reports: %s", exc)
            rows = []
        out.update((r.id, from_stored(r)) for r in rows)
    path = data_dir / "silences.json"
    if path.exists():
        try:
            for s in SilenceStore(path).all():
                out.setdefault(s.id, s)
        except ValueError as exc:
            log.warning("silences not read for the reports: %s", exc)
    return sorted(out.values(), key=lambda s: (s.starts_at, s.id))


def from_stored(s: StoredSilence) -> Silence:
    """A silence of the history as the alerts' type, ending when it stopped muting."""
    return Silence(
        s.id, s.starts_at, s.effective_end, s.targets, s.sites, s.tags, s.alertnames,
        s.comment, s.created_by,
    )  # fmt: skip


def planned(
    windows: Sequence[AlertWindow], silences: Sequence[Silence], period: Period, tz: str
) -> list[MaintenanceWindow]:
    """The alerts' windows and the silences that overlap `period`, as one-off windows."""
    zone = ZoneInfo(tz)
    out: list[MaintenanceWindow] = []
    for w in windows:
        if not w.device_maintenance:
            continue
        for a, b in w.occurrences(period.start, period.end, tz):
            out.append(
                _window(a, b, w.description, w.targets, w.sites, w.tags, zone,
                        all_targets=w.all_targets, author=w.author)
            )  # fmt: skip
    for s in silences:
        if s.alertnames or not (s.starts_at < period.end and s.ends_at > period.start):
            continue
        out.append(
            _window(s.starts_at, s.ends_at, s.comment, list(s.targets), list(s.sites),
                    list(s.tags), zone, author=s.created_by)
        )  # fmt: skip
    return out


def with_calendar(
    config: ReportsConfig,
    windows: Sequence[AlertWindow],
    silences: Sequence[Silence],
    period: Period,
    tz: str,
) -> ReportsConfig:
    """`config` whose maintenance list also holds the alerts' windows and the silences."""
    extra = planned(windows, silences, period, tz)
    if not extra:
        return config
    return config.model_copy(update={"maintenance": [*config.maintenance, *extra]})


def _window(
    a: float,
    b: float,
    description: str,
    targets: list[str],
    sites: list[str],
    tags: list[str],
    tz: ZoneInfo,
    *,
    all_targets: bool = False,
    author: str = "",
) -> MaintenanceWindow:
    return MaintenanceWindow(
        start=datetime.fromtimestamp(a, tz),
        end=datetime.fromtimestamp(b, tz),
        comment=description,
        author=author,
        targets=targets,
        sites=sites,
        tags=tags,
        all_targets=all_targets,
    )
