"""Shared plumbing of the security-check collectors (tcp, snmp_hygiene, discovery, http).

Each of them reports its policy as `monitord_policy_violation{target,check,port}`: 1 while
the target violates `check`, 0 when checked and compliant. This module holds that series'
spec and the one way to build its sample, plus the address resolution tcp and snmp_hygiene
share. It imports only the vocabulary (`monitord.types`, `monitord.errors`).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final

from monitord.errors import NameResolutionFailed
from monitord.types import MetricSpec, Role, Sample, SampleKind

__all__ = ["VIOLATION", "VIOLATION_SPEC", "resolve", "violation"]

VIOLATION: Final = "monitord_policy_violation"
VIOLATION_SPEC: Final = MetricSpec(
    VIOLATION,
    SampleKind.GAUGE,
    "1 while the target violates the security policy `check` (on `port`), 0 when "
    "checked and compliant; last poll.",
    labels=("target", "check", "port"),
    roles=frozenset({Role.CHECK_INPUT}),
    rollup="violation",
)


def violation(name: str, check: str, violated: bool, port: str) -> Sample:
    """One `monitord_policy_violation` sample; `check` is a StrEnum member or a plain str."""
    return Sample(VIOLATION, {"target": name, "check": str(check), "port": port}, float(violated))


async def resolve(address: str, port: int | None, socktype: int) -> tuple[int, tuple[object, ...]]:
    """Resolve once; return the first IPv4 or IPv6 (family, sockaddr) getaddrinfo lists."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(address, port, type=socktype)
    except (socket.gaierror, UnicodeError) as exc:
        raise NameResolutionFailed(
            f"cannot resolve {address!r}; check the target address and the resolver"
        ) from exc
    for fam, _, _, _, sockaddr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            return fam, tuple(sockaddr)
    raise NameResolutionFailed(f"{address!r} has no IPv4 or IPv6 address")
