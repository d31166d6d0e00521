"""`monitord report` and the daemon's monthly job: build and write the reports of a month.

Files land in `<out>/<YYYY-MM>/`: `<YYYY-MM>_<report>.html` and `.pdf`, and one CSV per
table in `csv/`. Report kinds are built in parallel worker processes when `jobs` > 1
(each opens its own read connection; SQLite WAL lets the daemon keep writing).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitord.errors import ConfigError, HistoryError
from monitord.history.db import History
from monitord.reports.common import ReportContext
from monitord.reports.model import Report
from monitord.reports.period import Period
from monitord.reports.settings import ALL_KINDS, ReportsConfig, Schedule
from monitord.reports.store import HistorySource, Source, TargetInfo

__all__ = [
    "FORMATS",
    "add_parser",
    "build_report",
    "configured_targets",
    "cron_fields",
    "run",
    "write_monthly",
    "write_reports",
]

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "csv")
DEFAULT_CONFIG = "config/monitord.yaml"


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
    kinds: Sequence[str] = ALL_KINDS,
    formats: Sequence[str] = FORMATS,
    lang: str = "es",
    config: ReportsConfig | None = None,
    configured: Mapping[str, TargetInfo] | None = None,
    jobs: int = 1,
    generated: float | None = None,
    source: Callable[[], Source] | None = None,
) -> list[Path]:
    """Build and write the reports; return the files written (for the e-mail notifier)."""
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
        )
        for kind in kinds
    ]
    if jobs > 1 and len(args) > 1 and source is None:
        with ProcessPoolExecutor(min(jobs, len(args)), mp_context=get_context("spawn")) as ex:
            results = list(ex.map(_write_one, args))
    else:
        results = [_write_one(a) for a in args]
    return [p for r in results for p in r]


def write_monthly(
    db: Path,
    data_dir: Path,
    config: ReportsConfig,
    *,
    tz: str = "America/Bogota",
    lang: str = "es",
    now: float | None = None,
    configured: Mapping[str, TargetInfo] | None = None,
) -> list[Path]:
    """The daemon's monthly job: last month's reports into `<data_dir>/reports/YYYY-MM/`."""
    period = Period.containing(time.time() if now is None else now, ZoneInfo(tz)).shift(-1)
    out = config.output_dir or (data_dir / "reports")
    files = write_reports(
        db,
        period,
        out / period.label,
        kinds=config.schedule.kinds,
        formats=config.schedule.formats,
        lang=(config.language or lang),
        config=config,
        configured=configured,
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


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord report` on the main parser's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write the monthly reports (network, servers, security, inventory, kpi)",
        description="Build a month's reports from the history and write HTML, PDF and CSV.",
    )
    p.add_argument("--month", help="YYYY-MM (default: last month in the daemon's time zone)")
    p.add_argument(
        "--kind",
        default="all",
        help="network, servers, security, inventory, kpi, or all; comma-separated",
    )
    p.add_argument("--format", default="html,pdf,csv", help="html, pdf, csv; comma-separated")
    p.add_argument("--lang", choices=["es", "en"], help="default: reports.language or es")
    p.add_argument("--out", help="output directory (default: <data_dir>/reports)")
    p.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help=f"config file (default: {DEFAULT_CONFIG})"
    )
    p.add_argument("--db", help="history database (default: from the config)")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="reports built in parallel processes",
    )
    p.add_argument("--source", choices=["history", "prometheus"], default="history")
    p.add_argument("--url", help="Prometheus base URL for --source prometheus")
    return p


def run(args: argparse.Namespace) -> int:
    """Run `monitord report`; exit code 0 ok, 1 bad arguments or no data, 2 bad config."""
    try:
        settings = _settings(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    reports_cfg, data_dir, db_default, tz, lang_default, configured = settings
    kinds = list(ALL_KINDS) if args.kind == "all" else [k.strip() for k in args.kind.split(",")]
    formats = [f.strip() for f in args.format.split(",")]
    bad = [k for k in kinds if k not in ALL_KINDS] + [f for f in formats if f not in FORMATS]
    if bad:
        print(f"monitord report: unknown kind or format: {', '.join(bad)}", file=sys.stderr)
        return 1
    try:
        period = (
            Period.parse(args.month, tz)
            if args.month
            else Period.containing(time.time(), ZoneInfo(tz)).shift(-1)
        )
    except ValueError as exc:
        print(f"monitord report: {exc}", file=sys.stderr)
        return 1
    db = Path(args.db) if args.db else db_default
    source: Callable[[], Source] | None = None
    if args.source == "prometheus":
        if not args.url:
            print("monitord report: --source prometheus needs --url", file=sys.stderr)
            return 1
        source = _prometheus_factory(args.url)
    elif not db.exists():
        print(f"monitord report: no history database at {db}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else (reports_cfg.output_dir or data_dir / "reports")
    try:
        files = write_reports(
            db,
            period,
            out / period.label,
            kinds=kinds,
            formats=formats,
            lang=args.lang or (reports_cfg.language or lang_default),
            config=reports_cfg,
            configured=configured,
            jobs=args.jobs,
            source=source,
        )
    except HistoryError as exc:
        print(f"monitord report: {exc}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


# --- internals -------------------------------------------------------------------


def _write_one(a: tuple[Any, ...]) -> list[Path]:
    kind, db, month, tz, out_dir, formats, lang, config, configured, generated, source = a
    from exporters.reports.csv import write_csv
    from exporters.reports.html import render_html
    from exporters.reports.pdf import write_pdf
    from exporters.reports.text import Formatter

    period = Period.parse(month, tz)
    history: History | None = None
    if source is None:
        history = History(db)
        src: Source = HistorySource(history)
    else:
        src = source()
    try:
        ctx = ReportContext(src, period, config, configured, generated)
        report = build_report(kind, ctx)
    finally:
        if history is not None:
            history.close()
    stem = f"{month}_{Formatter(lang, tz).t(f'files.{kind}')}"
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(report, lang) if {"html", "pdf"} & set(formats) else None
    if "html" in formats and html is not None:
        p = out_dir / f"{stem}.html"
        p.write_text(html, encoding="utf-8")
        written.append(p)
    if "pdf" in formats:
        written.append(write_pdf(report, out_dir / f"{stem}.pdf", lang, html))
    if "csv" in formats:
        written.extend(write_csv(report, out_dir / "csv", lang))
    return written


def _settings(path: str) -> tuple[ReportsConfig, Path, Path, str, str, dict[str, TargetInfo]]:
    from collectors import COLLECTORS
    from monitord.config import load_config

    cfg = load_config(path, COLLECTORS)
    reports_cfg = cfg.reports
    data_dir = Path(cfg.daemon.data_dir)
    db = cfg.history.path or (data_dir / "monitord.db")
    configured = configured_targets(cfg)
    return (
        reports_cfg,
        data_dir,
        Path(db),
        cfg.daemon.timezone,
        cfg.daemon.language.value,
        configured,
    )


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


def _prometheus_factory(url: str) -> Callable[[], Source]:
    from monitord.reports.prometheus import PrometheusSource

    def make() -> Source:
        return PrometheusSource(url)

    return make
