"""Unknown devices: sweep configured address ranges and list who answers but is not inventoried.

One poll probes every address of `ranges` (minus `exclude`; network and broadcast addresses
of IPv4 ranges wider than /31 and IPv6 subnet-router anycast addresses are skipped) and
reports the addresses that answer and are not known. Known addresses are `known` plus the
configured targets' addresses, which the config loader hands over in
`shared.settings["target_addresses"]` (names among them are resolved at poll time);
`monitord.findings` filters again against the inventory of the snapshot.

Probes, cheapest first:
  ICMP echo (one request, `probe_timeout`) through the daemon's shared pinger of the icmp
  collector (one socket for everything). `icmp: auto` uses it when the process may open an
  ICMP socket (raw or ping socket) and skips it otherwise; `true` requires it.
  TCP connects to `tcp_ports` for the addresses ICMP did not show: an accepted connection
  and a refusal (RST) both prove a host is there, as many hosts drop ICMP but still answer
  TCP. Empty `tcp_ports` disables this probe.
At most `concurrency` probes (echo requests or connects) are in flight, so when nothing
answers a sweep takes about ceil(addresses / concurrency) x probe_timeout for ICMP plus
ceil(silent addresses x ports / concurrency) x probe_timeout for TCP: a /22 with the
defaults, all silent, 4 s + 20 s. Give the job a `timeout` above that (60s for a /22, 120s
for a /20). A sweep is bounded to 4,096 addresses (a /20) per job: beyond, the config is
refused.

The target this collector is attached to only names the sweep (e.g. `sweep-centro`); its
own address is not used. Emits (per target):
  monitord_discovery_addresses_scanned                         addresses probed
  monitord_discovery_hosts_up                                  addresses that answered
  monitord_discovery_unknown_hosts                             of those, not known
  monitord_discovery_unknown_host_info{target,address}         1 per unknown address
                                                               (the first `max_listed`)
  monitord_policy_violation{target,check="unknown_device",port=""}  1 while any is unknown
Series budget: 4 + min(unknown hosts, max_listed), i.e. at most 260 with the defaults.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from collectors._checks import VIOLATION_SPEC, violation
from collectors._pinger import PINGER_KEY, Pinger
from monitord.config import Duration, parse_options
from monitord.errors import ConfigError, PermissionDenied
from monitord.types import MetricSpec, Role, Sample, SampleKind, Shared, Target

__all__ = [
    "KIND",
    "KNOWN_ADDRESSES_KEY",
    "MAX_ADDRESSES",
    "DiscoveryCollector",
    "Options",
    "build",
    "sweep_addresses",
]

KIND: Final = "discovery"
MAX_ADDRESSES: Final = 4096  # a /20
KNOWN_ADDRESSES_KEY: Final = "target_addresses"
CHECK: Final = "unknown_device"
_PAYLOAD: Final = 56

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the discovery collector; the defaults here are the documented defaults."""

    ranges: tuple[str, ...]  # CIDR ranges to sweep, e.g. [10.20.0.0/22]
    exclude: tuple[str, ...] = ()  # CIDRs or addresses never probed (e.g. a guest DHCP pool)
    known: tuple[str, ...] = ()  # addresses known though not targets (printers, phones...)
    icmp: bool | Literal["auto"] = "auto"  # echo probe through the shared pinger
    tcp_ports: tuple[int, ...] = (22, 80, 443, 445, 3389)  # any answer, even RST, = a host
    probe_timeout: Duration = 1.0
    concurrency: int = 256  # probes in flight
    max_listed: int = 256  # unknown addresses listed as series (the count is always exact)


class DiscoveryCollector:
    """Sweep the ranges once; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    # Security checks a successful poll runs (capability RunsChecks; history check names).
    checks: ClassVar[tuple[str, ...]] = ("discovery.unknown_device",)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "monitord_discovery_addresses_scanned",
            SampleKind.GAUGE,
            "Addresses probed by the last sweep (ranges minus exclusions).",
        ),
        MetricSpec(
            "monitord_discovery_hosts_up",
            SampleKind.GAUGE,
            "Addresses that answered ICMP echo or TCP (accept or reset) in the last sweep.",
        ),
        MetricSpec(
            "monitord_discovery_unknown_hosts",
            SampleKind.GAUGE,
            "Addresses that answered in the last sweep and are no target's nor a known address.",
        ),
        MetricSpec(
            "monitord_discovery_unknown_host_info",
            SampleKind.INFO,
            "An address that answered in the last sweep and is not in the inventory (value 1; "
            "the first max_listed, in address order).",
            labels=("target", "address"),
            roles=frozenset({Role.CHECK_INPUT}),
            rollup="unknown_host",
        ),
        VIOLATION_SPEC,
    )

    def __init__(self, options: Options, addresses: Sequence[IPAddress], shared: Shared) -> None:
        self.options = options
        self._addresses = addresses
        self._shared = shared

    async def collect(self, target: Target) -> list[Sample]:
        """Probe every address (ICMP, then TCP for the silent ones) and list the unknown."""
        opts = self.options
        sem = asyncio.Semaphore(opts.concurrency)
        alive: set[IPAddress] = set()
        if opts.icmp is not False:
            alive |= await self._icmp_sweep(sem)
        if opts.tcp_ports:
            rest = [a for a in self._addresses if a not in alive]
            alive |= await _tcp_sweep(rest, opts.tcp_ports, opts.probe_timeout, sem)
        known = await self._known()
        unknown = sorted(a for a in alive if a not in known)
        return _samples(target.name, len(self._addresses), len(alive), unknown, opts.max_listed)

    async def _icmp_sweep(self, sem: asyncio.Semaphore) -> set[IPAddress]:
        opts = self.options
        pinger = self._shared.get(PINGER_KEY, Pinger)
        privileged: bool | Literal["auto"] = "auto" if opts.icmp == "auto" else True
        families = {_family(a) for a in self._addresses}
        try:
            for family in families:
                pinger.mode(family, privileged)
        except PermissionDenied:
            if opts.icmp == "auto":
                return set()  # no ICMP socket allowed: TCP alone
            raise

        async def one(address: IPAddress) -> bool:
            family = _family(address)
            text = str(address)
            sockaddr: tuple[str, int] | tuple[str, int, int, int] = (
                (text, 0) if family == socket.AF_INET else (text, 0, 0, 0)
            )
            async with sem:
                rtts, _ = await pinger.ping(
                    family,
                    text,
                    sockaddr,
                    privileged=privileged,
                    count=1,
                    interval=0.0,
                    timeout=opts.probe_timeout,
                    payload_size=_PAYLOAD,
                )
            return any(r is not None for r in rtts)

        async with asyncio.TaskGroup() as tg:
            tasks = {a: tg.create_task(one(a)) for a in self._addresses}
        return {a for a, t in tasks.items() if t.result()}

    async def _known(self) -> set[IPAddress]:
        """`known` plus the targets' addresses (names resolved now; unresolvable ones skipped)."""
        raw = self._shared.settings.get(KNOWN_ADDRESSES_KEY, ())
        entries = [*self.options.known, *(raw if isinstance(raw, list | tuple | set) else ())]
        out: set[IPAddress] = set()
        names: list[str] = []
        for entry in entries:
            if not isinstance(entry, str):
                continue
            try:
                out.add(ipaddress.ip_address(entry))
            except ValueError:
                names.append(entry)
        if names:
            loop = asyncio.get_running_loop()

            async def resolve(name: str) -> list[str]:
                try:
                    async with asyncio.timeout(self.options.probe_timeout):
                        infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
                except (OSError, UnicodeError, TimeoutError):
                    return []
                return [str(i[4][0]) for i in infos]

            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(resolve(n)) for n in dict.fromkeys(names)]
            for t in tasks:
                out.update(ipaddress.ip_address(a.split("%")[0]) for a in t.result())
        return out


def build(options: Mapping[str, object], shared: Shared) -> DiscoveryCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    if not opts.ranges:
        raise ConfigError("list at least one CIDR range", field="ranges")
    ranges = [_network(text, f"ranges[{i}]") for i, text in enumerate(opts.ranges)]
    excluded = [_network(text, f"exclude[{i}]") for i, text in enumerate(opts.exclude)]
    for i, text in enumerate(opts.known):
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ConfigError(f"invalid address {text!r}", field=f"known[{i}]") from None
    for i, port in enumerate(opts.tcp_ports):
        if not 0 < port < 65536:
            raise ConfigError(f"port {port} out of range 1-65535", field=f"tcp_ports[{i}]")
    if opts.icmp is False and not opts.tcp_ports:
        raise ConfigError("no probe left: icmp is false and tcp_ports is empty", field="icmp")
    if not 1 <= opts.concurrency <= 4096:
        raise ConfigError("must be between 1 and 4096", field="concurrency")
    if not 0 <= opts.max_listed <= MAX_ADDRESSES:
        raise ConfigError(f"must be between 0 and {MAX_ADDRESSES}", field="max_listed")
    total = sum(n.num_addresses for n in ranges)
    if total > MAX_ADDRESSES:
        raise ConfigError(
            f"the ranges hold {total} addresses; a sweep is limited to {MAX_ADDRESSES} "
            f"(a /20): split them over several discovery jobs",
            field="ranges",
        )
    return DiscoveryCollector(opts, sweep_addresses(ranges, excluded), shared)


def sweep_addresses(
    ranges: Iterable[IPNetwork], exclude: Iterable[IPNetwork] = ()
) -> list[IPAddress]:
    """The addresses a sweep probes, sorted and unique: hosts of each range minus `exclude`.

    IPv4 ranges wider than /31 lose their network and broadcast addresses, IPv6 ranges their
    subnet-router anycast address (`ipaddress` `hosts()`).
    """
    excluded = list(exclude)
    seen: set[IPAddress] = set()
    for net in ranges:
        for address in net.hosts():
            if not any(address in ex for ex in excluded):
                seen.add(address)
    return sorted(seen, key=lambda a: (a.version, int(a)))


# -- private helpers -----------------------------------------------------------------------


def _network(text: str, fld: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"invalid CIDR range {text!r} (e.g. 10.20.0.0/22)", field=fld) from None


def _family(address: IPAddress) -> int:
    return socket.AF_INET if address.version == 4 else socket.AF_INET6


async def _tcp_sweep(
    addresses: Sequence[IPAddress], ports: Sequence[int], timeout: float, sem: asyncio.Semaphore
) -> set[IPAddress]:
    """Addresses where some port accepted or refused a connection."""

    async def answers(address: IPAddress, port: int) -> bool:
        async with sem:
            return await _tcp_answers(address, port, timeout)

    async with asyncio.TaskGroup() as tg:
        tasks = {(a, p): tg.create_task(answers(a, p)) for a in addresses for p in ports}
    return {a for (a, _), t in tasks.items() if t.result()}


async def _tcp_answers(address: IPAddress, port: int, timeout: float) -> bool:
    """True on accept or refusal (a host is there); False on silence or unreachable."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (str(address), port))
        return True
    except ConnectionRefusedError:
        return True
    except (TimeoutError, OSError):
        return False
    finally:
        sock.close()


def _samples(
    name: str, scanned: int, up: int, unknown: Sequence[IPAddress], max_listed: int
) -> list[Sample]:
    labels = {"target": name}
    out = [
        Sample("monitord_discovery_addresses_scanned", labels, float(scanned)),
        Sample("monitord_discovery_hosts_up", labels, float(up)),
        Sample("monitord_discovery_unknown_hosts", labels, float(len(unknown))),
        violation(name, CHECK, bool(unknown), ""),
    ]
    out.extend(
        Sample(
            "monitord_discovery_unknown_host_info",
            {"target": name, "address": str(a)},
            1.0,
            SampleKind.INFO,
        )
        for a in unknown[:max_listed]
    )
    return out
