"""`monitord probe snmp` and `monitord discover`: one device, or a CIDR range, from the CLI.

`probe()` polls one device exactly as the collector would (a label-refresh poll) and
returns a text report: the system group, the profiles chosen, the interface table and
the other series. `discover()` sweeps a range with ICMP, asks what answered for
sysObjectID/sysName/sysServices with the given credentials, and returns a YAML snippet
of `targets:` for the config. Credentials are never printed: the snippet carries the
reference the caller gave (e.g. `${SNMP_COMMUNITY}`) or a placeholder.

The ICMP sweep reuses the daemon's own icmp collector (found through the `COLLECTORS`
table, not imported), whose one shared socket per family matches every reply: icmplib's
`async_multiping` opens a raw socket per concurrent task, each of which sees every reply,
and lost most of the answers at a few hundred hosts here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

import yaml

from collectors._snmpwire.ber import Oid
from collectors.snmp import build
from collectors.snmp.client import ClientError, EnginePool, RequestLimiter, get, open_session
from collectors.snmp.collector import SYS_DESCR, SYS_NAME, SYS_OBJECT_ID
from collectors.snmp.convert import oid_text, render
from collectors.snmp.health import probe as health_probe
from collectors.snmp.identify import Identity, load_vendors
from collectors.snmp.modules import ProfileSet, load_builtin_profiles
from collectors.snmp.options import CREDENTIAL_FIELDS, Options, resolve_credentials
from monitord.config import parse_options
from monitord.errors import CollectorError, PermissionDenied
from monitord.secrets import resolve_secret
from monitord.types import Sample, SampleKind, Shared, Target

__all__ = ["discover", "probe"]

SYS_SERVICES: Oid = (1, 3, 6, 1, 2, 1, 1, 7, 0)
_SECRET_KEYS = ("community", "auth_key", "priv_key")
_NAME_OK = re.compile(r"[^A-Za-z0-9_.:-]+")


async def probe(
    address: str,
    options: Mapping[str, object] | None = None,
    *,
    name: str = "probe",
    shared: Shared | None = None,
) -> str:
    """Poll one device like the collector would and describe what it would collect.

    `options` are the snmp collector's options as in the config (`version`, `community`,
    `user`, `auth_protocol`, `auth_key`, `priv_protocol`, `priv_key`, `context`,
    `profiles`, `port`...). Secret values may be `${ENV}`, `file:/path` or literal text.
    Raises ConfigError for bad options; a failed poll is reported in the text.
    """
    opts = dict(options or {})
    for key in _SECRET_KEYS:
        if isinstance(opts.get(key), str):
            opts[key] = resolve_secret(str(opts[key]))
    own = shared is None
    sh = shared or Shared()
    collector = build(opts, sh)
    target = Target(name, address)
    lines: list[str] = []
    try:
        try:
            samples = await collector.collect(target)
            status = "ok"
        except CollectorError as exc:
            samples = list(exc.samples)
            status = f"FAILED ({exc.reason}): {exc}"
    finally:
        if own:
            await sh.aclose()
    lines.append(f"snmp probe of {address}:{collector.options.port}: {status}")
    _describe(samples, lines)
    return "\n".join(lines) + "\n"


async def discover(
    cidr: str,
    options: Mapping[str, object] | None = None,
    *,
    max_hosts: int = 4096,
    concurrency: int = 64,
    icmp_timeout: float = 1.0,
    snmp_timeout: float = 1.0,
    privileged: bool | None = None,
    shared: Shared | None = None,
) -> str:
    """Sweep `cidr` (ICMP, then an SNMP GET of the system group) and return a config snippet.

    `options` are snmp collector options (credentials as in `probe`); what is written
    into the snippet is the text given for secrets when it is a `${ENV}` or `file:`
    reference, else the placeholder `${SNMP_COMMUNITY}` / `${SNMP_AUTH_KEY}`...
    The SNMP request timeout is `options["request_timeout"]` when given, else
    `snmp_timeout`. `privileged` (default: auto) is the icmp collector's option.
    Raises ValueError for a bad or too large range or an unset `${ENV}`, and
    PermissionDenied (with the fix) when this process may not send ICMP echo requests.
    """
    net = ipaddress.ip_network(cidr, strict=False)
    if net.num_addresses > max_hosts + 2:
        raise ValueError(
            f"{cidr} has {net.num_addresses} addresses, more than max_hosts={max_hosts}"
        )
    hosts = [str(h) for h in (net.hosts() if net.num_addresses > 2 else net)]
    raw = dict(options or {})
    resolved = {
        k: (resolve_secret(str(v)) if k in _SECRET_KEYS and isinstance(v, str) else v)
        for k, v in raw.items()
    }
    opts = parse_options(Options, resolved)
    creds = resolve_credentials(opts, None)
    if "request_timeout" in raw:
        snmp_timeout = opts.request_timeout
    own = shared is None
    sh = shared or Shared()
    try:
        up = await _icmp_sweep(hosts, sh, icmp_timeout, privileged)
    finally:
        if own:
            await sh.aclose()
    limiter = RequestLimiter(concurrency)
    engines = EnginePool()
    found: dict[str, dict[Oid, tuple[int, object]]] = {}
    scalars: dict[str, dict[Oid, str]] = {}
    answered: dict[str, set[Oid]] = {}
    profiles = ProfileSet(load_builtin_profiles())
    vendors = load_vendors()

    async def ask(host: str) -> None:
        try:
            session = await open_session(
                host,
                opts.port,
                creds,
                timeout=snmp_timeout,
                retries=0,
                limiter=limiter,
                engines=engines,
            )
            try:
                got = await get(session, [SYS_OBJECT_ID, SYS_NAME, SYS_DESCR, SYS_SERVICES])
                found[host] = got
                sys_oid, descr = _system(got)
                oids = vendors.scalar_oids(sys_oid)
                scalars[host] = {
                    o: render(*vb, "text") for o, vb in (await get(session, oids)).items()
                }
                answered[host] = await health_probe(
                    session, profiles.probe_oids(sys_oid, descr), set()
                )
            finally:
                await session.aclose()
        except ClientError:
            return

    try:
        async with asyncio.TaskGroup() as tg:
            for host in up:
                tg.create_task(ask(host))
    finally:
        await engines.aclose()
    snmp_block = _snippet_options(raw, opts)
    targets: list[dict[str, object]] = []
    used: set[str] = set()
    for host in sorted(up, key=ipaddress.ip_address):
        got = found.get(host)
        if got is None:
            targets.append(
                {
                    "name": _unique(f"host-{host}", used),
                    "address": host,
                    "kind": "other",
                    "collectors": {"icmp": {}},
                }
            )
            continue
        sys_oid, descr = _system(got)
        sysname = render(*got[SYS_NAME], "text") if SYS_NAME in got else ""
        services = got.get(SYS_SERVICES)
        chosen = list(profiles.auto(sys_oid, descr, answered.get(host, set())))
        ident = vendors.identify(sys_oid, descr, scalars.get(host, {}))
        kind = ident.kind or _guess_kind(
            chosen, services[1] if services and isinstance(services[1], int) else 0, descr
        )
        one_line = " ".join(descr.split())
        entry: dict[str, object] = {
            "name": _unique(_NAME_OK.sub("-", sysname).strip("-.") or f"snmp-{host}", used),
            "address": host,
            "kind": kind,
            "description": _description(ident, one_line, sys_oid),
            "collectors": {"icmp": {}, "snmp": {**snmp_block, "profiles": chosen}},
        }
        targets.append(entry)
    header = (
        f"# monitord discover {cidr}: {len(hosts)} addresses, {len(up)} answered ICMP, "
        f"{len(found)} answered SNMP\n"
    )
    if not targets:
        return header + "targets: []\n"
    return header + yaml.safe_dump(
        {"targets": targets}, sort_keys=False, allow_unicode=True, width=120
    )


async def _icmp_sweep(
    hosts: Sequence[str], shared: Shared, timeout: float, privileged: bool | None
) -> list[str]:
    """The hosts that answer one echo request within `timeout`, via the icmp collector."""
    from collectors import COLLECTORS  # the registry: no import of another collector module

    icmp = COLLECTORS["icmp"](
        {
            "count": 1,
            "packet_timeout": timeout,
            "privileged": "auto" if privileged is None else privileged,
        },
        shared,
    )
    alive: list[str] = []

    async def ping(host: str) -> None:
        try:
            await icmp.collect(Target(host, host))
        except PermissionDenied:
            raise
        except CollectorError:  # no reply, no route: not alive
            return
        alive.append(host)

    try:
        async with asyncio.TaskGroup() as tg:
            for host in hosts:
                tg.create_task(ping(host))
    except* PermissionDenied as group:
        raise group.exceptions[0] from None
    return alive


def _system(got: Mapping[Oid, tuple[int, object]]) -> tuple[Oid | None, str]:
    oid_vb = got.get(SYS_OBJECT_ID)
    sys_oid = oid_vb[1] if oid_vb is not None and isinstance(oid_vb[1], tuple) else None
    return sys_oid, render(*got[SYS_DESCR], "text") if SYS_DESCR in got else ""


def _description(ident: Identity, descr: str, sys_oid: Oid | None) -> str:
    what = " ".join(x for x in (ident.vendor, ident.model, ident.os, ident.version) if x)
    where = f"sysObjectID {oid_text(sys_oid) if sys_oid else '?'}"
    return f"{what} ({where})" if what else f"{descr[:80]} ({where})"


def _snippet_options(raw: Mapping[str, object], opts: Options) -> dict[str, object]:
    out: dict[str, object] = {"version": str(opts.version)}
    if opts.port != 161:
        out["port"] = opts.port
    placeholders = {
        "community": "${SNMP_COMMUNITY}",
        "auth_key": "${SNMP_AUTH_KEY}",
        "priv_key": "${SNMP_PRIV_KEY}",
    }
    for key in CREDENTIAL_FIELDS:
        value = raw.get(key)
        if value in (None, ""):
            continue
        if key in placeholders:
            text = value if isinstance(value, str) else ""
            out[key] = text if text.startswith(("${", "file:")) else placeholders[key]
        else:
            out[key] = value
    return out


def _unique(name: str, used: set[str]) -> str:
    base, n = name, 2
    while name in used:
        name = f"{base}-{n}"
        n += 1
    used.add(name)
    return name


def _guess_kind(profiles: Sequence[str], services: int, descr: str) -> str:
    if "ups" in profiles or "ups_apc" in profiles:
        return "ups"
    low = descr.lower()
    if any(w in low for w in ("fortigate", "firewall", "asa ", "pan-os", "srx")):
        return "firewall"
    if "printer" in low or "jetdirect" in low:
        return "printer"
    if "host_resources" in profiles:
        return "server"
    if (
        services & 0x02 and not services & 0x40
    ):  # bridging, no end-to-end services: a switch (L2 or L3)
        return "switch"
    if services & 0x04:
        return "router"
    if services & 0x40:
        return "server"
    return "switch" if services & 0x02 else "other"


def _describe(samples: Sequence[Sample], lines: list[str]) -> None:
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_name[s.name].append(s)
    for s in by_name.pop("monitord_snmp_info", []):
        for k in ("sysname", "sysdescr", "sysobjectid", "syslocation"):
            lines.append(f"  {k:12} {s.labels.get(k, '')!s}".replace("\n", " "))
    for s in by_name.pop("monitord_device_info", []):
        for k in ("vendor", "os", "version", "model", "serial"):
            lines.append(f"  {k:12} {s.labels.get(k, '')!s}")
    for s in by_name.pop("monitord_device_uptime_seconds", []):
        lines.append(f"  {'uptime':12} {s.value:.0f} s")
    info = by_name.pop("monitord_interface_info", [])
    if info:
        values: dict[tuple[str, str], dict[str, object]] = defaultdict(dict)
        for name in [n for n in by_name if n.startswith("monitord_interface_")]:
            for s in by_name.pop(name):
                values[(s.labels["ifindex"], s.labels["ifname"])][
                    name[len("monitord_interface_") :]
                ] = s.value
        lines.append(f"  interfaces: {len(info)}")
        lines.append(
            f"    {'ifindex':>8} {'ifname':20} {'type':16} {'oper':4} {'speed B/s':>12} "
            f"{'in bytes':>20} {'out bytes':>20}  alias"
        )
        for s in sorted(
            info, key=lambda x: int(x.labels["ifindex"]) if x.labels["ifindex"].isdigit() else 0
        ):
            v = values[(s.labels["ifindex"], s.labels["ifname"])]
            oper = {1: "up", 0: "down"}.get(v.get("oper_up"), "?")  # type: ignore[call-overload]
            lines.append(
                f"    {s.labels['ifindex']:>8} {s.labels['ifname'][:20]:20} "
                f"{s.labels['iftype'][:16]:16} {oper:4} "
                f"{v.get('speed_bytes', ''):>12} {v.get('in_bytes_total', ''):>20} "
                f"{v.get('out_bytes_total', ''):>20}"
                f"  {s.labels['ifalias']}"
            )
    for name in sorted(by_name):
        if name.startswith("monitord_snmp_") and name not in ("monitord_snmp_max_repetitions",):
            continue
        lines.append(f"  {name}:")
        for s in by_name[name]:
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items() if k != "target")
            value = (
                "1"
                if s.kind is SampleKind.INFO
                else f"{s.value:g}"
                if isinstance(s.value, float)
                else str(s.value)
            )
            lines.append(f"    {{{labels}}} {value}")
