"""SNMP on the wire, shared by the snmp collector and the event receiver (pure, no I/O).

`ber.py` (the v1/v2c message and PDU codec), `v3message.py` (SNMPv3 messages) and
`usm.py` (RFC 3414 keys, digests and privacy). An underscore package: no collector of
its own, so both `collectors/snmp` and `collectors/events` may import it.
"""
