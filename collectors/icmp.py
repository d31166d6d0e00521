"""ICMP reachability, round-trip time, jitter and loss, over one shared socket per family.

Emits (per target; `target` is the only label):
  monitord_icmp_packets_sent_total      counter, echo requests of the poll (increment)
  monitord_icmp_packets_received_total  counter, echo replies of the poll (increment)
  monitord_icmp_packet_loss_ratio       gauge 0-1, last poll
  monitord_icmp_rtt_seconds             gauge, mean RTT of the last poll       (>= 1 reply)
  monitord_icmp_rtt_min_seconds         gauge, lowest RTT of the last poll     (>= 1 reply)
  monitord_icmp_rtt_max_seconds         gauge, highest RTT of the last poll    (>= 1 reply)
  monitord_icmp_jitter_seconds          gauge, mean |RTT[i] - RTT[i-1]|        (>= 2 replies)
Series budget: 7 per target, whatever its kind.

The echo engine (one shared socket per family and mode, batching, delay lines, kernel
timestamps, raw or ping sockets) is `collectors._pinger.Pinger`, shared with `discovery`.
Keep `(count - 1) * packet_interval + packet_timeout` below the job's `timeout`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from collectors._pinger import (
    MAX_PAYLOAD,
    PINGER_KEY,
    EchoSummary,
    Family,
    Pinger,
    Resolved,
    resolve,
    summarize,
)
from monitord.config import Duration, parse_options
from monitord.errors import (
    ConfigError,
    TargetUnreachable,
)
from monitord.types import (
    MetricSpec,
    Reach,
    Role,
    Sample,
    SampleKind,
    Shared,
    Target,
    role,
    with_roles,
)

__all__ = ["KIND", "IcmpCollector", "Options", "build"]

KIND: Final = "icmp"
MAX_COUNT: Final = 100
_MAX_CACHED: Final = 1 << 16  # addresses and labels mappings kept per collector


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the icmp collector; the defaults here are the documented defaults."""

    count: int = 3  # echo requests per poll
    packet_interval: Duration = 0.2  # between two echo requests to the same target
    packet_timeout: Duration = 1.0  # a reply later than this after its request is lost
    privileged: bool | Literal["auto"] = "auto"  # raw socket, ping socket, or detect
    payload_size: int = 56  # bytes after the 8-byte ICMP header
    family: Family = Family.AUTO  # for host names; literal addresses pick their own


_PLAIN: tuple[MetricSpec, ...] = (
    MetricSpec(
        "monitord_icmp_packets_sent_total",
        SampleKind.COUNTER,
        "ICMP echo requests sent to the target (a request the kernel refused to send counts "
        "as sent and lost).",
    ),
    MetricSpec(
        "monitord_icmp_packets_received_total",
        SampleKind.COUNTER,
        "ICMP echo replies received from the target within packet_timeout.",
    ),
    MetricSpec(
        "monitord_icmp_packet_loss_ratio",
        SampleKind.GAUGE,
        "Share of the echo requests of the last poll without a reply (0-1).",
        unit="ratio",
    ),
    MetricSpec(
        "monitord_icmp_rtt_seconds",
        SampleKind.GAUGE,
        "Mean ICMP echo round-trip time of the replies of the last poll.",
        unit="seconds",
    ),
    MetricSpec(
        "monitord_icmp_rtt_min_seconds",
        SampleKind.GAUGE,
        "Lowest ICMP echo round-trip time of the last poll.",
        unit="seconds",
    ),
    MetricSpec(
        "monitord_icmp_rtt_max_seconds",
        SampleKind.GAUGE,
        "Highest ICMP echo round-trip time of the last poll.",
        unit="seconds",
    ),
    MetricSpec(
        "monitord_icmp_jitter_seconds",
        SampleKind.GAUGE,
        "ICMP jitter of the last poll: mean absolute difference between consecutive "
        "round-trip times (replies in send order; needs two replies).",
        unit="seconds",
    ),
)
METRICS: tuple[MetricSpec, ...] = with_roles(
    _PLAIN,
    {
        "monitord_icmp_rtt_seconds": role(Role.DISTRIBUTION, rollup="rtt"),
        "monitord_icmp_rtt_max_seconds": role(Role.DISTRIBUTION_MAX, rollup="rtt"),
        "monitord_icmp_packet_loss_ratio": role(Role.DISTRIBUTION, rollup="loss"),
    },
)


class IcmpCollector:
    """Poll one target with `count` echo requests; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 0  # the reports: lowest rank = device availability
    reach: ClassVar[Reach] = Reach.DEVICE
    concurrency: ClassVar[int] = 1024  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = METRICS

    def __init__(self, options: Options, shared: Shared) -> None:
        self.options = options
        self._shared = shared
        # What resolve() gave for the literal addresses polled (a literal never resolves
        # otherwise; host names are resolved at every poll), and the labels mapping of
        # each target, handed again poll after poll so that the state keys the series
        # without sorting their labels again. One entry per target polled.
        self._literals: dict[str, Resolved] = {}
        self._labels: dict[str, dict[str, str]] = {}

    async def collect(self, target: Target) -> list[Sample]:
        """Send `count` echo requests to the target and summarise the replies."""
        opts = self.options
        found = self._literals.get(target.address)
        if found is None:
            found = await resolve(target.address, opts.family)
            if found[1] == target.address:  # a literal in canonical form
                if len(self._literals) >= _MAX_CACHED:
                    self._literals.clear()
                self._literals[target.address] = found
        family, address, sockaddr = found
        pinger = self._shared.get(PINGER_KEY, Pinger)
        rtts, send_error = await pinger.ping(
            family,
            address,
            sockaddr,
            privileged=opts.privileged,
            count=opts.count,
            interval=opts.packet_interval,
            timeout=opts.packet_timeout,
            payload_size=opts.payload_size,
        )
        summary = summarize(rtts)
        labels = self._labels.get(target.name)
        if labels is None:
            if len(self._labels) >= _MAX_CACHED:
                self._labels.clear()
            labels = self._labels[target.name] = {"target": target.name}
        samples = _samples(labels, summary)
        if summary.received == 0:
            shown = address if address == target.address else f"{target.address} ({address})"
            why = f"; send failed: {os.strerror(send_error)}" if send_error else ""
            raise TargetUnreachable(
                f"no echo reply from {shown} ({summary.sent}/{summary.sent} lost){why}",
                samples=samples,
            )
        return samples


def build(options: Mapping[str, object], shared: Shared) -> IcmpCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    if not 1 <= opts.count <= MAX_COUNT:
        raise ConfigError(f"must be between 1 and {MAX_COUNT}", field="count")
    if not 0 <= opts.payload_size <= MAX_PAYLOAD:
        raise ConfigError(f"must be between 0 and {MAX_PAYLOAD} bytes", field="payload_size")
    return IcmpCollector(opts, shared)


def _samples(labels: Mapping[str, str], s: EchoSummary) -> list[Sample]:
    out = [
        Sample(
            "monitord_icmp_packets_sent_total", labels, s.sent, SampleKind.COUNTER, increment=True
        ),
        Sample(
            "monitord_icmp_packets_received_total",
            labels,
            s.received,
            SampleKind.COUNTER,
            increment=True,
        ),
        Sample("monitord_icmp_packet_loss_ratio", labels, s.loss),
    ]
    if s.rtt_avg is not None and s.rtt_min is not None and s.rtt_max is not None:
        out.append(Sample("monitord_icmp_rtt_seconds", labels, s.rtt_avg))
        out.append(Sample("monitord_icmp_rtt_min_seconds", labels, s.rtt_min))
        out.append(Sample("monitord_icmp_rtt_max_seconds", labels, s.rtt_max))
    if s.jitter is not None:
        out.append(Sample("monitord_icmp_jitter_seconds", labels, s.jitter))
    return out
