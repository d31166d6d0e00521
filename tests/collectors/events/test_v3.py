"""SNMPv3 traps and informs with net-snmp's real snmptrap -v3 and snmpinform -v3.

Traps: the sender is the authoritative engine (`-e`), the keys are localised to it;
informs: the receiver is, and snmpinform discovers its engine ID and time first (the
Reports of the receiver), then gets its Response (snmpinform exits 0 only then).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from collectors.events.receiver import EventReceiver
from collectors.events.v3 import UsmReceiver, V3User
from monitord.events.engine import ENGINE_FILE, start_engine
from tests.collectors.events.senders import capture_trap, snmptrap
from tests.collectors.events.test_receiver import Sink, port, run

ENGINE = bytes.fromhex("80001f8805a1b2c3d4e5f60718")  # the receiver's
SENDER = "0x8000000001020304"  # a device's engine ID (snmptrap -e)
LINK_DOWN = ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.4", "i", "4"]
AUTH_FAIL = ["", "1.3.6.1.6.3.1.1.5.5"]
COLD = ["", "1.3.6.1.6.3.1.1.5.1"]

USERS = [
    V3User("trapper", "SHA", b"authpass123", "AES", b"privpass123"),
    V3User("noc256", "SHA256", b"authpass-256", "AES256", b"privpass-256"),
    V3User("md5des", "MD5", b"authpass-md5", "DES", b"privpass-des"),
    V3User("authonly", "SHA512", b"authpass-512"),
    V3User("pinned", "SHA", b"authpass123", "AES", b"privpass123",
           frozenset({bytes.fromhex("8000000001020304")})),
]  # fmt: skip


def v3(user: str, level: str, auth: str, akey: str, priv: str = "", pkey: str = "") -> list[str]:
    opts = ["-v", "3", "-u", user, "-l", level, "-a", auth, "-A", akey]
    return [*opts, "-x", priv, "-X", pkey] if priv else opts


TRAPPER = v3("trapper", "authPriv", "SHA", "authpass123", "AES", "privpass123")
INFORM = ["-r", "0", "-t", "3"]


def run_v3(body: Callable[[EventReceiver, Sink], Awaitable[None]], **cfg: object) -> Sink:
    """`run` with the v3 users and the receiver's engine ID (boots 7)."""
    return run(body, {"v3_users": USERS, "engine": (ENGINE, 7)}, **cfg)


@pytest.mark.parametrize(
    ("opts", "name"),
    [
        (TRAPPER, "SHA/AES"),
        (
            v3("noc256", "authPriv", "SHA-256", "authpass-256", "AES-256", "privpass-256"),
            "SHA-256/AES-256",
        ),
        (v3("md5des", "authPriv", "MD5", "authpass-md5", "DES", "privpass-des"), "MD5/DES"),
        (v3("authonly", "authNoPriv", "SHA-512", "authpass-512"), "SHA-512 authNoPriv"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_v3_trap_and_answered_inform(opts: list[str], name: str) -> None:
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        await asyncio.to_thread(snmptrap, p, [*opts, "-e", SENDER], LINK_DOWN)
        # exit 0: snmpinform discovered the engine, synchronised and got the Response
        await asyncio.to_thread(snmptrap, p, [*opts, *INFORM], AUTH_FAIL, inform=True)
        await sink.wait(2)

    sink = run_v3(body)
    assert [e.name for e in sink.events] == ["linkDown", "authenticationFailure"], name
    assert sink.events[0].fields["ifindex"] == "4"
    assert all(e.address == "127.0.0.1" for e in sink.events)
    assert not sink.drops  # the discovery probes are answered, not counted as drops


def test_v3_wrong_keys_unknown_user_and_engine_are_counted_by_reason() -> None:
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        wrong_auth = v3("trapper", "authPriv", "SHA", "wrongpass1", "AES", "privpass123")
        wrong_priv = v3("trapper", "authPriv", "SHA", "authpass123", "AES", "wrongpass1")
        await asyncio.to_thread(snmptrap, p, [*wrong_auth, "-e", SENDER], LINK_DOWN)
        await asyncio.to_thread(snmptrap, p, [*wrong_priv, "-e", SENDER], LINK_DOWN)
        stranger = v3("stranger", "authPriv", "SHA", "authpass123", "AES", "privpass123")
        await asyncio.to_thread(snmptrap, p, [*stranger, "-e", SENDER], LINK_DOWN)
        pinned = v3("pinned", "authPriv", "SHA", "authpass123", "AES", "privpass123")
        await asyncio.to_thread(snmptrap, p, [*pinned, "-e", "0x8000000009090909"], LINK_DOWN)
        lower = v3("trapper", "authNoPriv", "SHA", "authpass123")
        await asyncio.to_thread(snmptrap, p, [*lower, "-e", SENDER], LINK_DOWN)
        r = await asyncio.to_thread(
            snmptrap, p, [*wrong_auth, *INFORM], COLD, inform=True, check=False
        )
        assert r.returncode != 0 and "Authentication failure" in r.stderr, r.stderr
        # the pinned user from its own engine, and a good trap after all that: accepted
        await asyncio.to_thread(snmptrap, p, [*pinned, "-e", SENDER], COLD)
        await asyncio.to_thread(snmptrap, p, [*TRAPPER, "-e", SENDER], LINK_DOWN)
        await sink.wait(2)
        await asyncio.sleep(0.2)

    sink = run_v3(body)
    assert [e.name for e in sink.events] == ["coldStart", "linkDown"]
    # wrong auth key: the trap, and snmpinform's authenticated probe; wrong priv key:
    # the digest is right, the decrypted PDU is garbage (counted as decryption)
    assert sink.drops == {
        "wrong_digest": 2,
        "decryption": 1,
        "unknown_user": 1,
        "unknown_engine_id": 1,
        "security_level": 1,
    }


def test_v3_trap_time_window_refuses_a_replay() -> None:
    """RFC 3414 3.2 7b: an engine's (boots, time) only moves forward, within 150 s."""

    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        for boots_time in ("5,1000", "5,900", "5,800", "4,5000", "6,10"):
            await asyncio.to_thread(
                snmptrap, p, [*TRAPPER, "-e", SENDER, "-Z", boots_time], LINK_DOWN
            )
        await sink.wait(3)
        await asyncio.sleep(0.2)

    sink = run_v3(body)
    # 5,1000 first seen; 5,900 is within 150 s of it; 5,800 is not; boots 4 is older;
    # 6,10 is a reboot: accepted and followed
    assert len(sink.events) == 3
    assert sink.drops == {"not_in_time_window": 2}


def test_v3_inform_needs_the_receivers_engine_and_boots() -> None:
    """An inform to a stale engine ID or boots gets a Report and snmpinform resynchronises."""

    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        # told the receiver's engine up front (-e), with a wrong boots/time: one
        # usmStatsNotInTimeWindows Report (authenticated), then the inform goes through
        await asyncio.to_thread(
            snmptrap, p, [*TRAPPER, *INFORM, "-e", "0x" + ENGINE.hex(), "-Z", "1,1"], COLD,
            inform=True,
        )  # fmt: skip
        await sink.wait(1)
        assert rx.usm.stats["not_in_time_window"] == 1

    sink = run_v3(body)
    assert [e.name for e in sink.events] == ["coldStart"]
    assert sink.drops == {"not_in_time_window": 1}


def test_engine_boots_grow_at_every_start_and_restart_with_a_new_id(tmp_path: Path) -> None:
    first, boots1 = start_engine(tmp_path, None)
    again, boots2 = start_engine(tmp_path, None)
    assert (again, boots1, boots2) == (first, 1, 2)
    assert first[:5] == bytes.fromhex("80001f8805") and len(first) == 13
    configured, boots3 = start_engine(tmp_path, "8000000001aabbcc")
    assert (configured, boots3) == (bytes.fromhex("8000000001aabbcc"), 1)
    saved = json.loads((tmp_path / ENGINE_FILE).read_text())
    assert saved == {"engine_id": "8000000001aabbcc", "boots": 1}


def test_truncated_and_corrupted_v3_datagrams_are_drops_never_exceptions() -> None:
    """Every truncation and every one-bit change of a real authPriv trap: all refused."""
    data = capture_trap([*TRAPPER, "-e", SENDER], LINK_DOWN)
    usm = UsmReceiver(USERS, ENGINE, 7, 0.0)
    assert usm.receive(data, 1.0).trap is not None  # the datagram itself is good
    reasons: Counter[str] = Counter()
    for cut in range(len(data)):
        res = usm.receive(data[:cut], 1.0)
        assert res.trap is None and res.drop is not None
        reasons[res.drop] += 1
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = data[:i] + bytes((data[i] ^ flip,)) + data[i + 1 :]
            res = usm.receive(bad, 1.0)  # the digest covers every octet: all refused
            assert res.trap is None and res.drop is not None, (i, flip)
            reasons[res.drop] += 1
    assert reasons["malformed"] >= len(data)  # every truncation at least
    assert reasons["wrong_digest"] > 0  # the signed part changed
    print(f"{len(data)} octets: {dict(reasons)}")
