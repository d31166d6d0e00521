"""A DNS check written only against docs/development.md ("Add a collector").

Sends one DNS query (type A) over UDP to the target's address and reads the header
of the reply. Emits, per target:
- `monitord_dns_response_seconds`: time to the reply (role DISTRIBUTION, kept by the
  history as the daily distribution `dns_rtt`);
- `monitord_dns_answers`: answer records in the reply.
A reply with RCODE != 0 is a failure (`MalformedResponse`), no reply a `TargetTimeout`.
Series budget: 2 per target. Needs no privileges.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from monitord.config import parse_options
from monitord.errors import MalformedResponse, TargetTimeout
from monitord.types import MetricSpec, Role, Sample, SampleKind, Shared, Target, role, with_roles

__all__ = ["KIND", "METRICS", "DnsCollector", "Options", "build"]

KIND: Final = "dns"

METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    (
        MetricSpec(
            "monitord_dns_response_seconds",
            SampleKind.GAUGE,
            "Time from the DNS query (type A, UDP) to its reply; value from the last poll.",
            unit="seconds",
        ),
        MetricSpec(
            "monitord_dns_answers",
            SampleKind.GAUGE,
            "Answer records in the reply (DNS header ANCOUNT); value from the last poll.",
        ),
    ),
    {"monitord_dns_response_seconds": role(Role.DISTRIBUTION, rollup="dns_rtt")},
)


@dataclass(frozen=True, slots=True)
class Options:
    """`port`: the server's UDP port; `name`: the name asked for."""

    port: int = 53
    name: str = "monitord.example.gov.co"


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.data: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.data.done():
            self.data.set_result(data)


class DnsCollector:
    """One query per poll; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    metrics: ClassVar[tuple[MetricSpec, ...]] = METRICS

    def __init__(self, options: Options) -> None:
        self.options = options

    async def collect(self, target: Target) -> list[Sample]:
        """Ask for `options.name`; the runner's deadline bounds the wait."""
        query_id = 0x4D44
        qname = b"".join(bytes([len(p)]) + p.encode() for p in self.options.name.split("."))
        packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + qname + b"\0\0\1\0\1"
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        transport, proto = await loop.create_datagram_endpoint(
            _Reply, remote_addr=(target.address, self.options.port)
        )
        try:
            transport.sendto(packet)
            try:
                data = await asyncio.wait_for(proto.data, timeout=2.0)
            except TimeoutError as exc:
                raise TargetTimeout(f"no DNS reply from {target.address}") from exc
        finally:
            transport.close()
        elapsed = time.monotonic() - start
        if len(data) < 12:
            raise MalformedResponse(f"short DNS reply ({len(data)} bytes)")
        rid, flags, _, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
        if rid != query_id or flags & 0x000F:
            raise MalformedResponse(f"DNS reply id={rid} rcode={flags & 0x000F}")
        labels = {"target": target.name}
        return [
            Sample("monitord_dns_response_seconds", labels, elapsed),
            Sample("monitord_dns_answers", labels, float(ancount)),
        ]


def build(options: Mapping[str, object], shared: Shared) -> DnsCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    return DnsCollector(parse_options(Options, options))
