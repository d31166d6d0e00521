"""The collectors table: kind -> factory. Adding a collector is one import and one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from collectors import (
    agent,
    discovery,
    host,
    http,
    icmp,
    mssql,
    mysql,
    oracle,
    postgres,
    snmp,
    snmp_hygiene,
    tcp,
)
from monitord.types import CollectorFactory

__all__ = ["COLLECTORS"]

COLLECTORS: Final[Mapping[str, CollectorFactory]] = {
    host.KIND: host.build,
    icmp.KIND: icmp.build,
    snmp.KIND: snmp.build,
    agent.KIND: agent.build,
    postgres.KIND: postgres.build,
    mysql.KIND: mysql.build,
    mssql.KIND: mssql.build,  # needs the mssql extra; says so at config load
    oracle.KIND: oracle.build,  # needs the oracle extra; says so at config load
    http.KIND: http.build,
    tcp.KIND: tcp.build,
    snmp_hygiene.KIND: snmp_hygiene.build,
    discovery.KIND: discovery.build,
}
