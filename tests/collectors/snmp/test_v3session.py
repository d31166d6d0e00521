"""The native SNMPv3 session (collectors/snmp/v3session.py) against real agents and a hostile one.

- the same walks with the native client, with pysnmp and with net-snmp's snmpbulkwalk, for
  every v3 user of tests/collectors/snmp/test_snmpd.py: equal results;
- discovery once per agent, and resynchronisation after snmpd restarts between polls;
- 3DES (net-snmp has none) against snmpsim, pysnmp's agent;
- Reports from a responder written here: the same named errors as pysnmp's, no loop;
- truncated or garbage replies from it: malformed, no traceback, no secret in the text.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator
from typing import cast

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v2c

from collectors._snmpwire.ber import Oid, parse_oid
from collectors._snmpwire.usm import localized_keys, sign
from collectors._snmpwire.v3message import decode_message, encode_message, encode_scoped_pdu
from collectors.snmp.client import (
    AuthProtocol,
    EnginePool,
    PrivProtocol,
    RequestLimiter,
    Session,
    UsmUser,
    open_session,
    walk,
)
from collectors.snmp.v3session import UsmSession
from monitord.errors import AuthFailed, CollectorError, MalformedResponse
from monitord.secrets import Secret
from monitord.types import FailureReason, Shared, Target
from tests.collectors.snmp.conftest import by_series, poll_many, run
from tests.collectors.snmp.expect import from_netsnmp
from tests.collectors.snmp.test_snmpd import PRIV_NAMES, USERS
from tests.peers.snmpd import Snmpd, SnmpdUser, parse_snmp_output, snmpbulkwalk
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim, V3User

# Columns whose values do not move while we look (no counters, no sysUpTime).
STABLE = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.6", "1.3.6.1.2.1.1.9"]


def creds_of(u: SnmpdUser) -> UsmUser:
    return UsmUser(
        u.name,
        AuthProtocol(u.auth.replace("-", "")) if u.auth else None,
        Secret(u.auth_key) if u.auth else None,
        PrivProtocol(PRIV_NAMES[u.priv]) if u.priv else None,
        Secret(u.priv_key) if u.priv else None,
    )


async def open_v3(
    port: int, creds: UsmUser, pool: EnginePool, *, native: bool = True, timeout: float = 1.0
) -> Session:
    return await open_session(
        "127.0.0.1",
        port,
        creds,
        timeout=timeout,
        retries=1,
        limiter=RequestLimiter(8),
        engines=pool,
        native=native,
    )


async def walk_with(
    port: int, creds: UsmUser, pool: EnginePool, native: bool, oids: list[str]
) -> tuple[dict[Oid, tuple[int, object]], Session]:
    session = await open_v3(port, creds, pool, native=native)
    try:
        into: dict[Oid, dict[Oid, tuple[int, object]]] = {}
        await walk(session, [parse_oid(o) for o in oids], into, max_repetitions=10)
    finally:
        await session.aclose()
    return {col + idx: vb for col, rows in into.items() for idx, vb in rows.items()}, session


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    with Snmpd(tmp_path_factory.mktemp("snmpd-v3"), USERS) as a:
        yield a


@pytest.mark.peer
@pytest.mark.parametrize("user", USERS, ids=[u.name for u in USERS])
def test_native_walk_equals_pysnmp_and_snmpbulkwalk(agent: Snmpd, user: SnmpdUser) -> None:
    async def go() -> tuple[dict[Oid, tuple[int, object]], dict[Oid, tuple[int, object]], Session]:
        pool = EnginePool()
        try:
            ours, session = await walk_with(agent.port, creds_of(user), pool, True, STABLE)
            theirs, _ = await walk_with(agent.port, creds_of(user), pool, False, STABLE)
        finally:
            await pool.aclose()
        return ours, theirs, session

    ours, theirs, session = run(go())  # type: ignore[misc]
    assert isinstance(session, UsmSession)
    assert len(ours) >= 8 and ours == theirs
    ref: dict[Oid, tuple[int, object]] = {}
    for oid in STABLE:
        out = snmpbulkwalk(agent.host, agent.port, user.cli_args(), oid)
        ref |= from_netsnmp(parse_snmp_output(out))
    assert ref == ours


@pytest.mark.peer
def test_engine_is_discovered_once_and_keys_localised_once(agent: Snmpd) -> None:
    user = next(u for u in USERS if u.name == "u_SHA_AES256C")

    async def go() -> list[int]:
        pool = EnginePool()
        requests = []
        for _ in range(3):
            _, session = await walk_with(agent.port, creds_of(user), pool, True, STABLE[:1])
            requests.append(session.stats.requests)
        assert len(pool.usm.engines) == 1
        return requests

    first, second, third = run(go())  # type: ignore[misc]
    assert first == second + 1 == third + 1  # the first poll's discovery, then none


@pytest.mark.peer
@pytest.mark.parametrize("keep_state", [True, False], ids=["boots-changed", "state-wiped"])
def test_agent_restart_between_polls_resynchronises(
    tmp_path_factory: pytest.TempPathFactory, keep_state: bool
) -> None:
    user = next(u for u in USERS if u.name == "u_SHA256_AES")
    shared = Shared()
    opts = {
        "version": 3,
        "user": user.name,
        "auth_protocol": "SHA256",
        "auth_key": user.auth_key,
        "priv_protocol": "AES",
        "priv_key": user.priv_key,
        "profiles": ["system"],
        "request_timeout": "1s",
    }
    with Snmpd(tmp_path_factory.mktemp("snmpd-restart"), [user]) as agent:
        opts["port"] = agent.port
        [p1] = run(poll_many(opts, Target("rs", "127.0.0.1"), shared=shared))
        assert p1.error is None, p1.error
        [before] = shared.get("snmp.engine", EnginePool).usm.engines.values()
        before = type(before)(**{f: getattr(before, f) for f in before.__slots__})
        agent.restart(keep_state=keep_state)
        [p2] = run(poll_many(opts, Target("rs", "127.0.0.1"), shared=shared))
        [after] = shared.get("snmp.engine", EnginePool).usm.engines.values()
    run(shared.aclose())
    assert p2.error is None, p2.error
    uptime = by_series(p2.samples)[("monitord_device_uptime_seconds", (("target", "rs"),))]
    assert uptime.value < 30  # the restarted agent answered
    requests = by_series(p2.samples)[("monitord_snmp_requests_total", (("target", "rs"),))]
    if keep_state:  # same engine, boots + 1: one notInTimeWindow report, then resent
        assert after.engine_id == before.engine_id and after.boots == before.boots + 1
        assert after.synced and after.time < before.time + 30
    else:  # a new engine: usmStatsUnknownEngineIDs (or, same ID, notInTimeWindow)
        assert after.engine_id != before.engine_id or after.boots != before.boots
    assert requests.value >= 2


@pytest.mark.peer
@pytest.mark.parametrize(("auth", "priv"), [("SHA", "3DES"), ("MD5", "3DES"), ("SHA512", "3DES")])
def test_3des_against_snmpsim_equals_pysnmp(
    tmp_path_factory: pytest.TempPathFactory, auth: str, priv: str
) -> None:
    """net-snmp has no 3DES; snmpsim (pysnmp's agent) has. Both clients read the same."""
    u = V3User("u3des", auth, "auth-3des-key", priv, "priv-3des-key")
    with SnmpSim(tmp_path_factory.mktemp("sim3des"), v3_user=u) as sim:
        sim.add_records("sw", switch(4, seed=3, name="sw4"))
        sim.start()
        creds = UsmUser(
            "u3des",
            AuthProtocol(auth),
            Secret("auth-3des-key"),
            PrivProtocol(priv),
            Secret("priv-3des-key"),
            context="sw",
        )
        cols = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.2.2.1.10"]

        async def go() -> tuple[dict[Oid, tuple[int, object]], dict[Oid, tuple[int, object]]]:
            pool = EnginePool()
            try:
                ours, _ = await walk_with(sim.port, creds, pool, True, cols)
                theirs, _ = await walk_with(sim.port, creds, pool, False, cols)
            finally:
                await pool.aclose()
            return ours, theirs

        ours, theirs = run(go())  # type: ignore[misc]
    assert len(ours) >= 12 and ours == theirs  # 4 ports, a VLAN, a port-channel


# --- a hostile responder -------------------------------------------------------------

HOSTILE_ENGINE = bytes.fromhex("800000000168737469")


def _report(msg_id: int, counter: int = 4, user: bytes = b"", auth_key: bytes = b"") -> bytes:
    """A Report of usmStats counter `counter` (4: unknownEngineIDs), its PDU by pyasn1.

    With `auth_key`, an authNoPriv Report signed with HMAC-SHA-96 (how agents send
    usmStatsNotInTimeWindows).
    """
    pdu = v2c.ReportPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, msg_id)
    v2c.apiPDU.set_varbinds(pdu, [((1, 3, 6, 1, 6, 3, 15, 1, 1, counter, 0), v2c.Counter32(1))])
    scoped = encode_scoped_pdu(HOSTILE_ENGINE, b"", encoder.encode(pdu))
    n = 12 if auth_key else 0
    msg, at = encode_message(
        msg_id, 65507, 1 if n else 0, HOSTILE_ENGINE, 1, 100, user, n, b"", scoped
    )
    return msg[:at] + sign("SHA", auth_key, msg) + msg[at + n :] if n else msg


def _discover_then(reply: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def answer(request: bytes) -> bytes:
        m = decode_message(request)
        return _report(m.msg_id) if not m.engine_id else reply(request)

    return answer


def _flip_mac(request: bytes) -> bytes:
    m = decode_message(request)
    at = request.index(m.auth)
    return request[:at] + bytes([request[at] ^ 1]) + request[at + 1 :]


HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    "random-bytes": lambda req: os.urandom(80),
    "truncated-request": lambda req: req[: len(req) // 2],
    "echoed-discovery": lambda req: req,  # a GET with no engine ID instead of a Report
    "report-garbage-scoped-pdu": lambda req: (
        _report(decode_message(req).msg_id).replace(b"\xa8", b"\xa9", 1)[:-3] + b"\x00\x00\x00"
    ),
    "echoed-request": _discover_then(lambda req: req),  # our own signed GET back
    "wrong-mac": _discover_then(_flip_mac),
    "truncated-response": _discover_then(lambda req: req[:-5]),
    "v2c-response": lambda req: bytes.fromhex("3011020101040170a2090201000201000201003000"),
}


class Hostile(asyncio.DatagramProtocol):
    def __init__(self, reply: Callable[[bytes], bytes]) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.seen += 1
        assert self.transport is not None
        self.transport.sendto(self.reply(data), addr)


HOSTILE_USER = {
    "version": 3,
    "user": "u_SHA_AES",
    "auth_protocol": "SHA",
    "auth_key": "auth-SHA-pass",
    "priv_protocol": "AES",
    "priv_key": "priv-AES-pass",
    "profiles": ["system"],
    "request_timeout": "0.2s",
    "retries": 1,
}


async def poll_responder(reply: Callable[[bytes], bytes]) -> tuple[CollectorError | None, int]:
    """Poll a responder that answers every datagram with `reply(datagram)`."""
    loop = asyncio.get_running_loop()
    responder = Hostile(reply)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: responder, local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        [p] = await poll_many(HOSTILE_USER | {"port": port}, Target("hostile", "127.0.0.1"))
        return p.error, responder.seen
    finally:
        transport.close()


def _signed_report(counter: int) -> Callable[[bytes], bytes]:
    key = localized_keys(HOSTILE_ENGINE, "SHA", b"auth-SHA-pass", "", b"").auth

    def answer(request: bytes) -> bytes:
        return _report(decode_message(request).msg_id, counter, b"u_SHA_AES", key)

    return answer


@pytest.mark.parametrize(
    ("counter", "signed", "name"),
    [
        (2, True, "NotInTimeWindow"),  # resynchronised once, then refused
        (5, False, "WrongDigest"),
        (3, False, "UnknownUserName"),
        (6, False, "DecryptionError"),
        (1, False, "UnsupportedSecurityLevel"),
        (4, False, "UnknownEngineID"),  # a new engine once, then refused
    ],
)
def test_reports_are_named_auth_failures(counter: int, signed: bool, name: str) -> None:
    answer = _discover_then(
        _signed_report(counter)
        if signed
        else (lambda req: _report(decode_message(req).msg_id, counter, b"u_SHA_AES"))
    )
    error, seen = run(poll_responder(answer))  # type: ignore[misc]
    assert isinstance(error, AuthFailed), error
    assert error.reason is FailureReason.AUTH and f"({name})" in str(error)
    resends = 1 if counter in (2, 4) else 0
    assert seen == 2 + resends  # discovery, the request (and one resend): no loop


@pytest.mark.parametrize("mode", list(HOSTILE))
def test_hostile_replies_are_malformed_without_traceback(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error, seen = run(poll_responder(HOSTILE[mode]))  # type: ignore[misc]
    assert seen >= 1
    assert isinstance(error, MalformedResponse), error
    assert error.reason is FailureReason.MALFORMED
    assert "Traceback" not in caplog.text
    for secret in ("auth-SHA-pass", "priv-AES-pass"):
        assert secret not in str(error) and secret not in caplog.text
