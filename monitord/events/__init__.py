"""Device events (traps, syslog) in the core: matching to targets, counters, history, alerts.

The sockets and the wire formats live in `collectors/events`; `service.py` is what the
daemon feeds with decoded events, `store.py` the `device_events` table, `config.py`
the `events:` section, `engine.py` the receiver's SNMP engine ID and boot counter.
"""

from __future__ import annotations

from monitord.events.config import EventsConfig
from monitord.events.service import EVENT_SPECS, EventsService
from monitord.events.store import DeviceEventStore, StoredDeviceEvent

__all__ = ["EVENT_SPECS", "DeviceEventStore", "EventsConfig", "EventsService", "StoredDeviceEvent"]
