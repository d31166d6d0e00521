"""SNMP sessions: one request/response exchange with retries and deadlines, GET and walks.

Two session kinds behind one `Session` protocol:
- `NativeSession` (v1, v2c): a connected asyncio UDP socket per poll and the BER codec
  of `ber.py`. A connected socket means the kernel drops datagrams from anyone but the
  agent, and an ICMP port-unreachable surfaces as `Refused`.
- `v3session.UsmSession` (v3): the same socket handling with the SNMPv3 message codec
  and USM of `v3message.py`/`usm.py`; engines and localised keys live in the shared
  `EnginePool.usm`.
- `PysnmpSession` (any version with `client: pysnmp`): pysnmp 7's engine (USM,
  engine discovery, time windows) shared by all targets, driven with its command
  generators and plain OID tuples, so no MIB is ever consulted.

Both count requests, retries and timeouts (`SessionStats`), hold a slot of the global
request cap (`RequestLimiter`) only while a request is in flight, and raise only the
`ClientError` tree below; `collector.py` translates it into `monitord.errors`.

`walk()` walks several table columns at once with GETBULK (GETNEXT for v1), and stops
a column on endOfMibView, on leaving its subtree, and on a non-increasing OID (broken
agents; snmpsim answers past the end with the same OID and endOfMibView forever). It
shrinks max-repetitions on tooBig and timeouts and falls back to GETNEXT when an agent
chokes on GETBULK, and reports what worked (and whether it was tooBig, a lasting
limit, or a timeout, a passing one) so the caller can remember it per device and grow
it back after good walks (`next_repetitions`).
It writes into a caller-owned dict as it goes, so a walk cut by the deadline leaves
what it got.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import logging
import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol, cast

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as pconfig
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import Null, ObjectName

from collectors._delayline import Deadlines
from collectors._snmpwire.ber import (
    BerError,
    Oid,
    PduType,
    Response,
    Tag,
    VarBind,
    decode_response,
    encode_request,
)
from collectors._snmpwire.usm import UsmCache
from collectors.snmp.convert import from_pysnmp
from monitord.secrets import Secret

__all__ = [
    "AuthFailure",
    "AuthProblem",
    "AuthProtocol",
    "BadResponse",
    "ClientError",
    "Community",
    "EnginePool",
    "ErrorStatus",
    "LimitExceeded",
    "NameNotResolved",
    "NativeSession",
    "PrivProtocol",
    "PysnmpSession",
    "Refused",
    "RequestLimiter",
    "RequestTimeout",
    "Session",
    "SessionStats",
    "Unreachable",
    "UsmUser",
    "WalkResult",
    "get",
    "next_repetitions",
    "open_session",
    "walk",
]

log = logging.getLogger(__name__)

# PDU error-status values (RFC 3416) the walk reacts to.
TOO_BIG: Final = 1
NO_SUCH_NAME: Final = 2
GEN_ERR: Final = 5
NO_ACCESS: Final = 6
AUTHORIZATION_ERROR: Final = 16
# Upper bound on varbinds asked for in one GETBULK (columns x repetitions).
MAX_VARBINDS_PER_REQUEST: Final = 250
# Safety bound on rows taken from one column in one walk.
MAX_ROWS_PER_COLUMN: Final = 100_000


# --- errors ------------------------------------------------------------------------


class ClientError(Exception):
    """Base of what a session raises; messages never hold a credential."""


class RequestTimeout(ClientError):
    """No answer after every attempt."""


class ErrorStatus(ClientError):
    """The agent answered with a non-zero error-status."""

    def __init__(self, status: int, index: int) -> None:
        super().__init__(f"agent returned error-status {status} at varbind {index}")
        self.status = status
        self.index = index


class AuthProblem(StrEnum):
    """What exactly the agent refused."""

    UNKNOWN_USER = "unknown_user"
    WRONG_DIGEST = "wrong_digest"  # the auth key (or protocol) is wrong
    DECRYPTION = "decryption"  # the priv key (or protocol) is wrong
    SECURITY_LEVEL = "security_level"  # the user exists but not at this security level
    TIME_WINDOW = "time_window"
    ACCESS = "access"  # authenticated, but the agent's access control says no
    OTHER = "other"


class AuthFailure(ClientError):
    """The agent refused the credentials (v3 report, or authorizationError/noAccess)."""

    def __init__(self, message: str, problem: AuthProblem = AuthProblem.OTHER) -> None:
        super().__init__(message)
        self.problem = problem


class BadResponse(ClientError):
    """The agent answered with something unusable."""


class LimitExceeded(ClientError):
    """A per-target bound was reached (`max_varbinds`, `max_series`): the excess is dropped.

    Raised by `walk` once the session has received `max_varbinds`; what was walked
    until then is kept by the caller. The agent answers: this is no failure of it.
    """

    def __init__(self, limit: str, value: int) -> None:
        super().__init__(f"per-target limit {limit}={value} reached; the excess is dropped")
        self.limit = limit
        self.value = value


class Refused(ClientError):
    """ICMP port unreachable: nothing listens on the SNMP port."""


class Unreachable(ClientError):
    """No route to the agent, or the network is down."""


class NameNotResolved(ClientError):
    """The target's address did not resolve."""


# --- credentials -------------------------------------------------------------------


class AuthProtocol(StrEnum):
    """SNMPv3 authentication protocols (RFC 3414, RFC 7860)."""

    MD5 = "MD5"
    SHA = "SHA"
    SHA224 = "SHA224"
    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


class PrivProtocol(StrEnum):
    """SNMPv3 privacy protocols. AES192/AES256 are Blumenthal key extension (net-snmp's
    AES-192/AES-256); AES192C/AES256C the Reeder one that Cisco calls AES-192/256."""

    DES = "DES"
    TDES = "3DES"
    AES = "AES"
    AES192 = "AES192"
    AES256 = "AES256"
    AES192C = "AES192C"
    AES256C = "AES256C"


_AUTH_OIDS: Final = {
    AuthProtocol.MD5: pconfig.USM_AUTH_HMAC96_MD5,
    AuthProtocol.SHA: pconfig.USM_AUTH_HMAC96_SHA,
    AuthProtocol.SHA224: pconfig.USM_AUTH_HMAC128_SHA224,
    AuthProtocol.SHA256: pconfig.USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA384: pconfig.USM_AUTH_HMAC256_SHA384,
    AuthProtocol.SHA512: pconfig.USM_AUTH_HMAC384_SHA512,
}
_PRIV_OIDS: Final = {
    PrivProtocol.DES: pconfig.USM_PRIV_CBC56_DES,
    PrivProtocol.TDES: pconfig.USM_PRIV_CBC168_3DES,
    PrivProtocol.AES: pconfig.USM_PRIV_CFB128_AES,
    PrivProtocol.AES192: pconfig.USM_PRIV_CFB192_AES_BLUMENTHAL,
    PrivProtocol.AES256: pconfig.USM_PRIV_CFB256_AES_BLUMENTHAL,
    PrivProtocol.AES192C: pconfig.USM_PRIV_CFB192_AES,
    PrivProtocol.AES256C: pconfig.USM_PRIV_CFB256_AES,
}


@dataclass(frozen=True, slots=True)
class Community:
    """v1 (`version=0`) or v2c (`version=1`) credentials."""

    version: int
    community: Secret


@dataclass(frozen=True, slots=True)
class UsmUser:
    """SNMPv3 USM credentials; no auth protocol means noAuthNoPriv."""

    user: str
    auth_protocol: AuthProtocol | None = None
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: Secret | None = None
    context: str = ""

    @property
    def security_level(self) -> str:
        """noAuthNoPriv, authNoPriv or authPriv."""
        if self.auth_protocol is None:
            return "noAuthNoPriv"
        return "authPriv" if self.priv_protocol is not None else "authNoPriv"

    def fingerprint(self) -> str:
        """A digest of the keys, to tell two credential sets for one user name apart."""
        h = hashlib.sha256()
        for part in (
            self.user,
            self.auth_protocol,
            self.auth_key,
            self.priv_protocol,
            self.priv_key,
        ):
            h.update(
                b"\x00" + (part.reveal() if isinstance(part, Secret) else str(part or "")).encode()
            )
        return h.hexdigest()


Credentials = Community | UsmUser


# --- shared resources --------------------------------------------------------------


class RequestLimiter:
    """Global cap on SNMP requests in flight (one semaphore for every target).

    It also holds the request deadlines: one `Deadlines` line (one event-loop timer)
    per distinct timeout, shared by every session, instead of a timer per request.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem: asyncio.Semaphore | None = None
        self._deadlines: dict[float, Deadlines] = {}

    def deadlines(self, timeout: float) -> Deadlines:
        """The shared deadline line for requests of `timeout` seconds."""
        line = self._deadlines.get(timeout)
        if line is None:
            line = self._deadlines[timeout] = Deadlines(timeout)
        return line

    @property
    def semaphore(self) -> asyncio.Semaphore:
        """The semaphore, created on first use inside the running loop."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        return self._sem


class EnginePool:
    """The shared pysnmp `SnmpEngine` and its configuration (created inside the loop).

    Targets, parameters, communities and USM users are configured directly with
    `pysnmp.entity.config` (pysnmp.hlapi is not imported at all: with pysmi installed
    it pulls in a MIB compiler). pysnmp keeps one USM entry per user name in an
    engine, so two targets that use the same v3 user name with different keys would
    overwrite each other's keys; the second credential set for a user name gets an
    engine of its own.
    """

    def __init__(self) -> None:
        self._engines: dict[str, _Engine] = {}
        self._by_user: dict[str, str] = {}
        self.usm = UsmCache()  # the native v3 client's engines and keys

    def engine(self, creds: Credentials) -> _Engine:
        """The engine to use for `creds`."""
        key = "main"
        if isinstance(creds, UsmUser):
            fp = creds.fingerprint()
            if self._by_user.setdefault(creds.user, fp) != fp:
                key = fp
        if key not in self._engines:
            self._engines[key] = _Engine()
        return self._engines[key]

    async def aclose(self) -> None:
        """Close every engine's dispatcher (its sockets)."""
        engines = list(self._engines.values())
        self._engines, self._by_user = {}, {}
        for e in engines:
            e.close()


class _Engine:
    """One SnmpEngine and what has been configured into it."""

    def __init__(self) -> None:
        self.engine = SnmpEngine()
        self._names: dict[tuple[object, ...], str] = {}
        self._users: dict[str, str] = {}
        self._n = 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def target(self, creds: Credentials, family: int, addr: tuple[str, int], timeout: float) -> str:
        """Configure (once) and return the target-address name for `creds` at `addr`."""
        e = self.engine
        if isinstance(creds, Community):
            text = creds.community.reveal()
            # The index names the entry in pysnmp's tables: a digest, not the community.
            sec = "c" + hashlib.sha256(text.encode()).hexdigest()[:16]
            if sec not in self._users:
                pconfig.add_v1_system(e, sec, text, None, b"", None, sec)
                self._users[sec] = sec
            level, model = "noAuthNoPriv", creds.version
        else:
            sec = creds.user
            fp = creds.fingerprint()
            if self._users.get(sec) != fp:
                if sec in self._users:
                    pconfig.delete_v3_user(e, sec)
                pconfig.add_v3_user(
                    e,
                    sec,
                    _AUTH_OIDS[creds.auth_protocol]
                    if creds.auth_protocol
                    else pconfig.USM_AUTH_NONE,
                    creds.auth_key.reveal() if creds.auth_key is not None else None,
                    _PRIV_OIDS[creds.priv_protocol]
                    if creds.priv_protocol
                    else pconfig.USM_PRIV_NONE,
                    creds.priv_key.reveal() if creds.priv_key is not None else None,
                )
                self._users[sec] = fp
            level, model = creds.security_level, 3
        pkey = ("params", sec, level, model)
        params = self._names.get(pkey)
        if params is None:
            params = self._names[pkey] = self._name("p")
            pconfig.add_target_parameters(e, params, sec, level, model)
        domain = udp6.DOMAIN_NAME if family == socket.AF_INET6 else udp.DOMAIN_NAME
        if pconfig.get_transport(e, domain) is None:
            transport = (
                udp6.Udp6AsyncioTransport if family == socket.AF_INET6 else udp.UdpAsyncioTransport
            )()
            pconfig.add_transport(e, domain, transport.open_client_mode())
        akey = ("addr", params, domain, addr, timeout)
        name = self._names.get(akey)
        if name is None:
            name = self._names[akey] = self._name("a")
            # pysnmp's own timer is only a backstop: the per-attempt deadline is ours.
            pconfig.add_target_address(e, name, domain, addr, params, int((timeout + 1.0) * 100), 0)
        return name

    def close(self) -> None:
        """Close the dispatcher and its sockets."""
        if self.engine.transport_dispatcher is not None:
            self.engine.close_dispatcher()


# --- sessions ----------------------------------------------------------------------


@dataclass(slots=True)
class SessionStats:
    """What one poll's session did; becomes per-target metrics."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    varbinds: int = 0
    malformed: int = 0  # varbinds with a value (or name) no SNMP type allows: dropped
    malformed_oids: list[Oid] = field(default_factory=list)  # the first few, for the log


class Session(Protocol):
    """One agent, for the length of one poll."""

    version: int  # 0 = v1, 1 = v2c, 3 = v3
    stats: SessionStats

    async def request(
        self,
        pdu: PduType,
        oids: Sequence[Oid],
        max_repetitions: int = 0,
        retries: int | None = None,
    ) -> tuple[list[VarBind], int]:
        """One exchange with retries; return the varbinds and the max-repetitions used."""
        ...

    async def aclose(self) -> None:
        """Release the socket."""
        ...


async def resolve(host: str, port: int) -> tuple[int, tuple[str, int]]:
    """Resolve `host` to (address family, (ip, port)); raise NameNotResolved."""
    if "%" not in host:  # a literal address needs no resolver thread (one per poll)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), (str(ip), port)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    except (socket.gaierror, UnicodeError):
        raise NameNotResolved(f"cannot resolve {host!r}") from None
    if not infos:
        raise NameNotResolved(f"cannot resolve {host!r}")
    family, _, _, _, sockaddr = infos[0]
    return int(family), (str(sockaddr[0]), int(sockaddr[1]))


class _Datagrams(asyncio.DatagramProtocol):
    """Replies go to the future waiting for their id; undecodable ones are counted."""

    def __init__(self) -> None:
        self.waiters: dict[int, asyncio.Future[object]] = {}
        self.malformed = 0
        self.error: OSError | None = None

    def decode(self, data: bytes) -> tuple[int, object]:
        """(id, reply) of a datagram; raise BerError. v1/v2c: the request-id."""
        resp = decode_response(data)
        return resp.request_id, resp

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            key, reply = self.decode(data)
        except BerError:
            self.malformed += 1
            return
        fut = self.waiters.get(key)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.error = exc
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(exc)


class _RetryingSession:
    """The retry loop both sessions share; subclasses send one attempt in `_attempt`."""

    stats: SessionStats
    _retries: int
    _timeout: float

    async def _open(self) -> object:
        raise NotImplementedError

    async def _attempt(self, pdu: PduType, oids: Sequence[Oid], reps: int) -> list[VarBind] | None:
        """One request and its wait; None when it timed out (the next attempt follows)."""
        raise NotImplementedError

    def _no_response(self) -> None:
        """Called when every attempt timed out, before RequestTimeout is raised."""

    async def request(
        self,
        pdu: PduType,
        oids: Sequence[Oid],
        max_repetitions: int = 0,
        retries: int | None = None,
    ) -> tuple[list[VarBind], int]:
        """One exchange with retries (GETBULK retries use half the repetitions)."""
        attempts = (self._retries if retries is None else retries) + 1
        await self._open()
        reps = max_repetitions
        for attempt in range(attempts):
            if attempt:
                self.stats.retries += 1
                if pdu is PduType.GET_BULK:
                    reps = max(1, reps // 2)
            varbinds = await self._attempt(pdu, oids, reps)
            if varbinds is not None:
                self.stats.varbinds += len(varbinds)
                return varbinds, reps
        self.stats.timeouts += 1
        self._no_response()
        raise RequestTimeout(f"no response after {attempts} attempt(s) of {self._timeout:g}s")


class NativeSession(_RetryingSession):
    """v1/v2c over a connected UDP socket with the native BER codec."""

    def __init__(
        self,
        address: tuple[int, tuple[str, int]],
        creds: Community,
        *,
        timeout: float,
        retries: int,
        limiter: RequestLimiter,
    ) -> None:
        self.version = creds.version
        self.stats = SessionStats()
        self._family, self._addr = address
        self._community = creds.community.reveal().encode("utf-8")
        self._timeout = timeout
        self._retries = retries
        self._limiter = limiter
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self._transport: asyncio.DatagramTransport | None = None
        self._proto = _Datagrams()

    async def _open(self) -> asyncio.DatagramTransport:
        if self._transport is None:
            loop = asyncio.get_running_loop()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: self._proto, remote_addr=self._addr, family=self._family
                )
            except OSError as exc:
                raise Unreachable(
                    f"cannot open a UDP socket to {self._addr[0]}:{self._addr[1]}: {exc.strerror}"
                ) from None
            self._transport = transport
        return self._transport

    async def _attempt(self, pdu: PduType, oids: Sequence[Oid], reps: int) -> list[VarBind] | None:
        rid = next(self._ids) & 0x7FFFFFFF
        msg = encode_request(self.version, self._community, pdu, rid, oids, max_repetitions=reps)
        resp = await self._exchange(rid, msg)
        if not isinstance(resp, Response):
            return None
        if resp.community != self._community or resp.version != self.version:
            raise BadResponse("response with another community or version")
        if resp.error_status:
            _raise_status(resp.error_status, resp.error_index)
        return resp.varbinds

    async def _exchange(self, key: int, data: bytes) -> object | None:
        """Send `data`, wait for the reply with id `key` (see `_Datagrams`); None on timeout."""
        transport = await self._open()
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._proto.waiters[key] = fut
        try:
            async with self._limiter.semaphore:
                self.stats.requests += 1
                transport.sendto(data)
                self._limiter.deadlines(self._timeout).expire_later(fut)
                try:
                    return await fut
                except TimeoutError:
                    return None
        except ConnectionRefusedError:
            raise Refused(f"port unreachable at {self._addr[0]}:{self._addr[1]}") from None
        except OSError as exc:
            raise Unreachable(f"{self._addr[0]}:{self._addr[1]}: {exc.strerror}") from None
        finally:
            self._proto.waiters.pop(key, None)

    def _no_response(self) -> None:
        if self._proto.malformed:
            raise BadResponse(f"{self._proto.malformed} malformed response(s) and no valid one")

    async def aclose(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None


# pysnmp error indications that mean "the agent refused these credentials".
_AUTH_INDICATIONS: Final[tuple[tuple[type[errind.ErrorIndication], AuthProblem], ...]] = (
    (errind.UnknownUserName, AuthProblem.UNKNOWN_USER),
    (errind.UnknownSecurityName, AuthProblem.UNKNOWN_USER),
    (errind.WrongDigest, AuthProblem.WRONG_DIGEST),
    (errind.AuthenticationError, AuthProblem.WRONG_DIGEST),
    (errind.AuthenticationFailure, AuthProblem.WRONG_DIGEST),
    (errind.DecryptionError, AuthProblem.DECRYPTION),
    (errind.UnsupportedSecurityLevel, AuthProblem.SECURITY_LEVEL),
    (errind.NotInTimeWindow, AuthProblem.TIME_WINDOW),
    (errind.UnknownEngineID, AuthProblem.OTHER),
    (errind.UnsupportedAuthProtocol, AuthProblem.OTHER),
    (errind.UnsupportedPrivProtocol, AuthProblem.OTHER),
    (errind.NoAuthentication, AuthProblem.OTHER),
    (errind.NoEncryption, AuthProblem.OTHER),
    (errind.EncryptionError, AuthProblem.OTHER),
    (errind.UnknownCommunityName, AuthProblem.OTHER),
    (errind.NoSuchView, AuthProblem.ACCESS),
    (errind.NoAccessEntry, AuthProblem.ACCESS),
    (errind.NoGroupName, AuthProblem.ACCESS),
    (errind.NoSuchContext, AuthProblem.ACCESS),
    (errind.NotInView, AuthProblem.ACCESS),
)


class PysnmpSession(_RetryingSession):
    """Any version through pysnmp's engine (`client: pysnmp`; the native v3 session's reference).

    It sends PDUs with pysnmp's single-run command generators and plain `(OID, Null)`
    varbinds on an engine configured by `EnginePool`. Going below hlapi's
    `get_cmd`/`bulk_cmd` skips the MIB machinery altogether: with pysmi installed,
    hlapi's varbind resolution builds a MIB compiler on first use (2.6 s of CPU on the
    event loop) even with lookupMib=False.
    """

    def __init__(
        self,
        address: tuple[int, tuple[str, int]],
        creds: Credentials,
        engine: _Engine,
        *,
        timeout: float,
        retries: int,
        limiter: RequestLimiter,
    ) -> None:
        self.version = 3 if isinstance(creds, UsmUser) else creds.version
        self.stats = SessionStats()
        self._family, self._addr = address
        self._handle = engine
        self._engine = engine.engine
        self._creds = creds
        self._timeout = timeout
        self._retries = retries
        self._limiter = limiter
        self._context = creds.context.encode() if isinstance(creds, UsmUser) else b""
        self._target_name: str | None = None

    async def _open(self) -> str:
        if self._target_name is None:
            self._target_name = self._handle.target(
                self._creds, self._family, self._addr, self._timeout
            )
        return self._target_name

    async def _attempt(self, pdu: PduType, oids: Sequence[Oid], reps: int) -> list[VarBind] | None:
        target = await self._open()
        varbinds = [(ObjectName(o), _NULL) for o in oids]
        fut: asyncio.Future[tuple[object, int, int, Sequence[tuple[object, object]]]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(
            engine: object,
            handle: object,
            ei: object,
            es: object,
            ex: object,
            vbs: object,
            ctx: object,
        ) -> None:
            if not fut.done():
                fut.set_result((ei, int(es or 0), int(ex or 0), vbs or ()))  # type: ignore[call-overload,arg-type]

        async with self._limiter.semaphore:
            self.stats.requests += 1
            if pdu is PduType.GET_BULK:
                _BULK.send_varbinds(
                    self._engine, target, None, self._context, 0, reps, varbinds, done
                )
            elif pdu is PduType.GET_NEXT:
                _NEXT.send_varbinds(self._engine, target, None, self._context, varbinds, done)
            else:
                _GET.send_varbinds(self._engine, target, None, self._context, varbinds, done)
            self._limiter.deadlines(self._timeout).expire_later(fut)
            try:
                ei, es, ex, vbs = await fut
            except TimeoutError:
                return None
        if ei:
            if isinstance(ei, errind.RequestTimedOut):
                return None
            for cls, problem in _AUTH_INDICATIONS:
                if isinstance(ei, cls):
                    raise AuthFailure(
                        f"agent refused the credentials ({type(ei).__name__})", problem
                    )
            raise BadResponse(f"SNMP engine error ({type(ei).__name__})")
        if es:
            _raise_status(es, ex)
        out: list[VarBind] = []
        for name, value in vbs:
            tag, raw = from_pysnmp(value)
            out.append((tuple(cast(Iterable[int], name)), tag, raw))
        return out

    async def aclose(self) -> None:
        """Nothing to release per poll: the engine's transport is shared."""
        self._target_name = None


_GET: Final = cmdgen.GetCommandGenerator()
_NEXT: Final = cmdgen.NextCommandGeneratorSingleRun()
_BULK: Final = cmdgen.BulkCommandGeneratorSingleRun()
_NULL: Final = Null("")


def _raise_status(status: int, index: int) -> None:
    if status in (NO_ACCESS, AUTHORIZATION_ERROR):
        raise AuthFailure(f"agent denied access (error-status {status})", AuthProblem.ACCESS)
    raise ErrorStatus(status, index)


async def open_session(
    host: str,
    port: int,
    creds: Credentials,
    *,
    timeout: float,
    retries: int,
    limiter: RequestLimiter,
    engines: EnginePool | None = None,
    native: bool = True,
) -> Session:
    """Resolve the agent and build the right session for `creds`."""
    address = await resolve(host, port)
    if isinstance(creds, Community) and native:
        return NativeSession(address, creds, timeout=timeout, retries=retries, limiter=limiter)
    if engines is None:
        raise ValueError("a v3 or pysnmp session needs the engine pool")
    if isinstance(creds, UsmUser) and native:
        from collectors.snmp.v3session import UsmSession  # it builds on this module

        return UsmSession(
            address, creds, engines.usm, timeout=timeout, retries=retries, limiter=limiter
        )
    return PysnmpSession(
        address, creds, engines.engine(creds), timeout=timeout, retries=retries, limiter=limiter
    )


# --- GET and walk ------------------------------------------------------------------


async def get(session: Session, oids: Sequence[Oid]) -> dict[Oid, tuple[int, object]]:
    """GET `oids`; missing ones (noSuchObject/Instance, v1 noSuchName) are left out.

    A tooBig splits the request in halves.
    """
    out: dict[Oid, tuple[int, object]] = {}
    pending = [list(oids)]
    for _ in range(4 * len(oids) + 4):  # each round removes an OID or halves a request
        if not pending:
            break
        chunk = pending.pop()
        if not chunk:
            continue
        try:
            vbs, _ = await session.request(PduType.GET, chunk)
        except ErrorStatus as exc:
            if exc.status == NO_SUCH_NAME and 1 <= exc.index <= len(chunk):
                pending.append(chunk[: exc.index - 1] + chunk[exc.index :])
                continue
            if exc.status == TOO_BIG and len(chunk) > 1:
                half = len(chunk) // 2
                pending.extend((chunk[:half], chunk[half:]))
                continue
            raise
        for name, tag, raw in vbs:
            if tag == Tag.MALFORMED:
                _count_malformed(session.stats, name)
            elif tag not in (
                Tag.NO_SUCH_OBJECT,
                Tag.NO_SUCH_INSTANCE,
                Tag.END_OF_MIB_VIEW,
                Tag.NULL,
            ):
                out[name] = (tag, raw)
    return out


def _count_malformed(stats: SessionStats, name: Oid) -> None:
    stats.malformed += 1
    if len(stats.malformed_oids) < 5:
        stats.malformed_oids.append(name)


@dataclass(slots=True)
class WalkResult:
    """How a walk went: the repetitions and method that worked, and what stopped early."""

    max_repetitions: int
    bulk: bool
    requests: int = 0
    non_increasing: list[Oid] = field(default_factory=list)
    truncated: list[Oid] = field(default_factory=list)
    too_big: bool = False  # the agent said tooBig: max_repetitions is a ceiling for it
    stalled_at: tuple[Oid, ...] = ()  # the request that got no answer, when the walk timed out
    shrunk: bool = False  # max_repetitions went down during this walk (tooBig or timeout)


def next_repetitions(
    res: WalkResult, configured: int, ceiling: int | None
) -> tuple[int, int | None]:
    """Max-repetitions for the next walk of a table, and the tooBig ceiling to remember.

    A walk that had to shrink keeps what worked; tooBig also sets a ceiling (the
    agent's response size limit does not pass). A walk that went well doubles its
    repetitions, up to the ceiling or the configured value: after a passing timeout
    a table is back at the configured value within log2(configured) + 1 good polls.
    """
    if res.too_big:
        ceiling = res.max_repetitions
    limit = min(configured, ceiling) if ceiling is not None else configured
    if res.shrunk:
        return min(res.max_repetitions, limit), ceiling
    return min(limit, max(res.max_repetitions * 2, 1)), ceiling


async def walk(
    session: Session,
    columns: Iterable[Oid],
    into: dict[Oid, dict[Oid, tuple[int, object]]],
    *,
    max_repetitions: int,
    bulk: bool = True,
    result: WalkResult | None = None,
    max_varbinds: int = 0,
) -> WalkResult:
    """Walk every column (all together) into `into[column][index] = (tag, raw)`.

    `result` (updated as the walk goes) lets a caller that cancels the walk still learn
    what worked. Raises ClientError when the agent fails for good, and LimitExceeded
    once the session has received `max_varbinds` (> 0) varbinds in all.
    """
    cursors: dict[Oid, Oid] = {}
    for col in columns:
        cursors[col] = col
        into.setdefault(col, {})
    use_bulk = bulk and session.version != 0
    reps = max(1, max_repetitions)
    res = result if result is not None else WalkResult(reps, use_bulk)
    res.max_repetitions, res.bulk = reps, use_bulk
    per_request = len(cursors)  # columns per GETNEXT; shrinks on tooBig
    probe_single = False
    while cursors:
        active = list(cursors)[: per_request if not use_bulk else None]
        request = [cursors[c] for c in active]
        n = len(active)
        try:
            if use_bulk:
                ask = max(1, min(reps, MAX_VARBINDS_PER_REQUEST // n))
                vbs, used = await session.request(
                    PduType.GET_BULK, request, ask, 0 if probe_single else None
                )
                probe_single = False
                if used < ask:  # a retry after a timeout worked with fewer
                    reps = res.max_repetitions = used
                    res.shrunk = True
            else:
                vbs, _ = await session.request(PduType.GET_NEXT, request)
        except ErrorStatus as exc:
            if use_bulk and exc.status == TOO_BIG and reps > 1:
                reps = res.max_repetitions = max(1, reps // 2)
                res.too_big = res.shrunk = True
                continue
            if use_bulk:
                log.debug("getbulk failed (error-status %d), falling back to getnext", exc.status)
                use_bulk = res.bulk = False
                continue
            if exc.status == NO_SUCH_NAME and 1 <= exc.index <= n:  # v1: end of the MIB
                del cursors[active[exc.index - 1]]
                continue
            if exc.status == TOO_BIG and per_request > 1:
                per_request = max(1, min(per_request, n) // 2)
                continue
            raise
        except RequestTimeout:
            if use_bulk and reps > 1:  # one last try with the smallest response
                reps = res.max_repetitions = 1
                res.shrunk = probe_single = True
                continue
            res.stalled_at = tuple(request)
            raise
        res.requests += 1
        if not vbs:
            raise BadResponse("empty response to a walk request")
        done: set[Oid] = set()
        for i, (name, tag, raw) in enumerate(vbs):
            col = active[i % n]
            if col in done:
                continue
            if (
                tag in (Tag.END_OF_MIB_VIEW, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE)
                or name[: len(col)] != col
            ):
                if not name:  # a name no SNMP OID can be: the column cannot go on
                    _count_malformed(session.stats, col)
                done.add(col)
                continue
            if name <= cursors[col]:
                res.non_increasing.append(col)
                done.add(col)
                continue
            if tag < 0:  # Tag.MALFORMED: drop the value, keep walking past its (valid) name
                _count_malformed(session.stats, name)
                cursors[col] = name
                continue
            rows = into[col]
            rows[name[len(col) :]] = (tag, raw)
            cursors[col] = name
            if len(rows) >= MAX_ROWS_PER_COLUMN:
                res.truncated.append(col)
                done.add(col)
        if not use_bulk and len(vbs) < n:  # a GETNEXT answer must cover every varbind
            raise BadResponse("short response to a getnext request")
        for col in done:
            cursors.pop(col, None)
        if max_varbinds and cursors and session.stats.varbinds >= max_varbinds:
            raise LimitExceeded("max_varbinds", max_varbinds)
    return res
