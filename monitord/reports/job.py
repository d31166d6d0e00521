"""The report job: build the reports of a month and write them (`monitord report`, monthly job).

Files land in `<out>/<YYYY-MM>/`: `<YYYY-MM>_<report>.html` and `.pdf`, and one CSV per
table in `csv/`. Report kinds are built in parallel worker processes when `jobs` > 1
(each opens its own read connection; SQLite WAL lets the daemon keep writing), the
largest first. The inventory, whose PDF is in parts of `RECORDS_PER_PDF` hojas de vida,
is built in this process while the workers render the other reports; each of its parts
(and its HTML and CSV) is then one task for the next free worker, so its long rendering
neither runs alone at the end nor is built twice. A worker's peak memory is that of its
largest rendering: no document rendered at once exceeds 100 hojas de vida.

Writing is done by a `Render` function handed in by the composition root (in the daemon
and the CLI, `exporters.reports.files.write_files`); this module never imports an output.
The command line of `monitord report` lives with the wiring (`monitord.cli`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitord.alerts.maintenance import MaintenanceWindow as AlertWindow
from monitord.contract import CollectorTraits
from monitord.history.db import History
from monitord.reports.calendar import silences, with_calendar
from monitord.reports.common import ReportContext
from monitord.reports.model import Report, split_records
from monitord.reports.observations import with_notes
from monitord.reports.period import Period
from monitord.reports.settings import ALL_KINDS, ReportsConfig, Schedule
from monitord.reports.store import HistorySource, Source, TargetInfo

__all__ = [
    "FORMATS",
    "Render",
    "build_report",
    "configured_targets",
    "cron_fields",
    "write_monthly",
    "write_reports",
]

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "csv")
SIZE_ORDER = ("inventory", "network", "kpi", "servers", "security")  # largest first

# write_files(report, kind, out_dir, formats, lang, tz, month) -> files written; must be
# picklable (a module-level function) when `jobs` > 1.
Render = Callable[[Report, str, Path, Sequence[str], str, str, str], list[Path]]


def build_report(kind: str, ctx: ReportContext) -> Report:
    """Build one report's view model."""
    from monitord.reports.inventory import build_inventory
    from monitord.reports.kpi import build_kpi
    from monitord.reports.network import build_network
    from monitord.reports.security import build_security
    from monitord.reports.servers import build_servers

    builders: Mapping[str, Callable[[ReportContext], Report]] = {
        "network": build_network,
        "servers": build_servers,
        "security": build_security,
        "inventory": build_inventory,
        "kpi": build_kpi,
    }
    return builders[kind](ctx)


def write_reports(
    db: Path,
    period: Period,
    out_dir: Path,
    *,
    render: Render,
    kinds: Sequence[str] = ALL_KINDS,
    formats: Sequence[str] = FORMATS,
    lang: str = "es",
    config: ReportsConfig | None = None,
    configured: Mapping[str, TargetInfo] | None = None,
    jobs: int = 1,
    generated: float | None = None,
    source: Callable[[], Source] | None = None,
    collectors: Mapping[str, CollectorTraits] | None = None,
) -> list[Path]:
    """Build and write the reports; return the files written (for the e-mail notifier).

    `collectors`: what each collector kind declares (`monitord.contract.collector_traits`
    of the registry, handed in by the wiring)."""
    config = config or ReportsConfig()
    generated = time.time() if generated is None else generated
    args = [
        (
            kind,
            db,
            period.label,
            period.tz.key,
            out_dir,
            tuple(formats),
            lang,
            config,
            dict(configured or {}),
            generated,
            source,
            render,
            dict(collectors or {}),
        )
        for kind in kinds
    ]
    # the largest first: with fewer workers than reports, the long one never starts last
    args.sort(key=lambda a: SIZE_ORDER.index(a[0]) if a[0] in SIZE_ORDER else len(SIZE_ORDER))
    if not (jobs > 1 and len(args) > 1 and source is None):
        return [p for a in args for p in _write_one(a)]
    with ProcessPoolExecutor(min(jobs, len(args)), mp_context=get_context("spawn")) as ex:
        futures = [ex.submit(_write_one, a) for a in args if a[0] != "inventory"]
        for a in args:
            if a[0] != "inventory":
                continue
            # built here while the workers render the other reports; its PDF parts (100
            # hojas de vida each) are rendered by the workers as they come free
            report = _build(a)
            rest = tuple(f for f in formats if f != "pdf")
            if rest:
                futures.append(ex.submit(render, report, *_render_args(a, rest)))
            if "pdf" in formats:
                futures.extend(
                    ex.submit(render, part, *_render_args(a, ("pdf",)))
                    for part in split_records(report)
                )
            del report
        return [p for f in futures for p in f.result()]


def write_monthly(
    db: Path,
    data_dir: Path,
    config: ReportsConfig,
    *,
    render: Render,
    tz: str = "America/Bogota",
    lang: str = "es",
    now: float | None = None,
    configured: Mapping[str, TargetInfo] | None = None,
    alert_windows: Sequence[AlertWindow] = (),
    collectors: Mapping[str, CollectorTraits] | None = None,
) -> list[Path]:
    """The daemon's monthly job: last month's reports into `<data_dir>/reports/YYYY-MM/`.

    Maintenance comes from one calendar (`reports.maintenance`, the `alerts.maintenance`
    windows given here, the silences kept in the history, expired and removed ones
    included, and in the data directory); observations and
    improvement actions from `<data_dir>/observations/`.
    """
    period = Period.containing(time.time() if now is None else now, ZoneInfo(tz)).shift(-1)
    config = with_calendar(config, alert_windows, silences(data_dir, db, period), period, tz)
    config = with_notes(config, data_dir, period)
    out = config.output_dir or (data_dir / "reports")
    files = write_reports(
        db,
        period,
        out / period.label,
        render=render,
        kinds=config.schedule.kinds,
        formats=config.schedule.formats,
        lang=(config.language or lang),
        config=config,
        configured=configured,
        collectors=collectors,
    )
    log.info(
        "monthly reports written month=%s files=%d dir=%s",
        period.label,
        len(files),
        out / period.label,
    )
    return files


def cron_fields(schedule: Schedule) -> dict[str, int]:
    """APScheduler CronTrigger fields of the monthly job: {'day', 'hour', 'minute'}."""
    hour, minute = (int(x) for x in schedule.time.split(":"))
    return {"day": schedule.day, "hour": hour, "minute": minute}


# --- internals -------------------------------------------------------------------


def _build(a: tuple[Any, ...]) -> Report:
    kind, db, month, tz, _, _, _, config, configured, generated, source, _, collectors = a
    period = Period.parse(month, tz)
    history: History | None = None
    if source is None:
        history = History(db)
        src: Source = HistorySource(history)
    else:
        src = source()
    try:
        ctx = ReportContext(src, period, config, configured, generated, collectors=collectors)
        return build_report(kind, ctx)
    finally:
        if history is not None:
            history.close()


def _render_args(a: tuple[Any, ...], formats: tuple[str, ...]) -> tuple[Any, ...]:
    """The arguments of `render` after the report: kind, out_dir, formats, lang, tz, month."""
    kind, _, month, tz, out_dir, _, lang = a[:7]
    return (kind, out_dir, formats, lang, tz, month)


def _write_one(a: tuple[Any, ...]) -> list[Path]:
    report = _build(a)
    files: list[Path] = a[11](report, *_render_args(a, a[5]))
    return files


def configured_targets(cfg: Any) -> dict[str, TargetInfo]:
    """The configured targets (of a `monitord.config.Config`) as the reports see them."""
    return {
        t.target.name: TargetInfo(
            t.target.name,
            t.target.address,
            t.target.kind.value,
            t.target.site,
            t.target.parent,
            t.target.critical,
            t.target.tags,
            t.target.description,
        )
        for t in cfg.targets
    }
