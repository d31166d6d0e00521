"""The event receiver's own SNMP engine: its ID and boot counter, kept across restarts.

SNMPv3 informs are sent to the receiver's engine (RFC 3414: the receiver of an inform is
authoritative). Senders cache its engine ID, boots and time, and refuse a clock that
goes back, so the boot counter must grow at every start: `start_engine()` reads
`DATA_DIR/snmp_engine.json`, adds one to `boots`, and writes it back (atomically)
before the receiver answers anything. The engine ID is `events.traps.engine_id` when
set (boots restart at 1 when it changes), else one made up on the first start:
net-snmp's enterprise number (8072), format 5 (octets), 8 random octets.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Final

__all__ = ["ENGINE_FILE", "start_engine"]

log = logging.getLogger(__name__)

ENGINE_FILE: Final = "snmp_engine.json"
_MAX_BOOTS: Final = 0x7FFFFFFF


def start_engine(data_dir: Path, configured: str | None) -> tuple[bytes, int]:
    """(engine ID, boots) for this start; the file is updated before it returns."""
    path = data_dir / ENGINE_FILE
    engine_id, boots = b"", 0
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        engine_id = bytes.fromhex(str(saved["engine_id"]))
        boots = int(saved["boots"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("snmp engine file unreadable, starting a new one path=%s error=%s", path, exc)
    wanted = bytes.fromhex(configured) if configured else engine_id
    if not wanted:
        wanted = bytes.fromhex("80001f8805") + os.urandom(8)
    if wanted != engine_id:
        boots = 0
    boots = min(boots + 1, _MAX_BOOTS)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"engine_id": wanted.hex(), "boots": boots}), encoding="utf-8")
    os.replace(tmp, path)
    return wanted, boots
