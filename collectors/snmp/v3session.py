"""The native SNMPv3 session: USM (RFC 3414) over a connected UDP socket, without pysnmp.

`UsmSession` is a `client.NativeSession` (same socket, retries, request cap and
statistics) that speaks SNMPv3 messages (`v3message.py`) secured by `usm.py`:

- engine discovery: a noAuthNoPriv probe with an empty engine ID, answered by a Report
  carrying usmStatsUnknownEngineIDs and the agent's engine ID, boots and time; what it
  learns is kept per agent address in the shared `UsmCache`, so later polls skip it;
- time window: requests carry the engine's boots and time as estimated by our clock; an
  authenticated usmStatsNotInTimeWindows Report (agent restarted: boots changed) or an
  usmStatsUnknownEngineIDs one (engine ID changed) updates the record and the request
  is sent again, once; authenticated responses move the estimate forward (RFC 3414
  3.2 7b) and a response older than the record is refused;
- every response is checked: msgID and request-id, security level, engine ID, user
  name, digest (constant-time comparison); the PDU is decoded as strictly as v2c's;
- Reports map to `AuthFailure` with the name pysnmp gives the same condition
  (WrongDigest, UnknownUserName, DecryptionError, ...), so messages are the same with
  either client.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import random
import time
from collections.abc import Sequence
from typing import Final

from collectors._snmpwire.ber import BerError, Oid, Pdu, PduType, VarBind, encode_pdu
from collectors._snmpwire.usm import (
    AUTH,
    EngineRecord,
    UserKeys,
    UsmCache,
    UsmError,
    decrypt,
    encrypt,
    sign,
)
from collectors._snmpwire.v3message import (
    Flags,
    Message,
    decode_message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from collectors.snmp.client import (
    AuthFailure,
    AuthProblem,
    BadResponse,
    NativeSession,
    RequestLimiter,
    SessionStats,
    UsmUser,
    _Datagrams,
    _raise_status,
)
from monitord.secrets import Secret

__all__ = ["MAX_MESSAGE_SIZE", "REPORTS", "UsmSession"]

# msgMaxSize we announce: the largest UDP payload over IPv4.
MAX_MESSAGE_SIZE: Final = 65507
_USM_STATS: Final = (1, 3, 6, 1, 6, 3, 15, 1, 1)
_UNKNOWN_ENGINE_ID: Final = (*_USM_STATS, 4, 0)
_NOT_IN_TIME_WINDOW: Final = (*_USM_STATS, 2, 0)
# Reports that refuse the credentials: OID → (pysnmp's name for it, what is wrong).
REPORTS: Final[dict[Oid, tuple[str, AuthProblem]]] = {
    (*_USM_STATS, 1, 0): ("UnsupportedSecurityLevel", AuthProblem.SECURITY_LEVEL),
    (*_USM_STATS, 2, 0): ("NotInTimeWindow", AuthProblem.TIME_WINDOW),
    (*_USM_STATS, 3, 0): ("UnknownUserName", AuthProblem.UNKNOWN_USER),
    (*_USM_STATS, 4, 0): ("UnknownEngineID", AuthProblem.OTHER),
    (*_USM_STATS, 5, 0): ("WrongDigest", AuthProblem.WRONG_DIGEST),
    (*_USM_STATS, 6, 0): ("DecryptionError", AuthProblem.DECRYPTION),
    (1, 3, 6, 1, 6, 3, 12, 1, 4, 0): ("UnavailableContext", AuthProblem.ACCESS),
    (1, 3, 6, 1, 6, 3, 12, 1, 5, 0): ("UnknownContext", AuthProblem.ACCESS),
}
_LEVEL: Final = Flags.AUTH | Flags.PRIV
_TIME_WINDOW: Final = 150  # seconds (RFC 3414 3.2 7b)


class _Messages(_Datagrams):
    """Datagrams decoded as SNMPv3 messages, handed to the waiter of their msgID."""

    def decode(self, data: bytes) -> tuple[int, object]:
        """(msgID, message); raise BerError."""
        msg = decode_message(data)
        return msg.msg_id, msg


class UsmSession(NativeSession):
    """SNMPv3 with the native codec and USM; the v1/v2c `NativeSession` machinery otherwise."""

    def __init__(
        self,
        address: tuple[int, tuple[str, int]],
        creds: UsmUser,
        cache: UsmCache,
        *,
        timeout: float,
        retries: int,
        limiter: RequestLimiter,
    ) -> None:
        self.version = 3
        self.stats = SessionStats()
        self._family, self._addr = address
        self._timeout = timeout
        self._retries = retries
        self._limiter = limiter
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self._transport: asyncio.DatagramTransport | None = None
        self._proto = _Messages()
        self._cache = cache
        self._user = creds.user.encode("utf-8")
        self._context = creds.context.encode("utf-8")
        self._auth = str(creds.auth_protocol or "")
        self._priv = str(creds.priv_protocol or "") if self._auth else ""
        self._mac_length = AUTH[self._auth].mac_length if self._auth else 0
        self._auth_password = _reveal(creds.auth_key) if self._auth else b""
        self._priv_password = _reveal(creds.priv_key) if self._priv else b""
        self._level = (Flags.AUTH if self._auth else 0) | (Flags.PRIV if self._priv else 0)

    async def _attempt(self, pdu: PduType, oids: Sequence[Oid], reps: int) -> list[VarBind] | None:
        engine = self._cache.engines.get(self._addr)
        if engine is None:
            engine = await self._discover()
            if engine is None:
                return None
        resynced: set[Oid] = set()  # each resynchronisation once per request
        while True:
            msg_id = next(self._ids) & 0x7FFFFFFF
            reply = await self._exchange(msg_id, self._request(engine, msg_id, pdu, oids, reps))
            if not isinstance(reply, Message):
                return None
            kind, varbinds = self._open_reply(engine, reply, msg_id)
            if kind == PduType.RESPONSE:
                return varbinds
            oid = varbinds[0][0] if varbinds else ()
            if oid in resynced:
                raise _report_error(oid)
            resynced.add(oid)
            if oid == _UNKNOWN_ENGINE_ID and reply.engine_id:  # a new engine at this address
                engine = self._learn(reply, synced=False)
            elif oid == _NOT_IN_TIME_WINDOW and reply.flags & Flags.AUTH:  # it rebooted
                engine = self._learn(reply, synced=True)
            else:
                raise _report_error(oid)

    async def _discover(self) -> EngineRecord | None:
        """RFC 3414 4: learn the agent's engine ID (and boots/time) from a Report."""
        msg_id = next(self._ids) & 0x7FFFFFFF
        scoped = encode_scoped_pdu(b"", b"", encode_pdu(PduType.GET, msg_id, []))
        data, _ = encode_message(
            msg_id, MAX_MESSAGE_SIZE, Flags.REPORTABLE, b"", 0, 0, b"", 0, b"", scoped
        )
        reply = await self._exchange(msg_id, data)
        if not isinstance(reply, Message):
            return None
        if reply.flags & _LEVEL:
            raise BadResponse("discovery answered with an authenticated message")
        _, _, pdu = _scoped(reply.data)
        if pdu.type != PduType.REPORT or not reply.engine_id:
            raise BadResponse("engine discovery got no engine ID from the agent")
        # usmStatsUnknownEngineIDs as a rule; some agents report another counter, but
        # the engine ID is what discovery is for: the request itself will tell the rest.
        return self._learn(reply, synced=False)

    def _learn(self, reply: Message, *, synced: bool) -> EngineRecord:
        record = EngineRecord(reply.engine_id, reply.boots, reply.time, time.monotonic(), synced)
        self._cache.engines[self._addr] = record
        return record

    def _request(
        self, engine: EngineRecord, msg_id: int, pdu: PduType, oids: Sequence[Oid], reps: int
    ) -> bytes:
        boots, now = engine.now(time.monotonic())
        scoped = encode_scoped_pdu(
            engine.engine_id, self._context, encode_pdu(pdu, msg_id, oids, max_repetitions=reps)
        )
        priv = b""
        if self._auth:
            keys = self._keys(engine.engine_id)
            if self._priv:
                salt = self._cache.salt()
                scoped, priv = encrypt(self._priv, keys.priv, boots, now, salt, scoped)
        flags = self._level | Flags.REPORTABLE
        data, at = encode_message(
            msg_id, MAX_MESSAGE_SIZE, flags, engine.engine_id, boots, now, self._user,
            self._mac_length, priv, scoped,
        )  # fmt: skip
        if not self._auth:
            return data
        mac = sign(self._auth, keys.auth, data)
        return data[:at] + mac + data[at + self._mac_length :]

    def _open_reply(
        self, engine: EngineRecord, reply: Message, msg_id: int
    ) -> tuple[int, list[VarBind]]:
        """Check and decrypt a reply; return (PDU type, varbinds) of a Response or Report."""
        level = reply.flags & _LEVEL
        if level:
            if not self._auth or reply.engine_id != engine.engine_id or reply.user != self._user:
                raise BadResponse("authenticated reply for another engine or user")
            keys = self._keys(engine.engine_id)
            if not hmac.compare_digest(reply.auth, sign(self._auth, keys.auth, reply.unsigned)):
                raise BadResponse("reply failed authentication (wrong digest)")
            data = reply.data
            if level & Flags.PRIV:
                if not self._priv:
                    raise BadResponse("encrypted reply to a request without privacy")
                try:
                    data = decrypt(
                        self._priv, keys.priv, reply.boots, reply.time, reply.priv, reply.data
                    )
                except UsmError:
                    raise BadResponse("reply could not be decrypted") from None
        else:
            data = reply.data
        _, _, pdu = _scoped(data)
        if pdu.type == PduType.REPORT:
            return pdu.type, pdu.varbinds
        if pdu.type != PduType.RESPONSE:
            raise BadResponse(f"unexpected PDU type 0x{pdu.type:02x}")
        if level != self._level or reply.engine_id != engine.engine_id:
            raise BadResponse("response at another security level or from another engine")
        if pdu.request_id != msg_id:
            raise BadResponse("response with another request-id")
        if level:
            self._check_time(engine, reply)
        if pdu.error_status:
            _raise_status(pdu.error_status, pdu.error_index)
        return pdu.type, pdu.varbinds

    def _check_time(self, engine: EngineRecord, reply: Message) -> None:
        """RFC 3414 3.2 7b (non-authoritative side): follow the engine's clock forward."""
        boots, now = engine.now(time.monotonic())
        if reply.boots > boots or (reply.boots == boots and reply.time > now):
            self._learn(reply, synced=True)
        elif reply.boots < boots or reply.boots == 0x7FFFFFFF or reply.time < now - _TIME_WINDOW:
            raise BadResponse("response outside the time window (replayed or stale)")

    def _keys(self, engine_id: bytes) -> UserKeys:
        return self._cache.keys(
            engine_id, self._auth, self._auth_password, self._priv, self._priv_password
        )


def _scoped(data: bytes) -> tuple[bytes, bytes, Pdu]:
    try:
        return decode_scoped_pdu(data)
    except BerError as exc:
        raise BadResponse(f"malformed scoped PDU: {exc}") from None


def _report_error(oid: Oid) -> AuthFailure | BadResponse:
    known = REPORTS.get(oid)
    if known is None:
        text = ".".join(map(str, oid)) or "no varbind"
        return BadResponse(f"agent sent a report ({text})")
    name, problem = known
    return AuthFailure(f"agent refused the credentials ({name})", problem)


def _reveal(secret: Secret | None) -> bytes:
    return secret.reveal().encode("utf-8") if secret is not None else b""
