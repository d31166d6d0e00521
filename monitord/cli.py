"""Command line: `monitord run | check-config | report | version` (and the feature commands).

Exit codes: 0 ok; 1 check-config found errors; 2 the daemon refused to start on a
bad config; 3 another startup failure (port in use, data directory not writable).
Only this module chooses exit codes. With `monitord.daemon` it is the wiring: the only
`monitord` modules that import `exporters/` or a concrete collector.

`monitord report` (exit 0 ok, 1 bad arguments or no data, 2 bad config) parses its
arguments here and calls the report job (`monitord.reports.job.write_reports`) with the
renderer handed in (`exporters.reports.files.write_files`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from monitord import __version__
from monitord.alerts import control
from monitord.config import Config, load_config
from monitord.errors import ConfigError, HistoryError
from monitord.types import Shared

__all__ = ["DEFAULT_CONFIG", "main"]

log = logging.getLogger("monitord")

DEFAULT_CONFIG = "config/monitord.yaml"

_DESCRIPTION = """\
monitord — monitoring daemon of the Oficina de Sistemas.

Polls routers, switches, servers and databases (ICMP, SNMP, host agent, SQL),
keeps the latest state in memory, serves Prometheus metrics, raises alerts and
writes the monthly reports.
"""

_EPILOG = """\
examples:
  monitord run -c config/monitord.yaml        run in the foreground (SIGHUP reloads, SIGTERM stops)
  monitord check-config -c /etc/monitord/monitord.yaml
  monitord version
  monitord probe snmp 10.0.0.1 --community '${SNMP_COMMUNITY}'
  monitord discover 10.0.0.0/24 --community '${SNMP_COMMUNITY}'
  monitord report --month 2026-10 --kind all --format html,pdf,csv
  monitord agent --listen 127.0.0.1:9878 --token-file /etc/monitord/agent.token

secrets in the config are written as ${ENV_VAR} or file:/path and are never printed.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `monitord` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["agent"]:
        # The agent runs on every server: hand off before the daemon's commands are imported.
        from collectors.hostagent import server as agent_server

        return agent_server.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitord",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"monitord {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the daemon in the foreground",
        description="Run the daemon in the foreground.",
    )
    run.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help=f"config file (default: {DEFAULT_CONFIG})"
    )
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="override daemon.log_level",
    )

    chk = sub.add_parser(
        "check-config",
        help="validate a config file and exit",
        description="Validate a config file; print every error as FILE:LINE: field: message.",
    )
    chk.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help=f"config file (default: {DEFAULT_CONFIG})"
    )

    run.set_defaults(handler=_run)
    chk.set_defaults(handler=_check)
    sub.add_parser("version", help="print the version and exit").set_defaults(handler=_version)
    control.add_parser(sub).set_defaults(handler=control.run)
    for register, handler in _commands():
        register(sub).set_defaults(handler=handler)
    return p


def _commands() -> list[
    tuple[Callable[[Any], argparse.ArgumentParser], Callable[[argparse.Namespace], int]]
]:
    """Subcommands that live beside their feature (the agent, reports, SNMP tools)."""
    from collectors.hostagent import server as agent_server
    from collectors.snmp import cli as snmp_cli

    return [
        (agent_server.add_parser, agent_server.run),
        (_add_report_parser, _report),
        (snmp_cli.add_probe_parser, snmp_cli.run_probe),
        (snmp_cli.add_discover_parser, snmp_cli.run_discover),
    ]


def _load(path: str) -> tuple[Config, Shared]:
    from collectors import COLLECTORS
    from monitord.daemon import CONFIG_CHECKS

    shared = Shared()
    return load_config(path, COLLECTORS, shared, checks=CONFIG_CHECKS), shared


def _check(args: argparse.Namespace) -> int:
    try:
        cfg, _ = _load(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{args.config}: {len(exc.issues)} error(s)", file=sys.stderr)
        return 1
    jobs = sum(len(t.collectors) for t in cfg.targets)
    print(f"{args.config}: ok ({len(cfg.targets)} targets, {jobs} jobs)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from collectors import COLLECTORS
    from monitord.daemon import Daemon
    from monitord.httpguard import raise_nofile_limit
    from monitord.log import setup_logging

    redaction = setup_logging(args.log_level or "info")
    raise_nofile_limit()
    try:
        cfg, shared = _load(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            log.error("config error: %s", issue)
        log.error("monitord not started: %d config error(s) in %s", len(exc.issues), args.config)
        return 2
    if args.log_level is None:
        logging.getLogger().setLevel(cfg.daemon.log_level.upper())
    daemon = Daemon(Path(args.config), cfg, COLLECTORS, shared, redaction=redaction)
    try:
        asyncio.run(daemon.run())
    except OSError as exc:
        log.error("monitord not started: %s (listen=%s)", exc.strerror or exc, cfg.daemon.listen)
        return 3
    except HistoryError as exc:
        log.error("monitord not started: %s", exc)
        return 3
    return 0


def _version(args: argparse.Namespace) -> int:
    print(f"monitord {__version__}")
    return 0


# --- monitord report ------------------------------------------------------------------


def _add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord report` on the main parser's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write the monthly reports (network, servers, security, inventory, kpi)",
        description="Build a month's reports from the history and write HTML, PDF and CSV.",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["write", "observe"],
        default="write",
        help="write the reports (default), or observe: store --file as the month's "
        "observations and improvement actions (<data_dir>/observations/YYYY-MM.yaml)",
    )
    p.add_argument("--file", help="with observe: the YAML file of the month's observations")
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


def _report(args: argparse.Namespace) -> int:
    """Run `monitord report`; exit code 0 ok, 1 bad arguments or no data, 2 bad config."""
    from zoneinfo import ZoneInfo

    from collectors import COLLECTORS
    from exporters.reports.files import write_files
    from monitord.contract import collector_traits
    from monitord.reports.calendar import silences, with_calendar
    from monitord.reports.job import FORMATS, configured_targets, write_reports
    from monitord.reports.observations import with_notes
    from monitord.reports.period import Period
    from monitord.reports.settings import ALL_KINDS
    from monitord.reports.store import Source

    try:
        cfg, _ = _load(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    reports_cfg, data_dir, tz = cfg.reports, Path(cfg.daemon.data_dir), cfg.daemon.timezone
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
    if args.action == "observe":
        return _observe(args, data_dir, period)
    try:
        reports_cfg = with_notes(reports_cfg, data_dir, period)
    except ConfigError as exc:
        print(f"monitord report: {exc}", file=sys.stderr)
        return 2
    db = Path(args.db) if args.db else Path(cfg.history.path or (data_dir / "monitord.db"))
    held = silences(data_dir, db, period)
    reports_cfg = with_calendar(reports_cfg, cfg.alerts.maintenance, held, period, tz)
    source: Callable[[], Source] | None = None
    if args.source == "prometheus":
        if not args.url:
            print("monitord report: --source prometheus needs --url", file=sys.stderr)
            return 1
        source = _prometheus_factory(args.url, configured_targets(cfg))
    elif not db.exists():
        print(f"monitord report: no history database at {db}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else (reports_cfg.output_dir or data_dir / "reports")
    try:
        files = write_reports(
            db,
            period,
            out / period.label,
            render=write_files,
            kinds=kinds,
            formats=formats,
            lang=args.lang or (reports_cfg.language or cfg.daemon.language).value,
            config=reports_cfg,
            configured=configured_targets(cfg),
            jobs=args.jobs,
            source=source,
            collectors=collector_traits(COLLECTORS),
        )
    except HistoryError as exc:
        print(f"monitord report: {exc}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


def _observe(args: argparse.Namespace, data_dir: Path, period: Any) -> int:
    """`monitord report observe --month M --file F`: store the month's observations."""
    from monitord.reports.observations import observe

    if not args.month or not args.file:
        print("monitord report observe: needs --month YYYY-MM and --file FILE", file=sys.stderr)
        return 1
    try:
        path = observe(data_dir, period.label, Path(args.file))
    except ConfigError as exc:
        print(f"monitord report observe: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _prometheus_factory(url: str, configured: Any = None) -> Callable[[], Any]:
    from collectors import COLLECTORS
    from monitord.contract import collector_traits
    from monitord.reports.prometheus import PrometheusSource

    traits = collector_traits(COLLECTORS)

    def make() -> Any:
        return PrometheusSource(url, configured=configured, collectors=traits)

    return make
