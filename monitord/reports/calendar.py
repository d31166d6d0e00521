"""One maintenance calendar for alerts and reports.

The reports exclude from availability every planned stretch the office declared, wherever
it declared it: `alerts.maintenance` and `reports.maintenance` (one model,
`monitord.alerts.maintenance.MaintenanceWindow`: one-off, cron-like and weekly windows; the
alerts' ones are expanded here into their occurrences in the month) and the run-time
silences (`monitord silence add`, kept in `silences.json`). A window or silence limited to
some alert names mutes those alerts only: it is not maintenance of the device, so it stays
out of the calendar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.alerts.maintenance import MaintenanceWindow, Silence, SilenceStore
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig

AlertWindow = MaintenanceWindow  # the alerts' windows: the same model

__all__ = ["planned", "silences", "with_calendar"]

log = logging.getLogger(__name__)


def silences(data_dir: Path) -> list[Silence]:
    """The silences kept in `<data_dir>/silences.json` (none when unreadable or absent)."""
    path = data_dir / "silences.json"
    if not path.exists():
        return []
    try:
        return list(SilenceStore(path).all())
    except ValueError as exc:
        log.warning("silences not read for the reports: %s", exc)
        return []


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
                        all_targets=w.all_targets)
            )  # fmt: skip
    for s in silences:
        if s.alertnames or not (s.starts_at < period.end and s.ends_at > period.start):
            continue
        out.append(
            _window(s.starts_at, s.ends_at, s.comment, list(s.targets), list(s.sites),
                    list(s.tags), zone)
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
) -> MaintenanceWindow:
    return MaintenanceWindow(
        start=datetime.fromtimestamp(a, tz),
        end=datetime.fromtimestamp(b, tz),
        comment=description,
        targets=targets,
        sites=sites,
        tags=tags,
        all_targets=all_targets,
    )
