"""SNMP hygiene: does the device answer default communities over v1/v2c, and does it speak v3?

One poll sends, concurrently, a GET of sysObjectID.0 (1.3.6.1.2.1.1.2.0) for every
configured community (default `public` and `private`) over every configured version (v1 and
v2c), plus one SNMPv3 probe: a GET as an unknown user, which any v3 agent answers with a
Report (engine discovery, then usmStatsUnknownUserNames) and a v1/v2c-only agent ignores. A
community is "accepted" when the agent sends any response to it (agents drop requests with
a wrong community). A GET cannot show write access: a `private` community that answers is
reported as accepted, whatever its access rights.

Silence is compliance, not failure: an agent that answers none of the probes is what the
policy wants (or is down, which the icmp/snmp collectors report), so the poll succeeds.
It fails only when the address does not resolve (NameResolutionFailed) or when the SNMP
engine cannot send (TargetUnreachable).

Communities are secrets (`${ENV}` / `file:` allowed): they never appear in metrics, logs or
error messages. The info metric names an accepted community masked: its first two
characters and `****` (`public` -> `pu****`), or `****` for one shorter than 6 characters.

Uses its own SnmpEngine (shared key `snmp_hygiene.engine`), independent of the snmp
collector, configured with `pysnmp.entity.config` (see `_Engine` for why not hlapi).
Emits (per target):
  monitord_snmp_hygiene_default_community_info{target,version,community}   1 per accepted
                                                 (community masked, version 1 | 2c)
  monitord_snmp_hygiene_communities_accepted     accepted (community, version) pairs
  monitord_snmp_hygiene_v3_required              1 when the policy requires SNMPv3 only
  monitord_snmp_hygiene_v3_answering             1 when an SNMPv3 agent answered (probe_v3)
  monitord_policy_violation{target,check,port}   snmp_default_community: some community
                                                 accepted; snmp_v3_required (when required):
                                                 v1/v2c accepted or no v3 answer
Series budget: 5 + 1 per accepted (community, version); 9 with the defaults.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar, Final

from pydantic import BeforeValidator
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as lcd
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import Null, ObjectName

from collectors._checks import VIOLATION_SPEC, resolve, violation
from monitord.config import Duration, SecretValue, parse_options
from monitord.errors import ConfigError, TargetUnreachable
from monitord.secrets import Secret
from monitord.types import MetricSpec, Role, Sample, SampleKind, Shared, Target

__all__ = [
    "ENGINE_KEY",
    "KIND",
    "Options",
    "PolicyCheck",
    "SnmpHygieneCollector",
    "Version",
    "build",
    "mask_community",
]

KIND: Final = "snmp_hygiene"
ENGINE_KEY: Final = "snmp_hygiene.engine"
SYS_OBJECT_ID: Final = "1.3.6.1.2.1.1.2.0"
_PROBE_USER: Final = "monitord-hygiene-probe"
_MP_MODEL: Final = {"1": 0, "2c": 1}


class Version(StrEnum):
    """Community-based SNMP versions probed."""

    V1 = "1"
    V2C = "2c"


class PolicyCheck(StrEnum):
    """The `check` label values of monitord_policy_violation emitted by this collector."""

    DEFAULT_COMMUNITY = "snmp_default_community"
    V3_REQUIRED = "snmp_v3_required"


_VersionField = Annotated[Version, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the snmp_hygiene collector; the defaults here are the documented defaults."""

    communities: tuple[SecretValue, ...] = (Secret("public"), Secret("private"))
    versions: tuple[_VersionField, ...] = (Version.V1, Version.V2C)
    v3_required: bool = False  # policy: the device must speak v3 and refuse v1/v2c
    probe_v3: bool = True  # send the unauthenticated v3 probe
    port: int = 161
    request_timeout: Duration = 1.0  # per request; with retries, keep below the job timeout
    retries: int = 0


class SnmpHygieneCollector:
    """Probe one device's SNMP access hygiene; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    # Security checks a successful poll runs (capability RunsChecks; history check names).
    checks: ClassVar[tuple[str, ...]] = (
        "snmp.default_community",
        "snmp.v3_required",
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "monitord_snmp_hygiene_default_community_info",
            SampleKind.INFO,
            "A configured (default) community the device answered a GET of sysObjectID.0 to, "
            "masked, with the SNMP version; value 1; last poll.",
            labels=("target", "version", "community"),
            roles=frozenset({Role.CHECK_INPUT}),
            rollup="default_community",
        ),
        MetricSpec(
            "monitord_snmp_hygiene_communities_accepted",
            SampleKind.GAUGE,
            "Number of (community, version) pairs among the configured ones the device "
            "answered, last poll.",
        ),
        MetricSpec(
            "monitord_snmp_hygiene_v3_required",
            SampleKind.GAUGE,
            "1 when the policy for this device requires SNMPv3 only (configuration flag).",
        ),
        MetricSpec(
            "monitord_snmp_hygiene_v3_answering",
            SampleKind.GAUGE,
            "1 when an SNMPv3 agent answered the unauthenticated probe (a Report counts), "
            "last poll.",
            roles=frozenset({Role.CHECK_INPUT}),
            rollup="v3_answering",
        ),
        VIOLATION_SPEC,
    )

    def __init__(self, options: Options, shared: Shared) -> None:
        self.options = options
        self._shared = shared

    async def collect(self, target: Target) -> list[Sample]:
        """Send the probes concurrently and judge the policy."""
        opts = self.options
        engine = self._shared.get(ENGINE_KEY, _Engine)
        family, sockaddr = await resolve(target.address, opts.port, socket.SOCK_DGRAM)
        pairs = [(c, v) for c in opts.communities for v in opts.versions]
        try:
            async with asyncio.TaskGroup() as tg:
                v1v2 = [
                    tg.create_task(engine.get(_MP_MODEL[v.value], c, family, sockaddr, opts))
                    for c, v in pairs
                ]
                v3 = (
                    tg.create_task(engine.get(3, None, family, sockaddr, opts))
                    if opts.probe_v3
                    else None
                )
        except* PySnmpError as group:
            raise TargetUnreachable(
                f"snmp engine could not send to {sockaddr[0]}:{opts.port} "
                f"({type(group.exceptions[0]).__name__}); check the address and the port"
            ) from group.exceptions[0]
        hits = [
            (v.value, mask_community(c.reveal()))
            for (c, v), t in zip(pairs, v1v2, strict=True)
            if t.result() is None
        ]
        v3_answer = None if v3 is None else _v3_answered(v3.result())
        return _samples(target.name, opts, hits, v3_answer)


def build(options: Mapping[str, object], shared: Shared) -> SnmpHygieneCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    if not 0 < opts.port < 65536:
        raise ConfigError("port out of range 1-65535", field="port")
    if not 0 <= opts.retries <= 5:
        raise ConfigError("must be between 0 and 5", field="retries")
    if opts.v3_required and not opts.probe_v3:
        raise ConfigError("v3_required needs probe_v3: true", field="probe_v3")
    if opts.communities and not opts.versions:
        raise ConfigError("list at least one of 1, 2c (or no communities)", field="versions")
    if not opts.communities and not opts.probe_v3:
        raise ConfigError(
            "nothing to check: no communities and probe_v3 is false", field="communities"
        )
    if any(not c.reveal() for c in opts.communities):
        raise ConfigError("a community cannot be empty", field="communities")
    return SnmpHygieneCollector(opts, shared)


def mask_community(community: str) -> str:
    """`public` -> `pu****`; shorter than 6 characters -> `****` (length never shown)."""
    return community[:2] + "****" if len(community) >= 6 else "****"


# -- private helpers -----------------------------------------------------------------------


# pysnmp's error indication: None, an errind.ErrorIndication, or a string such as
# "badResponse" (pysnmp ships no type hints, so this stays `object`).
_Indication = object
# Error indications that only an SNMPv3 engine at the other end can cause (Reports).
_V3_REPORTS: Final = (
    errind.UnknownUserName,
    errind.UnknownEngineID,
    errind.NotInTimeWindow,
    errind.WrongDigest,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
    errind.DecryptionError,
    errind.ReportPduReceived,
)


class _Engine:
    """This collector's SnmpEngine and the LCD rows it configured (created inside the loop).

    pysnmp's configuration tables are filled directly with `pysnmp.entity.config`, and the
    GET is sent with the rfc3413 command generator and a plain (OID, Null) varbind: hlapi's
    get_cmd would build a MIB compiler on first use (seconds of CPU on the event loop) and
    its import warns under pysmi 2.
    """

    def __init__(self) -> None:
        self.engine = SnmpEngine()
        self._security: dict[tuple[int, str], str] = {}  # (mp model, community) -> name
        self._params: dict[tuple[int, str], str] = {}
        self._addrs: dict[tuple[str, tuple[object, ...], float, int], str] = {}
        self._domains: set[tuple[int, ...]] = set()
        self._get = cmdgen.GetCommandGenerator()

    async def get(
        self,
        mp_model: int,
        community: Secret | None,
        family: int,
        sockaddr: tuple[object, ...],
        opts: Options,
    ) -> _Indication:
        """GET sysObjectID.0 (v3 with the probe user when `community` is None).

        Return pysnmp's error indication: None when the agent answered.
        """
        target = self._target(mp_model, community, family, sockaddr, opts)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Indication] = loop.create_future()

        def done(_engine: object, _handle: object, indication: _Indication, *_rest: object) -> None:
            if not fut.done():
                fut.set_result(indication)

        self._get.send_varbinds(
            self.engine, target, None, b"", [(ObjectName(SYS_OBJECT_ID), Null(""))], done
        )
        # pysnmp's own timer ends the request; this deadline is only a backstop.
        backstop = opts.request_timeout * (opts.retries + 1) + 1.0
        try:
            async with asyncio.timeout(backstop):
                indication: _Indication = await fut
                return indication
        except TimeoutError:
            return errind.requestTimedOut

    async def aclose(self) -> None:
        """Close the engine's transports."""
        self.engine.close_dispatcher()

    def _target(
        self,
        mp_model: int,
        community: Secret | None,
        family: int,
        sockaddr: tuple[object, ...],
        opts: Options,
    ) -> str:
        secret = "" if community is None else community.reveal()
        key = (mp_model, secret)
        security = self._security.get(key)
        if security is None:
            if community is None:
                security = _PROBE_USER
                lcd.add_v3_user(self.engine, _PROBE_USER)
            else:
                security = f"hyg-s{len(self._security)}"
                lcd.add_v1_system(self.engine, security, secret)
            self._security[key] = security
        params = self._params.get(key)
        if params is None:
            params = f"hyg-p{len(self._params)}"
            lcd.add_target_parameters(self.engine, params, security, "noAuthNoPriv", mp_model)
            self._params[key] = params
        domain = udp.DOMAIN_NAME if family == socket.AF_INET else udp6.DOMAIN_NAME
        if domain not in self._domains:
            transport = (
                udp.UdpAsyncioTransport()
                if family == socket.AF_INET
                else udp6.Udp6AsyncioTransport()
            )
            lcd.add_transport(self.engine, domain, transport.open_client_mode())
            self._domains.add(domain)
        akey = (params, sockaddr, opts.request_timeout, opts.retries)
        addr = self._addrs.get(akey)
        if addr is None:
            addr = f"hyg-a{len(self._addrs)}"
            lcd.add_target_address(
                self.engine,
                addr,
                domain,
                sockaddr,
                params,
                timeout=opts.request_timeout * 100,  # pysnmp counts in 1/100 s
                retryCount=opts.retries,
            )
            self._addrs[akey] = addr
        return addr


def _v3_answered(indication: _Indication) -> bool:
    return indication is None or isinstance(indication, _V3_REPORTS)


def _samples(
    name: str, opts: Options, hits: list[tuple[str, str]], v3: bool | None
) -> list[Sample]:
    """`hits`: (version, masked community) of every accepted pair (masks may repeat)."""
    labels = {"target": name}
    accepted = sorted(set(hits))
    port = str(opts.port)
    out = [
        Sample(
            "monitord_snmp_hygiene_default_community_info",
            {"target": name, "version": version, "community": masked},
            1.0,
            SampleKind.INFO,
        )
        for version, masked in accepted
    ]
    out.append(Sample("monitord_snmp_hygiene_communities_accepted", labels, float(len(hits))))
    out.append(Sample("monitord_snmp_hygiene_v3_required", labels, float(opts.v3_required)))
    if v3 is not None:
        out.append(Sample("monitord_snmp_hygiene_v3_answering", labels, float(v3)))
    if opts.communities:
        out.append(violation(name, PolicyCheck.DEFAULT_COMMUNITY, bool(accepted), port))
    if opts.v3_required:
        out.append(violation(name, PolicyCheck.V3_REQUIRED, bool(accepted) or not v3, port))
    return out
