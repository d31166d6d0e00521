"""Command line of `monitord probe snmp ADDRESS` and `monitord discover CIDR`.

Both take the snmp collector's credentials as flags. Secret flags accept `${ENV}`,
`file:/path` or, for a quick test at a console, the literal text; the output never
repeats a secret (probe prints none, discover writes the reference or a placeholder).

Exit codes: probe 0 when the poll succeeded, 1 when it failed or was partial (the text
says why), 2 for bad flags or credentials that do not resolve; discover 0 with the
snippet on stdout, 2 for bad flags, a bad or too large range, or no ICMP permission.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import Any, Final

from monitord.errors import CollectorError, ConfigError, ConfigIssue
from monitord.secrets import SecretError

__all__ = ["add_discover_parser", "add_probe_parser", "run_discover", "run_probe"]

# Option names of the collector → the flag that sets them, for error messages.
_FLAGS: Final = {
    "version": "--version",
    "community": "--community",
    "user": "--user",
    "auth_protocol": "--auth-protocol",
    "auth_key": "--auth-key",
    "priv_protocol": "--priv-protocol",
    "priv_key": "--priv-key",
    "context": "--context",
    "port": "--port",
    "request_timeout": "--timeout",
    "retries": "--retries",
    "walk_budget": "--walk-budget",
    "profiles": "--profile",
}


def _credentials(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("credentials (values: ${ENV}, file:/path, or literal)")
    g.add_argument("--version", dest="snmp_version", choices=["1", "2c", "3"], help="default 2c")
    g.add_argument("--community", help="v1/v2c community (default ${SNMP_COMMUNITY})")
    g.add_argument("--v3", action="store_true", help="SNMPv3 (same as --version 3)")
    g.add_argument("--user", help="v3 user name")
    g.add_argument("--auth-protocol", help="MD5, SHA, SHA224, SHA256, SHA384, SHA512")
    g.add_argument("--auth-key", help="v3 authentication key")
    g.add_argument("--priv-protocol", help="DES, AES, AES192, AES256")
    g.add_argument("--priv-key", help="v3 privacy key")
    g.add_argument("--context", help="v3 context name")
    p.add_argument("--port", type=int, help="UDP port (default 161)")
    p.add_argument("--timeout", help="per-request timeout, e.g. 2s (default 1s)")
    p.add_argument("--retries", type=int, help="retries per request (default 1)")


def _options(args: argparse.Namespace) -> dict[str, object]:
    opts: dict[str, object] = {}
    version = "3" if args.v3 else args.snmp_version
    if version:
        opts["version"] = version
    for key in ("community", "user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"):
        value = getattr(args, key)
        if value is not None:
            opts[key] = value
    if args.context is not None:
        opts["context"] = args.context
    if version != "3" and "community" not in opts:
        opts["community"] = "${SNMP_COMMUNITY}"
    if args.port is not None:
        opts["port"] = args.port
    if args.timeout is not None:
        opts["request_timeout"] = args.timeout
    if args.retries is not None:
        opts["retries"] = args.retries
    return opts


def add_probe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord probe snmp ADDRESS`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "probe",
        help="poll one device and print what the collector would collect",
        description="Poll one device like the collector would and print what it collects"
        " (system group, chosen profiles, interfaces, other series). Exit 0: ok;"
        " 1: the poll failed or was partial; 2: bad flags.",
    )
    p.add_argument("protocol", choices=["snmp"], help="what to probe")
    p.add_argument("address", help="device address or name")
    p.add_argument("--profile", action="append", help="profile to use (repeatable; default: auto)")
    p.add_argument("--walk-budget", default="30s", help="deadline of the whole poll (default 30s)")
    _credentials(p)
    return p


def add_discover_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord discover CIDR`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "discover",
        help="sweep a range (ICMP, then SNMP) and print a config snippet",
        description="Sweep a CIDR range with ICMP (the daemon's own shared-socket pinger),"
        " ask what answered for sysObjectID and sysName over SNMP, and print a `targets:`"
        " snippet for the config. Exit 0 with the snippet; 2: bad flags or range.",
    )
    p.add_argument("cidr", help="range to sweep, e.g. 10.1.0.0/24")
    p.add_argument("--max-hosts", type=int, default=4096, help="refuse larger ranges")
    p.add_argument(
        "--concurrency", type=int, default=64, help="SNMP requests in flight (default 64)"
    )
    p.add_argument(
        "--icmp-timeout", type=float, default=1.0, help="seconds to wait for an echo reply"
    )
    _credentials(p)
    return p


def run_probe(args: argparse.Namespace) -> int:
    """Run `monitord probe snmp`; exit 0 when the poll succeeded, 1 when it failed, 2 bad flags."""
    from collectors.snmp.probe import probe

    opts = _options(args)
    opts["walk_budget"] = args.walk_budget
    if args.profile:
        opts["profiles"] = args.profile
    try:
        text = asyncio.run(probe(args.address, opts))
    except ConfigError as exc:
        _print_issues("probe", exc.issues)
        return 2
    except SecretError as exc:
        print(f"monitord probe: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    first = text.splitlines()[0] if text else ""
    return 0 if first.endswith(": ok") else 1


def run_discover(args: argparse.Namespace) -> int:
    """Run `monitord discover`; exit 0 with the snippet on stdout, 2 on bad flags or range."""
    from collectors.snmp.probe import discover

    opts = _options(args)
    if args.concurrency < 1 or args.max_hosts < 1 or not 0 < args.icmp_timeout <= 30:
        print(
            "monitord discover: --concurrency and --max-hosts must be at least 1, "
            "--icmp-timeout between 0 and 30",
            file=sys.stderr,
        )
        return 2
    try:
        text = asyncio.run(
            discover(
                args.cidr,
                opts,
                max_hosts=args.max_hosts,
                concurrency=args.concurrency,
                icmp_timeout=args.icmp_timeout,
            )
        )
    except ConfigError as exc:
        _print_issues("discover", exc.issues)
        return 2
    except (ValueError, CollectorError) as exc:  # bad range, unset ${ENV}, no ICMP permission
        print(f"monitord discover: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _print_issues(command: str, issues: Iterable[ConfigIssue]) -> None:
    for issue in issues:
        where = _FLAGS.get(issue.field.split(".")[0], issue.field)
        text = f"{where}: {issue.message}" if where else issue.message
        print(f"monitord {command}: {text}", file=sys.stderr)
