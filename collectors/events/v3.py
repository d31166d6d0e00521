"""SNMPv3 traps and informs: the receiving side of USM (RFC 3414 3.2), pure, no sockets.

`UsmReceiver.receive(datagram)` checks one SNMPv3 message and returns the decoded
`Trap` (or None), the datagram to send back (an inform's Response, or a Report), and
the drop reason when the message is refused. The codec and the cryptography are the
snmp collector's (`collectors/_snmpwire`: `v3message`, `usm`).

Who is authoritative (RFC 3414 1.5.1):
- **traps**: the sender. The message carries the sender's engine ID, boots and time;
  the user's keys are localised to that engine ID (a user's `engine_ids` restricts
  which engines are accepted; none listed: any engine, learned from the message, as
  `snmptrapd` with `createUser -e` for every engine). Replays are refused by the
  non-authoritative time window (3.2 7b): per engine, the latest (boots, time) seen
  in an authentic message; older by more than 150 s is `not_in_time_window`.
- **informs**: the receiver. Its own engine ID and boots (kept across restarts by the
  daemon) and time (seconds since start). A sender first discovers them: a
  noAuthNoPriv probe with an empty engine ID gets a Report of usmStatsUnknownEngineIDs,
  an authenticated probe out of the time window a Report of usmStatsNotInTimeWindows
  (authenticated, as 3.2 7a says); then the inform is checked in the authoritative
  time window (boots equal, time within 150 s) and answered with a Response at the
  same security level.

Drop reasons (`monitord_events_dropped_total{reason}`): `malformed`, `unknown_user`,
`unknown_engine_id`, `security_level` (another level than the user's), `wrong_digest`,
`decryption`, `not_in_time_window`, `not_a_trap`. A discovery probe (a Get with no
varbinds) is answered and not counted as a drop.
"""

from __future__ import annotations

import hmac
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from collectors._snmpwire.ber import BerError
from collectors._snmpwire.usm import (
    AUTH,
    PRIV,
    UserKeys,
    UsmError,
    decrypt,
    encrypt,
    localized_keys,
    sign,
)
from collectors._snmpwire.v3message import (
    Flags,
    Message,
    decode_message,
    encode_message,
    encode_scoped_pdu,
)
from collectors.events.traps import (
    PDU_INFORM,
    Trap,
    TrapError,
    decode_pdu,
    encode_int,
    encode_tlv,
    read_tlv,
)

__all__ = ["UsmReceiver", "V3Result", "V3User", "is_v3", "new_engine_id"]

MAX_ENGINES: Final = 4096  # sender engines remembered (time window, localised keys)
TIME_WINDOW: Final = 150  # seconds (RFC 3414 3.2 7)
MAX_SIZE: Final = 65507
PDU_GET: Final = 0xA0
PDU_RESPONSE: Final = 0xA2
PDU_REPORT: Final = 0xA8
# usmStats counters (RFC 3414 5), by drop reason: the varbind of the Report we send.
_REPORT_OID: Final = {
    "security_level": (1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0),
    "not_in_time_window": (1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0),
    "unknown_user": (1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0),
    "unknown_engine_id": (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0),
    "wrong_digest": (1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0),
    "decryption": (1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0),
}
_LEVEL: Final = Flags.AUTH | Flags.PRIV


@dataclass(frozen=True, slots=True)
class V3User:
    """A USM user the receiver accepts; protocols are `usm.AUTH`/`usm.PRIV` names."""

    name: str
    auth_protocol: str = ""  # "": noAuthNoPriv
    auth_password: bytes = field(default=b"", repr=False)
    priv_protocol: str = ""  # "": authNoPriv
    priv_password: bytes = field(default=b"", repr=False)
    engine_ids: frozenset[bytes] = frozenset()  # traps: accepted sender engines; empty: any

    @property
    def level(self) -> int:
        """msgFlags security bits this user's messages must carry."""
        return (Flags.AUTH if self.auth_protocol else 0) | (Flags.PRIV if self.priv_protocol else 0)

    def __post_init__(self) -> None:
        if self.auth_protocol and self.auth_protocol not in AUTH:
            raise ValueError(f"unknown auth protocol {self.auth_protocol!r}")
        if self.priv_protocol and (self.priv_protocol not in PRIV or not self.auth_protocol):
            raise ValueError(f"unusable priv protocol {self.priv_protocol!r}")


@dataclass(frozen=True, slots=True)
class V3Result:
    """What one SNMPv3 datagram gave: a trap, a reply to send back, a drop reason."""

    trap: Trap | None = None
    reply: bytes | None = None
    drop: str | None = None


@dataclass(slots=True)
class _Seen:
    boots: int
    time: int
    mono: float


def is_v3(data: bytes) -> bool:
    """True when `data` looks like an SNMPv3 message (msgVersion 3), without decoding it."""
    try:
        tag, pos, _ = read_tlv(data, 0)
        if tag != 0x30:
            return False
        tag, p, end = read_tlv(data, pos)
        return tag == 0x02 and data[p:end] == b"\x03"
    except TrapError:
        return False


def new_engine_id() -> bytes:
    """A fresh engine ID in the RFC 3411 form: net-snmp's enterprise, format 5, random octets."""
    return bytes.fromhex("80001f8805") + os.urandom(8)


class UsmReceiver:
    """Checks SNMPv3 traps and informs for `users`; see the module docstring."""

    def __init__(
        self, users: Sequence[V3User], engine_id: bytes, boots: int, monotonic: float
    ) -> None:
        self.users = {u.name.encode("utf-8"): u for u in users}
        self.engine_id = engine_id
        self.boots = boots
        self._start = monotonic
        self._hashed: dict[tuple[str, bytes], bytes] = {}  # Ku per (hash, password)
        self._keys: OrderedDict[tuple[bytes, bytes], UserKeys] = OrderedDict()
        self._seen: OrderedDict[bytes, _Seen] = OrderedDict()
        self.stats: dict[str, int] = dict.fromkeys(_REPORT_OID, 0)

    def set_users(self, users: Sequence[V3User]) -> None:
        """Replace the accepted users (a reload); localised keys are derived again."""
        new = {u.name.encode("utf-8"): u for u in users}
        if new != self.users:
            self.users = new
            self._keys.clear()
            self._hashed.clear()

    def engine_time(self, monotonic: float) -> int:
        """Seconds since this engine started (snmpEngineTime)."""
        return min(0x7FFFFFFF, int(monotonic - self._start))

    def receive(self, data: bytes, monotonic: float) -> V3Result:
        """Check, decrypt and decode one SNMPv3 datagram (never raises)."""
        try:
            msg = decode_message(data)
        except BerError:
            return V3Result(drop="malformed")
        try:
            return self._receive(msg, monotonic)
        except (TrapError, UsmError, BerError, IndexError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, TrapError) else "malformed"
            return V3Result(drop=reason)

    # --- RFC 3414 3.2 ---------------------------------------------------------------

    def _receive(self, msg: Message, mono: float) -> V3Result:
        ours = msg.engine_id == self.engine_id
        level = msg.flags & _LEVEL
        reportable = bool(msg.flags & Flags.REPORTABLE)
        if not msg.engine_id or (reportable and not ours):
            # discovery (empty engine ID), or an inform for an engine that is not us
            probe = not level and _is_probe(msg.data)
            return self._refuse(msg, "unknown_engine_id", mono, counted=not probe)
        user = self.users.get(msg.user)
        if user is None:
            return self._refuse(msg, "unknown_user", mono)
        if level != user.level:
            return self._refuse(msg, "security_level", mono)
        if not ours and user.engine_ids and msg.engine_id not in user.engine_ids:
            return self._refuse(msg, "unknown_engine_id", mono)
        if level and not hmac.compare_digest(
            msg.auth, sign(user.auth_protocol, self._auth_key(user, msg.engine_id), msg.unsigned)
        ):
            return self._refuse(msg, "wrong_digest", mono)
        scoped = msg.data
        if level & Flags.PRIV:
            keys = self._user_keys(user, msg.engine_id)
            try:
                scoped = decrypt(
                    user.priv_protocol, keys.priv, msg.boots, msg.time, msg.priv, msg.data
                )
            except UsmError:
                return self._refuse(msg, "decryption", mono)
        if ours:
            boots, now = self.boots, self.engine_time(mono)
            if msg.boots != boots or msg.boots == 0x7FFFFFFF or abs(msg.time - now) > TIME_WINDOW:
                probe = _is_probe(scoped)
                return self._refuse(msg, "not_in_time_window", mono, user, counted=not probe)
        elif level and not self._timely(msg, mono):
            return self._refuse(msg, "not_in_time_window", mono)
        try:
            ctx_engine, ctx_name, pdu_at = _scoped(scoped)
            trap = decode_pdu(scoped, pdu_at, 3, user.name)
        except TrapError as exc:
            if exc.reason == "malformed" and level & Flags.PRIV:
                # the digest was right, the plaintext is not a ScopedPDU: a wrong priv key
                # (CFB and CBC decrypt anything; only the parse can tell)
                return self._refuse(msg, "decryption", mono)
            raise
        if trap.pdu != PDU_INFORM:
            return V3Result(trap)
        if not ours:  # an inform must be sent to the receiver's engine (reportable, above)
            return V3Result(drop="unknown_engine_id")
        body = encode_int(trap.request_id) + encode_int(0) + encode_int(0) + trap.raw_varbinds
        response = encode_scoped_pdu(ctx_engine, ctx_name, encode_tlv(PDU_RESPONSE, body))
        return V3Result(trap, self._message(msg, user, level, response, mono))

    def _timely(self, msg: Message, mono: float) -> bool:
        """RFC 3414 3.2 7b for a sender's engine: follow it forward, refuse the stale."""
        seen = self._seen.get(msg.engine_id)
        if seen is None:
            if len(self._seen) >= MAX_ENGINES:
                self._seen.popitem(last=False)
            self._seen[msg.engine_id] = _Seen(msg.boots, msg.time, mono)
            return msg.boots != 0x7FFFFFFF
        self._seen.move_to_end(msg.engine_id)
        latest = min(0x7FFFFFFF, seen.time + int(mono - seen.mono))
        if msg.boots > seen.boots or (msg.boots == seen.boots and msg.time > latest):
            seen.boots, seen.time, seen.mono = msg.boots, msg.time, mono
            return msg.boots != 0x7FFFFFFF
        return not (
            msg.boots < seen.boots or msg.boots == 0x7FFFFFFF or msg.time < latest - TIME_WINDOW
        )

    def _auth_key(self, user: V3User, engine_id: bytes) -> bytes:
        """The localised auth key, without the privacy key when it is not cached yet.

        A forged message from an unknown engine then costs one hash, not the Reeder key
        extension's megabyte (3DES, AES192C, AES256C) before its digest is found wrong.
        """
        keys = self._keys.get((user.name.encode("utf-8"), engine_id))
        if keys is not None:
            return keys.auth
        return localized_keys(
            engine_id, user.auth_protocol, user.auth_password, "", b"", hashed=self._hashed
        ).auth

    def _user_keys(self, user: V3User, engine_id: bytes) -> UserKeys:
        if not user.auth_protocol:
            return UserKeys(b"", b"")
        k = (user.name.encode("utf-8"), engine_id)
        keys = self._keys.get(k)
        if keys is None:
            keys = localized_keys(
                engine_id, user.auth_protocol, user.auth_password,
                user.priv_protocol, user.priv_password, hashed=self._hashed,
            )  # fmt: skip
            if len(self._keys) >= MAX_ENGINES:
                self._keys.popitem(last=False)
            self._keys[k] = keys
        else:
            self._keys.move_to_end(k)
        return keys

    def _refuse(
        self,
        msg: Message,
        reason: str,
        mono: float,
        user: V3User | None = None,
        *,
        counted: bool = True,
    ) -> V3Result:
        """Count `reason`; answer a reportable message with the usmStats Report."""
        self.stats[reason] += 1
        reply = None
        if msg.flags & Flags.REPORTABLE:
            request_id = _request_id(msg)
            varbind = encode_tlv(
                0x30,
                encode_tlv(0x06, _oid(_REPORT_OID[reason]))
                + encode_tlv(0x41, _uint(self.stats[reason])),
            )
            body = (
                encode_int(request_id) + encode_int(0) + encode_int(0) + encode_tlv(0x30, varbind)
            )
            scoped = encode_scoped_pdu(self.engine_id, b"", encode_tlv(PDU_REPORT, body))
            # usmStatsNotInTimeWindows is authenticated (3.2 7a), the others are not
            level = Flags.AUTH if user is not None and user.auth_protocol else 0
            reply = self._message(msg, user, level, scoped, mono)
        return V3Result(reply=reply, drop=reason if counted else None)

    def _message(
        self, msg: Message, user: V3User | None, level: int, scoped: bytes, mono: float
    ) -> bytes:
        """A message from this engine (authoritative) answering `msg` at `level`."""
        boots, now = self.boots, self.engine_time(mono)
        name = user.name.encode("utf-8") if user is not None else msg.user
        mac_length = AUTH[user.auth_protocol].mac_length if user and level else 0
        priv = b""
        keys = self._user_keys(user, self.engine_id) if user is not None and level else None
        if keys is not None and user is not None and level & Flags.PRIV:
            salt = int.from_bytes(os.urandom(8), "big")
            scoped, priv = encrypt(user.priv_protocol, keys.priv, boots, now, salt, scoped)
        data, at = encode_message(
            msg.msg_id, MAX_SIZE, level, self.engine_id, boots, now, name, mac_length, priv,
            scoped,
        )  # fmt: skip
        if keys is None or user is None:
            return data
        mac = sign(user.auth_protocol, keys.auth, data)
        return data[:at] + mac + data[at + mac_length :]


def _scoped(data: bytes) -> tuple[bytes, bytes, int]:
    """(contextEngineID, contextName, where the PDU starts) of a plaintext ScopedPDU."""
    tag, pos, _ = read_tlv(data, 0)
    if tag != 0x30:
        raise TrapError("malformed", "bad ScopedPDU")
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x04:
        raise TrapError("malformed", "bad contextEngineID")
    engine = data[p:pos]
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x04:
        raise TrapError("malformed", "bad contextName")
    return engine, data[p:pos], pos


def _is_probe(scoped: bytes) -> bool:
    """A discovery probe: a plaintext ScopedPDU holding a Get with no varbinds."""
    try:
        _, _, at = _scoped(scoped)
        tag, start, _end = read_tlv(scoped, at)
        if tag != PDU_GET:
            return False
        pos = start
        for _ in range(3):
            pos = read_tlv(scoped, pos)[2]
        tag, vstart, vend = read_tlv(scoped, pos)
        return tag == 0x30 and vstart == vend
    except TrapError:
        return False


def _request_id(msg: Message) -> int:
    """The request-id of the PDU in `msg` when it can be read in clear, else 0."""
    if msg.flags & Flags.PRIV:
        return 0
    try:
        _, _, at = _scoped(msg.data)
        _, start, _ = read_tlv(msg.data, at)
        tag, p, end = read_tlv(msg.data, start)
        return int.from_bytes(msg.data[p:end], "big", signed=True) if tag == 0x02 else 0
    except TrapError:
        return 0


def _oid(arcs: tuple[int, ...]) -> bytes:
    out = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def _uint(value: int) -> bytes:
    value &= 0xFFFFFFFF
    return value.to_bytes(value.bit_length() // 8 + 1, "big")
