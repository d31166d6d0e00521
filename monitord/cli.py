"""Command line: `monitord run | check-config | version`.

Exit codes: 0 ok; 1 check-config found errors; 2 the daemon refused to start on a
bad config; 3 another startup failure (port in use, data directory not writable).
Only this module chooses exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
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
    from monitord.reports import cli as report_cli

    return [
        (agent_server.add_parser, agent_server.run),
        (report_cli.add_parser, report_cli.run),
        (snmp_cli.add_probe_parser, snmp_cli.run_probe),
        (snmp_cli.add_discover_parser, snmp_cli.run_discover),
    ]


def _load(path: str) -> tuple[Config, Shared]:
    from collectors import COLLECTORS
    from collectors.events import load_table
    from monitord.events.config import patterns_path

    shared = Shared()
    cfg = load_config(path, COLLECTORS, shared)
    extra = patterns_path(path, cfg.events)
    if extra is not None:
        load_table(extra)  # the extra meaning table is checked with the config
    return cfg, shared


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
    from monitord.log import setup_logging

    redaction = setup_logging(args.log_level or "info")
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
