"""TCP port policy of a target: ports that must be open (service up) and ports that must be closed.

Each listed port gets one TCP connect, all concurrently, each bounded by `connect_timeout`:
  accepted                      -> open (the connection is closed right away, nothing is sent)
  refused (RST)                 -> closed
  no answer within the timeout  -> filtered: a firewall drops the SYN. For the policy a
                                   filtered port counts as closed (nobody can connect to it),
                                   and `monitord_tcp_port_filtered` says which it was
  host/network unreachable      -> closed for the policy, like filtered
A violation is data, not a poll failure: the poll succeeds and
`monitord_policy_violation{check,port}` is 1. The poll fails only when the address does not
resolve (NameResolutionFailed) or when the kernel reports every port unreachable (no route,
no ARP answer: TargetUnreachable, with the samples).

Policies are per target; for a per-site policy put it once in the YAML with an anchor
(`tcp: &policy_centro {...}`) and reuse it (`tcp: *policy_centro`). Ports are probed from
the monitoring host, so "must be closed" means "closed as seen from the monitoring network".
UDP services (SNMP write access, TFTP) cannot be judged by a TCP connect: see snmp_hygiene.

Emits (per listed port; labels target, port):
  monitord_tcp_port_open                        1 when a connection was accepted
  monitord_tcp_port_filtered                    1 when the connect got no answer at all
  monitord_tcp_connect_seconds                  time to accept (open ports only)
  monitord_policy_violation{target,check,port}  check = tcp_must_be_open | tcp_must_be_closed
Series budget: at most 4 per listed port (the default example, 4 ports: 16).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final

from collectors._checks import VIOLATION_SPEC, resolve, violation
from monitord.config import Duration, parse_options
from monitord.errors import ConfigError, TargetUnreachable
from monitord.types import MetricSpec, Reach, Role, Sample, SampleKind, Shared, Target

__all__ = ["KIND", "MAX_PORTS", "Options", "PolicyCheck", "PortState", "TcpCollector", "build"]

KIND: Final = "tcp"
MAX_PORTS: Final = 256
_UNREACHABLE: Final = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN})


class PolicyCheck(StrEnum):
    """The `check` label values of monitord_policy_violation emitted by this collector."""

    MUST_BE_OPEN = "tcp_must_be_open"
    MUST_BE_CLOSED = "tcp_must_be_closed"


class PortState(StrEnum):
    """What one connect attempt found."""

    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the tcp collector; the defaults here are the documented defaults."""

    must_be_open: tuple[int, ...] = ()  # service ports that must accept connections
    must_be_closed: tuple[int, ...] = ()  # e.g. [21, 23, 445, 3389] from the monitoring network
    connect_timeout: Duration = 2.0  # per port; keep below the job's `timeout`


class TcpCollector:
    """Check one target's TCP port policy; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 5  # the reports: lowest rank = device availability
    reach: ClassVar[Reach] = Reach.DEVICE
    # Security checks a successful poll runs (capability RunsChecks; history check names).
    checks: ClassVar[tuple[str, ...]] = (
        "ports.must_be_closed",
        "ports.must_be_open",
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "monitord_tcp_port_open",
            SampleKind.GAUGE,
            "1 when a TCP connection to the port was accepted in the last poll, 0 when it was "
            "refused, dropped or unreachable.",
            labels=("target", "port"),
        ),
        MetricSpec(
            "monitord_tcp_port_filtered",
            SampleKind.GAUGE,
            "1 when the TCP connect got no answer within connect_timeout (a firewall drops it), "
            "last poll.",
            labels=("target", "port"),
            roles=frozenset({Role.CHECK_INPUT}),
            rollup="port_filtered",
        ),
        MetricSpec(
            "monitord_tcp_connect_seconds",
            SampleKind.GAUGE,
            "Time for the TCP connection to be accepted (open ports only), last poll.",
            labels=("target", "port"),
            unit="seconds",
        ),
        VIOLATION_SPEC,
    )

    def __init__(self, options: Options) -> None:
        self.options = options

    async def collect(self, target: Target) -> list[Sample]:
        """Connect to every listed port concurrently and judge the policy."""
        opts = self.options
        family, sockaddr = await resolve(target.address, None, socket.SOCK_STREAM)
        ports = sorted({*opts.must_be_open, *opts.must_be_closed})
        async with asyncio.TaskGroup() as tg:
            tasks = {
                port: tg.create_task(_probe(family, sockaddr, port, opts.connect_timeout))
                for port in ports
            }
        results = {port: task.result() for port, task in tasks.items()}
        samples = _samples(target.name, results, opts)
        if results and all(state is PortState.UNREACHABLE for state, _ in results.values()):
            raise TargetUnreachable(
                f"every tcp connect to {target.address} failed with host or network "
                f"unreachable ({len(results)} ports); check the route to the target",
                samples=samples,
            )
        return samples


def build(options: Mapping[str, object], shared: Shared) -> TcpCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    for fld in ("must_be_open", "must_be_closed"):
        for i, port in enumerate(getattr(opts, fld)):
            if not 0 < port < 65536:
                raise ConfigError(f"port {port} out of range 1-65535", field=f"{fld}[{i}]")
    both = sorted(set(opts.must_be_open) & set(opts.must_be_closed))
    if both:
        raise ConfigError(
            f"port(s) {', '.join(map(str, both))} cannot be both open and closed",
            field="must_be_closed",
        )
    ports = set(opts.must_be_open) | set(opts.must_be_closed)
    if not ports:
        raise ConfigError("list at least one port in must_be_open or must_be_closed")
    if len(ports) > MAX_PORTS:
        raise ConfigError(
            f"{len(ports)} ports listed; at most {MAX_PORTS} per target", field="must_be_closed"
        )
    return TcpCollector(opts)


# -- private helpers -----------------------------------------------------------------------


async def _probe(
    family: int, sockaddr: tuple[object, ...], port: int, timeout: float
) -> tuple[PortState, float]:
    """One non-blocking connect; return its outcome and, when open, the time it took."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (sockaddr[0], port, *sockaddr[2:]))
        except TimeoutError:
            return PortState.FILTERED, 0.0
        except ConnectionRefusedError:
            return PortState.CLOSED, 0.0
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                return PortState.UNREACHABLE, 0.0
            return PortState.FILTERED, 0.0
        return PortState.OPEN, time.perf_counter() - start
    finally:
        sock.close()


def _samples(
    name: str, results: Mapping[int, tuple[PortState, float]], opts: Options
) -> list[Sample]:
    out: list[Sample] = []
    for port, (state, seconds) in results.items():
        labels = {"target": name, "port": str(port)}
        is_open = state is PortState.OPEN
        out.append(Sample("monitord_tcp_port_open", labels, float(is_open)))
        out.append(Sample("monitord_tcp_port_filtered", labels, float(state is PortState.FILTERED)))
        if is_open:
            out.append(Sample("monitord_tcp_connect_seconds", labels, seconds))
        if port in opts.must_be_open:
            check, violated = PolicyCheck.MUST_BE_OPEN, not is_open
        else:
            check, violated = PolicyCheck.MUST_BE_CLOSED, is_open
        out.append(violation(name, check, violated, str(port)))
    return out
