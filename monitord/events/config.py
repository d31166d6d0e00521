"""The `events:` config section: where the daemon listens for traps and syslog, and limits.

Everything is off by default: a receiver runs only when its listen address is set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from monitord.configtypes import Duration, SecretValue, StrictModel

__all__ = ["EventsConfig", "SyslogConfig", "TrapsConfig", "patterns_path"]


def _listen(value: str | None) -> str | None:
    if value is None:
        return None
    from monitord.config import parse_listen

    parse_listen(value)
    return value


class TrapsConfig(StrictModel):
    """`events.traps:` — SNMP v1/v2c traps and informs (UDP)."""

    listen: str | None = None  # e.g. "0.0.0.0:162" (port 162 needs CAP_NET_BIND_SERVICE)
    # Accepted communities (${ENV} or file: references); empty: any community is accepted.
    communities: list[SecretValue] = []

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, v: str | None) -> str | None:
        return _listen(v)


class SyslogConfig(StrictModel):
    """`events.syslog:` — RFC 3164 / RFC 5424 messages over UDP and TCP."""

    udp: str | None = None  # e.g. "0.0.0.0:514"
    tcp: str | None = None  # octet-counted (RFC 6587) or newline-framed
    max_message_bytes: int = Field(8192, ge=480, le=65535)
    tcp_idle_timeout: Duration = 300.0
    max_tcp_connections: int = Field(256, ge=1, le=10_000)

    @field_validator("udp", "tcp")
    @classmethod
    def _check_listen(cls, v: str | None) -> str | None:
        return _listen(v)


class EventsConfig(StrictModel):
    """`events:` — the trap and syslog receiver, its limits, and what it keeps."""

    traps: TrapsConfig = TrapsConfig()
    syslog: SyslogConfig = SyslogConfig()
    rate_limit: float = Field(200.0, gt=0, le=1_000_000)  # messages/s per source address
    burst: int = Field(400, ge=1, le=1_000_000)  # token bucket size per source address
    queue_size: int = Field(10_000, ge=10, le=1_000_000)  # parsed messages waiting for the core
    dedupe_window: Duration = 60.0  # same device, same event within this: folded into one
    failed_logins_window: Duration = 600.0  # monitord_device_recent_failed_logins window
    repoll_on_link_change: bool = True  # linkDown/linkUp: poll the target's snmp job now
    patterns: Path | None = None  # extra YAML table, read before the built-in one

    @property
    def enabled(self) -> bool:
        """True when at least one receiver listens."""
        return bool(self.traps.listen or self.syslog.udp or self.syslog.tcp)

    @model_validator(mode="after")
    def _distinct_ports(self) -> EventsConfig:
        if self.traps.listen and self.syslog.udp and self.traps.listen == self.syslog.udp:
            raise ValueError("traps.listen and syslog.udp cannot share one UDP address")
        return self


def patterns_path(config_path: str | Path, events: EventsConfig) -> Path | None:
    """`events.patterns` resolved against the directory of the config file."""
    if events.patterns is None:
        return None
    return Path(config_path).parent / events.patterns
