"""The `events:` config section: where the daemon listens for traps and syslog, and limits.

Everything is off by default: a receiver runs only when its listen address is set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from monitord.configtypes import Duration, SecretValue, StrictModel

__all__ = [
    "EventsConfig",
    "SyslogConfig",
    "TlsListenConfig",
    "TrapUserConfig",
    "TrapsConfig",
    "engine_id_hex",
    "patterns_path",
]


def engine_id_hex(text: str) -> str:
    """An SNMP engine ID given in hex (`0x8000...`, `80:00:...`, `8000...`) → lowercase hex.

    Raise ValueError unless it is 5 to 32 octets (RFC 3411).
    """
    raw = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        raise ValueError(f"engine ID {text!r} is not hexadecimal") from None
    if not 5 <= len(value) <= 32:
        raise ValueError(f"engine ID {text!r} must be 5 to 32 octets (RFC 3411)")
    return value.hex()


def _listen(value: str | None) -> str | None:
    if value is None:
        return None
    from monitord.config import parse_listen

    parse_listen(value)
    return value


class TrapUserConfig(StrictModel):
    """`events.traps.users[]:` — an SNMPv3 user whose traps and informs are accepted."""

    auth: str  # the name of a version 3 entry of `snmp.auths` (user, protocols, keys)
    # Traps: the senders' engine IDs (hex, `snmptrap -e`) this user may send from;
    # empty: any engine (its ID is read from the message and the keys localised to it).
    engine_ids: list[str] = []

    @field_validator("engine_ids")
    @classmethod
    def _check_engines(cls, v: list[str]) -> list[str]:
        return [engine_id_hex(e) for e in v]


class TrapsConfig(StrictModel):
    """`events.traps:` — SNMP traps and informs (UDP): v1/v2c communities, v3 users."""

    listen: str | None = None  # e.g. "0.0.0.0:162" (port 162 needs CAP_NET_BIND_SERVICE)
    # Accepted communities (${ENV} or file: references); empty: any community is accepted.
    communities: list[SecretValue] = []
    # SNMPv3 (USM) users, by name of their `snmp.auths` entry; none: v3 messages dropped.
    users: list[TrapUserConfig] = []
    # The receiver's own engine ID (hex), the one v3 informs are sent to. Unset: one is
    # made up on first start and kept, with the boot counter, in DATA_DIR/snmp_engine.json.
    engine_id: str | None = None

    @field_validator("engine_id")
    @classmethod
    def _check_engine(cls, v: str | None) -> str | None:
        return None if v is None else engine_id_hex(v)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, v: str | None) -> str | None:
        return _listen(v)


class TlsListenConfig(StrictModel):
    """`events.syslog.tls:` — syslog over TLS (RFC 5425), octet-counted frames."""

    listen: str  # e.g. "0.0.0.0:6514" (the RFC 5425 port)
    cert_file: Path  # PEM certificate chain of this receiver
    key_file: Path  # its PEM private key
    # PEM CA bundle: when set, senders must present a certificate it signed (mutual TLS).
    client_ca_file: Path | None = None
    handshake_timeout: Duration = 10.0

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, v: str) -> str:
        _listen(v)
        return v


class SyslogConfig(StrictModel):
    """`events.syslog:` — RFC 3164 / RFC 5424 messages over UDP, TCP and TLS."""

    udp: str | None = None  # e.g. "0.0.0.0:514"
    tcp: str | None = None  # octet-counted (RFC 6587) or newline-framed
    tls: TlsListenConfig | None = None  # RFC 5425; paths relative to the config file
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
    # monitord_device_unplanned_config_changes window: how long device_config_changed fires
    config_change_window: Duration = 600.0
    repoll_on_link_change: bool = True  # linkDown/linkUp: poll the target's snmp job now
    patterns: Path | None = None  # extra YAML table, read before the built-in one

    @property
    def enabled(self) -> bool:
        """True when at least one receiver listens."""
        return bool(self.traps.listen or self.syslog.udp or self.syslog.tcp or self.syslog.tls)

    @model_validator(mode="after")
    def _distinct_ports(self) -> EventsConfig:
        if self.traps.listen and self.syslog.udp and self.traps.listen == self.syslog.udp:
            raise ValueError("traps.listen and syslog.udp cannot share one UDP address")
        if self.syslog.tcp and self.syslog.tls and self.syslog.tcp == self.syslog.tls.listen:
            raise ValueError("syslog.tcp and syslog.tls cannot share one TCP address")
        return self


def patterns_path(config_path: str | Path, events: EventsConfig) -> Path | None:
    """`events.patterns` resolved against the directory of the config file."""
    if events.patterns is None:
        return None
    return Path(config_path).parent / events.patterns
