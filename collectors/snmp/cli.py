"""Command line of `monitord probe snmp ADDRESS` and `monitord discover CIDR`.

Both take the snmp collector's credentials as flags. Secret flags accept `${ENV}`,
`file:/path` or, for a quick test at a console, the literal text; the output never
repeats a secret (probe prints none, discover writes the reference or a placeholder).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from monitord.errors import ConfigError

__all__ = ["add_discover_parser", "add_probe_parser", "run_discover", "run_probe"]


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
    p.add_argument("--timeout", help="per-request timeout, e.g. 2s")
    p.add_argument("--retries", type=int, help="retries per request")


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
        opts["timeout"] = args.timeout
    if args.retries is not None:
        opts["retries"] = args.retries
    return opts


def add_probe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord probe snmp ADDRESS`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "probe",
        help="poll one device and print what the collector would collect",
        description="Poll one device like the collector would and print what it collects"
        " (system group, chosen profiles, interfaces, other series).",
    )
    p.add_argument("protocol", choices=["snmp"], help="what to probe")
    p.add_argument("address", help="device address or name")
    p.add_argument("--profile", action="append", help="profile to use (repeatable; default: auto)")
    _credentials(p)
    return p


def add_discover_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord discover CIDR`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "discover",
        help="sweep a range (ICMP, then SNMP) and print a config snippet",
        description="Sweep a CIDR range with ICMP, ask what answered for sysObjectID and"
        " sysName over SNMP, and print a `targets:` snippet for the config.",
    )
    p.add_argument("cidr", help="range to sweep, e.g. 10.1.0.0/24")
    p.add_argument("--max-hosts", type=int, default=4096, help="refuse larger ranges")
    p.add_argument("--concurrency", type=int, default=64)
    _credentials(p)
    return p


def run_probe(args: argparse.Namespace) -> int:
    """Run `monitord probe snmp`; exit 0 when the poll succeeded, 1 when it failed, 2 bad flags."""
    from collectors.snmp.probe import probe

    opts = _options(args)
    if args.profile:
        opts["profiles"] = args.profile
    try:
        text = asyncio.run(probe(args.address, opts))
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"monitord probe: {issue}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    first = text.splitlines()[0] if text else ""
    return 0 if first.endswith(": ok") else 1


def run_discover(args: argparse.Namespace) -> int:
    """Run `monitord discover`; exit 0 with the snippet on stdout, 2 on bad flags or range."""
    from collectors.snmp.probe import discover

    opts = _options(args)
    try:
        text = asyncio.run(
            discover(args.cidr, opts, max_hosts=args.max_hosts, concurrency=args.concurrency)
        )
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"monitord discover: {issue}", file=sys.stderr)
        return 2
    except (ValueError, PermissionError) as exc:
        print(f"monitord discover: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
