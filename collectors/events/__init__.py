"""Events the devices send on their own: SNMP traps and informs, syslog over UDP, TCP, TLS.

The input side of monitord's event receiver (the core side is `monitord.events`):
`traps.py` and `syslog.py` decode the wire formats (pure), `v3.py` is the receiving side
of SNMPv3's USM (with the snmp collector's codec, `collectors/_snmpwire`), `meaning.py` applies the
table in `patterns.yaml` (what a trap or a message means), `receiver.py` owns the
sockets, the per-source rate limit and the bounded queue. It emits
`monitord.types.DeviceEvent`s and drop reasons, nothing else; it is not a polled
collector, so it has no entry in `collectors.COLLECTORS`.
"""

from __future__ import annotations

from collectors.events.meaning import MeaningTable, load_table
from collectors.events.receiver import EventReceiver

__all__ = ["EventReceiver", "MeaningTable", "load_table"]
