"""The snmp collector: one poll of one device = a GET of the system group, then walks.

A poll runs under the target's own deadline (`walk_budget`, kept below the runner's
poll timeout): when it runs out, the poll returns what it got as
`TargetTimeout(samples=partial)` (with `monitord_snmp_poll_partial` = 1) and logs one
line naming the target, once until the target recovers. Polls of one device never
overlap (a per-device lock in the label cache). Labels come from the label cache
(see `cache.py`); profiles from the config or, when omitted, from sysObjectID/sysDescr.
Library errors are translated here, at the boundary, into `monitord.errors`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

from collectors._snmpwire.ber import Oid, PduType, Tag
from collectors.snmp import health, identify, interfaces
from collectors.snmp.cache import DeviceCache, LabelCache
from collectors.snmp.client import (
    AuthFailure,
    AuthProblem,
    BadResponse,
    ClientError,
    Community,
    Credentials,
    EnginePool,
    ErrorStatus,
    LimitExceeded,
    NameNotResolved,
    Refused,
    RequestLimiter,
    RequestTimeout,
    Session,
    Unreachable,
    UsmUser,
    WalkResult,
    get,
    next_repetitions,
    open_session,
    walk,
)
from collectors.snmp.convert import (
    as_int,
    as_number,
    counter_bits,
    oid_text,
    render,
    render_lldp_id,
)
from collectors.snmp.inventory import inventory_from
from collectors.snmp.modules import (
    BUILTIN_CODE_PROFILES,
    PROFILE_METRICS,
    Group,
    MetricDef,
    ProfileSet,
    Refresh,
)
from collectors.snmp.options import Options
from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConnectionRefused,
    MalformedResponse,
    NameResolutionFailed,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.types import (
    POLL_DEADLINE,
    MetricSpec,
    Reach,
    Role,
    Sample,
    SampleKind,
    Shared,
    Target,
    role,
    with_roles,
)

__all__ = ["BASE_METRICS", "METRICS", "SnmpCollector", "evaluate_group"]

log = logging.getLogger(__name__)

# walk_budget when none is configured and no runner deadline is known (a probe from the CLI)
DEFAULT_WALK_BUDGET: Final = 4.0
SYS_DESCR: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_LOCATION: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 6, 0)

_BASE_PLAIN: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "monitord_snmp_info",
        SampleKind.INFO,
        "The device's SNMP system group (SNMPv2-MIB sysName, sysDescr, sysObjectID, sysLocation); "
        "refreshed with the label cache; always 1.",
        ("target", "sysname", "sysdescr", "sysobjectid", "syslocation"),
    ),
    MetricSpec(
        "monitord_device_uptime_seconds",
        SampleKind.GAUGE,
        "Time since the device's SNMP agent (re)started (SNMPv2-MIB sysUpTime 1.3.6.1.2.1.1.3.0 / "
        "100); "
        "a decrease marks a restart, so counters of that interval give no rate; value from the "
        "last poll.",
    ),
    MetricSpec(
        "monitord_snmp_requests_total",
        SampleKind.COUNTER,
        "SNMP requests sent to the device, retries included.",
    ),
    MetricSpec(
        "monitord_snmp_retries_total",
        SampleKind.COUNTER,
        "SNMP requests re-sent to the device because an earlier attempt got no answer in "
        "request_timeout.",
    ),
    MetricSpec(
        "monitord_snmp_timeouts_total",
        SampleKind.COUNTER,
        "SNMP requests to the device that got no answer after every retry.",
    ),
    MetricSpec(
        "monitord_snmp_varbinds_total",
        SampleKind.COUNTER,
        "Variable bindings received from the device.",
    ),
    MetricSpec(
        "monitord_snmp_malformed_varbinds_total",
        SampleKind.COUNTER,
        "Variable bindings dropped because their value or name is one no SNMP type allows (an "
        "INTEGER past 32 bits, a Counter32 past 2^32-1, an OID arc past 2^32-1, an unknown "
        "type); the rest of the poll is kept.",
    ),
    MetricSpec(
        "monitord_snmp_limit_exceeded_total",
        SampleKind.COUNTER,
        "Polls of the device cut by a per-target limit (limit=max_series: series past it were "
        "dropped; limit=max_varbinds: the walk stopped there); such polls are partial.",
        ("target", "limit"),
    ),
    MetricSpec(
        "monitord_snmp_max_repetitions",
        SampleKind.GAUGE,
        "GETBULK max-repetitions that works for this device and table (adaptive: it shrinks on "
        "tooBig and timeouts, and doubles after each good walk up to max_repetitions, or up to "
        "the last size that did not get tooBig); 0 when the table is walked with GETNEXT.",
        ("target", "table"),
    ),
    MetricSpec(
        "monitord_snmp_table_skipped",
        SampleKind.GAUGE,
        "1 while a table is skipped because its last walk failed with an error status or an "
        "unusable answer, or timed out at the same OIDs on two polls in a row while the agent "
        "answered the rest; "
        "it is retried after a back-off of label_refresh x 2^(failures-1) polls, at most 64 x "
        "label_refresh. One timeout skips nothing: the table is walked again on the next poll.",
        ("target", "table"),
    ),
    MetricSpec(
        "monitord_snmp_poll_partial",
        SampleKind.GAUGE,
        "1 if the last poll returned partial data: it ran out of its walk_budget, the agent "
        "stopped answering, a table failed or was skipped, or a per-target limit (max_series, "
        "max_varbinds) dropped data; else 0. The history counts partial polls per day.",
    ),
)
BASE_METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    _BASE_PLAIN,
    {
        "monitord_snmp_info": role(Role.INVENTORY),
        "monitord_device_uptime_seconds": role(Role.UPTIME),
        # one 0/1 per poll: the history's "partial" distribution, the data completeness
        "monitord_snmp_poll_partial": role(Role.DISTRIBUTION, rollup="partial"),
    },
)


METRICS: Final[tuple[MetricSpec, ...]] = (
    *BASE_METRICS,
    identify.DEVICE_INFO,
    *interfaces.METRICS,
    *PROFILE_METRICS,
)


@dataclass(slots=True)
class _Step:
    """One fetch of a poll, whose rows stay usable if the poll is cut short."""

    key: str  # table or group name: the unit of adaptive settings and of failure
    rows: dict[Oid, dict[Oid, tuple[int, object]]] = field(default_factory=dict)
    group: Group | None = None  # None: the interfaces profile
    done: bool = False


@dataclass(slots=True)
class _Poll:
    """What one poll collected so far."""

    scalars: dict[Oid, tuple[int, object]] = field(default_factory=dict)
    refresh: bool = False
    steps: list[_Step] = field(default_factory=list)
    walks: dict[str, WalkResult] = field(default_factory=dict)
    failed: dict[str, ClientError] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    limits: list[LimitExceeded] = field(default_factory=list)  # per-target bounds reached


class SnmpCollector:
    """Poll one device over SNMP; raise CollectorError subclasses only."""

    kind: ClassVar[str] = "snmp"
    availability_rank: ClassVar[int] = 1  # the reports: lowest rank = device availability
    reach: ClassVar[Reach] = Reach.DEVICE
    concurrency: ClassVar[int] = 64  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = METRICS

    def __init__(
        self,
        options: Options,
        creds: Credentials,
        profiles: ProfileSet,
        chosen: tuple[str, ...] | None,
        shared: Shared,
        extra_metrics: Sequence[MetricSpec] = (),
        settings_fingerprint: str = "",
    ) -> None:
        self.options = options
        # Metrics of user-defined profiles (YAML), beyond the class's `metrics` table
        # (capability `InstanceMetrics`: the daemon declares them per instance).
        self.extra_metrics: tuple[MetricSpec, ...] = tuple(extra_metrics)
        self._fingerprint_settings = settings_fingerprint
        self._creds = creds
        self._profiles = profiles
        self._chosen = chosen
        self._shared = shared
        self._limit = int(shared.limits.get("snmp", 64))
        version = "3" if isinstance(creds, UsmUser) else ("1" if creds.version == 0 else "2c")
        who = f"user={creds.user}" if isinstance(creds, UsmUser) else "community"
        self._describe = f"version={version} {who}"
        self._native = options.client == "native"

    def inventory_from(
        self, target: Target, series: list[tuple[str, Mapping[str, str], float]]
    ) -> dict[str, object]:
        """The inventory from a poll's INVENTORY series (capability `InventoryFromPoll`)."""
        return inventory_from(target, series)

    def settings_fingerprint(self) -> str:
        """Digest of the user profiles it was built with (capability `SettingsFingerprint`)."""
        return self._fingerprint_settings

    # --- shared resources ----------------------------------------------------------

    def _cache(self) -> LabelCache:
        return self._shared.get("snmp.labelcache", LabelCache)

    def _limiter(self) -> RequestLimiter:
        return self._shared.get("snmp.requests", lambda: RequestLimiter(self._limit))

    def _engines(self) -> EnginePool | None:
        if isinstance(self._creds, Community) and self._native:
            return None
        return self._shared.get("snmp.engine", EnginePool)

    def _fingerprint(self, target: Target) -> str:
        o = self.options
        parts = (
            target.address,
            o.port,
            self._describe,
            self._chosen,
            o.client,
            o.max_repetitions,
            self._fingerprint_settings,  # the profiles: a reload that edits them re-plans
        )
        return "|".join(map(str, parts))

    # --- the poll ------------------------------------------------------------------

    async def collect(self, target: Target) -> list[Sample]:
        """Poll `target` once; raise CollectorError subclasses only (with partial samples)."""
        cache = self._cache().entry(target.name, self._fingerprint(target))
        async with cache.lock:
            return await self._collect(target, cache)

    async def _collect(self, target: Target, cache: DeviceCache) -> list[Sample]:
        opts = self.options
        budget = walk_budget(opts.walk_budget, opts.request_timeout)
        poll = _Poll()
        session: Session | None = None
        failure: ClientError | None = None
        overrun = False
        try:
            session = await open_session(
                target.address,
                opts.port,
                self._creds,
                timeout=opts.request_timeout,
                retries=opts.retries,
                limiter=self._limiter(),
                engines=self._engines(),
                native=self._native,
            )
            try:
                async with asyncio.timeout(budget):
                    await self._poll(session, cache, poll)
            except TimeoutError:
                overrun = True
            except LimitExceeded as exc:  # the agent answers: keep what was walked
                poll.limits.append(exc)
        except ClientError as exc:
            failure = exc
        finally:
            if session is not None:
                await session.aclose()
        if failure is None and poll.failed:
            failure = next(iter(poll.failed.values()))
        if isinstance(failure, RequestTimeout) and not poll.scalars and not overrun:
            failure = await self._diagnose_silence(target) or failure
        samples = self._assemble(target, cache, poll)
        if len(samples) > opts.max_series:
            del samples[opts.max_series :]
            poll.limits.append(LimitExceeded("max_series", opts.max_series))
        # a skipped interface table leaves the interfaces incomplete; another skipped table
        # (one this agent cannot serve, e.g. its inventory) leaves the poll complete
        partial = (
            overrun
            or failure is not None
            or bool(poll.limits)
            or bool(poll.skipped & {"ifTable", "ifXTable"})
        )
        if session is not None:
            samples.extend(self._self_samples(target, session, cache, poll, partial))
        where = f"target={target.name} address={target.address}:{opts.port} {self._describe}"
        self._log_bounds(where, cache, poll, session)
        if overrun:
            if not cache.overrun_logged:
                cache.overrun_logged = True
                log.warning(
                    "snmp poll over budget %s budget=%.3gs requests=%d varbinds=%d: returning "
                    "partial data",
                    where,
                    budget,
                    session.stats.requests if session else 0,
                    session.stats.varbinds if session else 0,
                )
            raise TargetTimeout(
                f"snmp poll ran out of its walk_budget of {budget:.3g}s ({where}); "
                "returned partial data: raise the poll timeout (walk_budget follows it unless "
                "set) or poll fewer profiles",
                samples=samples,
            )
        if failure is not None:
            if poll.failed:
                where += f" tables={','.join(poll.failed)}"
            if isinstance(failure, RequestTimeout) and poll.failed and poll.scalars:
                raise TargetTimeout(  # the agent answered, then went silent on a table
                    f"snmp agent stopped answering during a walk ({where}); returned partial "
                    "data; the table is walked again on the next poll, unless it stalled at the "
                    "same OIDs twice in a row (then it is skipped for a while)",
                    samples=samples,
                ) from failure
            raise _translate(failure, where, opts, samples) from failure
        if cache.overrun_logged:
            cache.overrun_logged = False
            log.info("snmp poll back within budget target=%s", target.name)
        return samples

    def _log_bounds(
        self, where: str, cache: DeviceCache, poll: _Poll, session: Session | None
    ) -> None:
        """Log a per-target limit when first reached (and when back within), malformed at debug."""
        if poll.limits and not cache.limit_logged:
            cache.limit_logged = True
            log.warning(
                "snmp per-target limit reached %s error=LimitExceeded limits=%s: the excess is "
                "dropped and the poll is partial; raise max_series/max_varbinds if the device "
                "is really that large",
                where,
                ",".join(f"{e.limit}={e.value}" for e in poll.limits),
            )
        elif not poll.limits and cache.limit_logged:
            cache.limit_logged = False
            log.info("snmp poll back within its limits %s", where)
        if session is not None and session.stats.malformed:
            log.debug(
                "snmp malformed varbinds dropped %s count=%d oids=%s",
                where,
                session.stats.malformed,
                ",".join(oid_text(o) or "(unreadable)" for o in session.stats.malformed_oids),
            )

    async def _diagnose_silence(self, target: Target) -> ClientError | None:
        """An authPriv agent that never answers may be one that cannot decrypt us.

        Agents drop what they cannot decrypt without a report (net-snmp does), so a
        wrong priv_key looks like a dead device. One GET at authNoPriv tells them apart:
        any answer means the agent and the auth key are fine and privacy is wrong.
        """
        creds = self._creds
        if not isinstance(creds, UsmUser) or creds.priv_protocol is None:
            return None
        probe_creds = UsmUser(
            creds.user, creds.auth_protocol, creds.auth_key, None, None, creds.context
        )
        engines = self._shared.get("snmp.engine", EnginePool)
        try:
            session = await open_session(
                target.address,
                self.options.port,
                probe_creds,
                timeout=self.options.request_timeout,
                retries=0,
                limiter=self._limiter(),
                engines=engines,
                native=self._native,
            )
            try:
                await get(session, [SYS_UPTIME])
            finally:
                await session.aclose()
        except AuthFailure as exc:
            if exc.problem in (AuthProblem.WRONG_DIGEST, AuthProblem.UNKNOWN_USER):
                return exc
        except ClientError:
            return None
        return AuthFailure(
            "no answer with privacy, but the agent answers with authNoPriv: priv_key or "
            "priv_protocol is wrong",
            AuthProblem.DECRYPTION,
        )

    async def _poll(self, session: Session, cache: DeviceCache, poll: _Poll) -> None:
        refresh = (
            cache.refresh_wanted or cache.polls_since_refresh + 1 >= self.options.label_refresh
        )
        system = [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, SYS_LOCATION]
        first = [SYS_UPTIME, interfaces.IF_NUMBER]
        if cache.if_last_change is not None:  # known to be served: asked on every poll
            first.append(interfaces.IF_TABLE_LAST_CHANGE)
        poll.scalars.update(await get(session, [*first, *(system if refresh else [])]))
        uptime = _int_of(poll.scalars.get(SYS_UPTIME))
        if_number = _int_of(poll.scalars.get(interfaces.IF_NUMBER))
        last_change = _int_of(poll.scalars.get(interfaces.IF_TABLE_LAST_CHANGE))
        if refresh and cache.if_last_change is None:
            last_change = await _probe_last_change(session)
        restarted = (
            uptime is not None and cache.uptime_ticks is not None and uptime < cache.uptime_ticks
        )
        changed = (if_number != cache.if_number and cache.if_number is not None) or (
            last_change is not None
            and cache.if_last_change is not None
            and last_change != cache.if_last_change
        )
        if restarted:  # a new agent: forget what the old one tolerated
            cache.repetitions.clear()
            cache.rep_ceiling.clear()
            cache.table_timeouts.clear()
            cache.getnext_only.clear()
            cache.broken.clear()
            cache.dead_probes.clear()
        if restarted or changed:  # the device says its interfaces changed: rename them
            cache.names_stale = True
        if (restarted or changed) and not refresh:
            refresh = True
            poll.scalars.update(await get(session, system))
        if refresh or last_change is not None:
            cache.if_last_change = last_change
        cache.uptime_ticks, cache.if_number = uptime, if_number
        poll.refresh = refresh
        if refresh:
            self._update_system(cache, poll.scalars)
        names = self._chosen if self._chosen is not None else cache.profiles
        # Interfaces first, then per-poll groups, then the label-refresh ones: what
        # the reports need most is fetched before the budget can run out. At a label
        # refresh the device is identified, and, unless something failed already, the
        # health probes run last and the profiles they add are fetched at once.
        consecutive_timeouts = 0
        if "interfaces" in names:
            consecutive_timeouts = await self._interfaces(session, cache, poll)
        if refresh:
            await self._identify(session, cache)
        done: set[str] = set()
        for probing in (False, True):
            if probing:
                if not refresh or self._chosen is not None or poll.failed:
                    break
                names = await self._probe(session, cache)
            groups: list[Group] = []
            for name in names:
                if name not in BUILTIN_CODE_PROFILES:
                    groups.extend(
                        g for g in self._profiles.profiles[name].groups if g.name not in done
                    )
            groups.sort(key=lambda g: g.refresh is Refresh.LABELS)
            for group in groups:
                done.add(group.name)
                if (
                    group.refresh is Refresh.LABELS
                    and not refresh
                    and group.name in cache.cached_groups
                ):
                    continue
                step = _Step(group.name, group=group)
                ok = await self._guarded(
                    poll,
                    cache,
                    step,
                    functools.partial(self._fetch_group, session, cache, poll, step),
                )
                consecutive_timeouts = 0 if ok else consecutive_timeouts + 1
                if consecutive_timeouts >= 2 and isinstance(
                    poll.failed.get(group.name), RequestTimeout
                ):
                    raise poll.failed[group.name]  # the agent stopped answering altogether
        for key in list(cache.broken):
            if key not in poll.failed:
                cache.broken[key][1] -= 1
        cache.polls_since_refresh = 0 if refresh else cache.polls_since_refresh + 1
        if refresh:
            cache.refresh_wanted = False

    async def _guarded(
        self, poll: _Poll, cache: DeviceCache, step: _Step, fetch: Callable[[], Awaitable[None]]
    ) -> bool:
        """Run one fetch; a table the agent cannot serve fails alone and is backed off."""
        broken = cache.broken.get(step.key)
        if broken is not None and broken[1] > 0:
            poll.skipped.add(step.key)
            return True
        poll.steps.append(step)
        try:
            await fetch()
        except RequestTimeout as exc:
            poll.failed[step.key] = exc
            res = poll.walks.get(step.key)
            where = res.stalled_at if res is not None else ()
            count, before = cache.table_timeouts.get(step.key, (0, ()))
            count = count + 1 if where and where == before else 1
            cache.table_timeouts[step.key] = (count, where)
            if count < 2:  # may pass (a hang, a busy agent): walked again on the next poll
                log.debug("snmp table timed out table=%s: retried on the next poll", step.key)
                return False
            self._back_off(cache, step.key, broken, exc)  # silent at the same OIDs twice
            return False
        except (ErrorStatus, BadResponse) as exc:
            poll.failed[step.key] = exc
            self._back_off(cache, step.key, broken, exc)
            return True
        step.done = True
        cache.broken.pop(step.key, None)
        cache.table_timeouts.pop(step.key, None)
        return True

    def _back_off(
        self, cache: DeviceCache, key: str, broken: list[int] | None, exc: ClientError
    ) -> None:
        """Skip a table the agent cannot serve for label_refresh x 2^(failures-1) polls."""
        failures = (broken[0] if broken else 0) + 1
        skip = min(64, 2 ** (failures - 1)) * self.options.label_refresh
        cache.broken[key] = [failures, skip]
        log.debug(
            "snmp table failed table=%s error=%s skip_polls=%d", key, type(exc).__name__, skip
        )

    async def _fetch_group(
        self, session: Session, cache: DeviceCache, poll: _Poll, step: _Step
    ) -> None:
        group = step.group
        assert group is not None
        if group.scalar:
            oids = [c.oid for c in group.columns]
            seen = cache.columns_seen.get(group.name)
            if not poll.refresh and seen is not None:
                oids = [o for o in oids if o in seen]
            got = await get(session, oids) if oids else {}
            if poll.refresh:
                cache.columns_seen[group.name] = set(got)
            for c in group.columns:
                if c.oid in got:
                    step.rows[c.oid] = {(): got[c.oid]}
        else:
            await self._walk(
                session, cache, poll, group.name, [c.oid for c in group.columns], step.rows
            )

    def _update_system(self, cache: DeviceCache, scalars: Mapping[Oid, tuple[int, object]]) -> None:
        oid = scalars.get(SYS_OBJECT_ID)
        cache.sys_object_id = oid[1] if oid is not None and isinstance(oid[1], tuple) else None
        cache.sys_descr = _text_of(scalars.get(SYS_DESCR))
        cache.system_info = {
            "sysname": _text_of(scalars.get(SYS_NAME)),
            "sysdescr": cache.sys_descr,
            "sysobjectid": oid_text(cache.sys_object_id) if cache.sys_object_id else "",
            "syslocation": _text_of(scalars.get(SYS_LOCATION)),
        }
        if self._chosen is None:  # the last probe's answers until the probes run again
            cache.profiles = self._profiles.auto(cache.sys_object_id, cache.sys_descr, cache.probed)

    async def _identify(self, session: Session, cache: DeviceCache) -> None:
        """At a label refresh: the identity GET (the vendor's objects, see identify.py)."""
        oids = identify.load_vendors().scalar_oids(cache.sys_object_id)
        try:
            got = await get(session, oids) if oids else {}
            cache.ident_scalars = {oid: _text_of(vb) for oid, vb in got.items()}
        except (RequestTimeout, ErrorStatus, BadResponse) as exc:  # keep what was known
            log.debug("snmp identification failed error=%s", type(exc).__name__)

    async def _probe(self, session: Session, cache: DeviceCache) -> tuple[str, ...]:
        """At a label refresh: the probes that choose the health profiles (health.probe)."""
        probes = self._profiles.probe_oids(cache.sys_object_id, cache.sys_descr)
        cache.probed = await health.probe(session, probes, cache.dead_probes)
        cache.profiles = self._profiles.auto(cache.sys_object_id, cache.sys_descr, cache.probed)
        return cache.profiles

    async def _interfaces(self, session: Session, cache: DeviceCache, poll: _Poll) -> int:
        """Walk ifTable then ifXTable; return how many of them timed out in a row."""
        table, xtable = interfaces.columns_for_poll(cache, poll.refresh, session.version)
        t_step, x_step = _Step("ifTable"), _Step("ifXTable")
        timeouts = 0
        ok = await self._guarded(
            poll,
            cache,
            t_step,
            lambda: self._walk(session, cache, poll, "ifTable", table, t_step.rows),
        )
        timeouts = 0 if ok else 1
        if xtable:
            ok = await self._guarded(
                poll,
                cache,
                x_step,
                lambda: self._walk(session, cache, poll, "ifXTable", xtable, x_step.rows),
            )
            timeouts = 0 if ok else timeouts + 1
            if timeouts >= 2:
                raise poll.failed["ifXTable"]
        if poll.refresh and t_step.done and (x_step.done or not xtable):
            rows = {**t_step.rows, **x_step.rows}
            cache.interfaces, cache.hc_complete = interfaces.build_labels(
                rows, cache.interfaces, rename=cache.names_stale
            )
            cache.names_stale = False
        elif poll.refresh:  # names come from a complete walk of both tables only
            cache.refresh_wanted = True
        return timeouts

    async def _walk(
        self,
        session: Session,
        cache: DeviceCache,
        poll: _Poll,
        key: str,
        columns: list[Oid],
        rows: dict[Oid, dict[Oid, tuple[int, object]]],
    ) -> None:
        seen = cache.columns_seen.get(key)
        if not poll.refresh and seen is not None:  # skip what the last refresh found empty
            columns = [c for c in columns if c in seen]
            if not columns:
                return
        reps = cache.repetitions.get(key, self.options.max_repetitions)
        res = WalkResult(reps, key not in cache.getnext_only)
        poll.walks[key] = res
        completed = False
        try:
            await walk(
                session,
                columns,
                rows,
                max_repetitions=reps,
                bulk=res.bulk,
                result=res,
                max_varbinds=self.options.max_varbinds,
            )
            completed = True
        finally:
            if not res.bulk:
                cache.getnext_only.add(key)
            if completed:  # a good walk grows max-repetitions back toward the configured value
                nxt, ceiling = next_repetitions(
                    res, self.options.max_repetitions, cache.rep_ceiling.get(key)
                )
                cache.repetitions[key] = nxt
                if ceiling is not None:
                    cache.rep_ceiling[key] = ceiling
            elif res.too_big:
                cache.repetitions[key] = cache.rep_ceiling[key] = res.max_repetitions
            else:  # a walk that got nowhere (the agent hung) says nothing about sizes
                cache.repetitions[key] = reps
        if poll.refresh:
            cache.columns_seen[key] = {c for c in columns if rows.get(c)}
        if res.non_increasing:
            log.debug(
                "snmp agent returned non-increasing OIDs columns=%s",
                [oid_text(c) for c in res.non_increasing],
            )

    # --- samples -------------------------------------------------------------------

    def _assemble(self, target: Target, cache: DeviceCache, poll: _Poll) -> list[Sample]:
        name = target.name
        out: list[Sample] = []
        uptime = _int_of(poll.scalars.get(SYS_UPTIME))
        if uptime is not None:
            out.append(Sample("monitord_device_uptime_seconds", {"target": name}, uptime / 100.0))
        chosen = self._chosen if self._chosen is not None else cache.profiles
        if cache.system_info and "system" in chosen:
            out.append(
                Sample(
                    "monitord_snmp_info", {"target": name, **cache.system_info}, 1, SampleKind.INFO
                )
            )
        if_rows: dict[Oid, dict[Oid, tuple[int, object]]] = {}
        fetched: set[str] = set()
        for step in poll.steps:
            if step.group is None:
                if_rows.update(step.rows)
                continue
            samples = evaluate_group(name, step.group, step.rows)
            out.extend(samples)
            fetched.add(step.group.name)
            if step.group.refresh is Refresh.LABELS and step.done:
                cache.cached_groups[step.group.name] = samples
        if if_rows:
            samples, unknown = interfaces.samples(name, if_rows, cache)
            out.extend(samples)
            if unknown:
                cache.refresh_wanted = True
        for pname in chosen:
            profile = self._profiles.profiles.get(pname)
            if profile is None:
                continue
            for group in profile.groups:
                if group.refresh is Refresh.LABELS and group.name not in fetched:
                    out.extend(cache.cached_groups.get(group.name, ()))
        if cache.system_info and "system" in chosen:
            out.append(
                identify.device_info(
                    name, cache.sys_object_id, cache.sys_descr, cache.ident_scalars, out
                )
            )
        return out

    def _self_samples(
        self, target: Target, session: Session, cache: DeviceCache, poll: _Poll, partial: bool
    ) -> list[Sample]:
        lbl = {"target": target.name}
        st = session.stats
        c = SampleKind.COUNTER
        out = [
            Sample("monitord_snmp_requests_total", lbl, st.requests, c, increment=True),
            Sample("monitord_snmp_retries_total", lbl, st.retries, c, increment=True),
            Sample("monitord_snmp_timeouts_total", lbl, st.timeouts, c, increment=True),
            Sample("monitord_snmp_varbinds_total", lbl, st.varbinds, c, increment=True),
            Sample("monitord_snmp_malformed_varbinds_total", lbl, st.malformed, c, increment=True),
            Sample("monitord_snmp_poll_partial", lbl, 1 if partial else 0),
        ]
        reached = {e.limit for e in poll.limits}
        for limit in ("max_series", "max_varbinds"):
            ll = {"target": target.name, "limit": limit}
            hit = 1 if limit in reached else 0
            out.append(Sample("monitord_snmp_limit_exceeded_total", ll, hit, c, increment=True))
        for table, reps in cache.repetitions.items():
            value = 0 if table in cache.getnext_only else reps
            tl = {"target": target.name, "table": table}
            out.append(Sample("monitord_snmp_max_repetitions", tl, value))
            out.append(Sample("monitord_snmp_table_skipped", tl, 1 if table in cache.broken else 0))
        return out


def walk_budget(configured: float | None, request_timeout: float) -> float:
    """The poll's own deadline in seconds: as configured, else below the runner's deadline."""
    if configured is not None:
        return configured
    deadline = POLL_DEADLINE.get()
    if deadline is None:
        return DEFAULT_WALK_BUDGET
    remaining = deadline - asyncio.get_running_loop().time()
    return max(request_timeout, remaining - max(0.5, 0.1 * remaining))


def evaluate_group(
    target: str, group: Group, rows: Mapping[Oid, Mapping[Oid, tuple[int, object]]]
) -> list[Sample]:
    """Samples of one profile group from its fetched rows (`rows[column_oid][index]`)."""
    out: list[Sample] = []
    indexes: set[Oid] = set()
    for col in group.columns:
        indexes.update(rows.get(col.oid, {}))
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for index in sorted(indexes):
        row = {c.name: rows[c.oid][index] for c in group.columns if index in rows.get(c.oid, {})}
        if not row or not _keep(group, row):
            continue
        for metric in group.metrics:
            sample = _sample(target, group, metric, row, index)
            if sample is None:
                continue
            # one metric builds its labels in one order: no sort needed to compare them
            key = (sample.name, tuple(sample.labels.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(sample)
    return out


def _keep(group: Group, row: Mapping[str, tuple[int, object]]) -> bool:
    for cname, allowed in group.filter.items():
        vb = row.get(cname)
        if vb is None or render(vb[0], vb[1], "text") not in allowed:
            return False
    return True


def _label(group: Group, cname: str, row: Mapping[str, tuple[int, object]]) -> str:
    vb = row.get(cname)
    if vb is None:
        return ""
    col = group.column(cname)
    fmt = col.fmt
    if col.subtype is not None:  # LLDP chassis / port ID: decoded by its subtype
        sub = row.get(col.subtype)
        return render_lldp_id(fmt, as_int(*sub) if sub is not None else None, vb[0], vb[1])
    if col.hex_if is not None:
        other = row.get(col.hex_if[0])
        if other is not None and render(other[0], other[1], "text") in col.hex_if[1]:
            fmt = "hex"
    text = render(vb[0], vb[1], fmt)
    return col.enum.get(text, text) if col.enum else text


def _sample(
    target: str, group: Group, metric: MetricDef, row: Mapping[str, tuple[int, object]], index: Oid
) -> Sample | None:
    if metric.when and not health.passes(metric.when, row):
        return None
    labels = {"target": target}
    has_column_label = False
    any_column_value = False
    for src in metric.labels:
        if src.const is not None:
            labels[src.name] = src.const
        elif src.column is not None:
            has_column_label = True
            any_column_value = any_column_value or src.column in row
            labels[src.name] = _label(group, src.column, row)
        elif src.index_part is not None:
            part = src.index_part
            labels[src.name] = str(index[part]) if -len(index) <= part < len(index) else ""
        else:
            labels[src.name] = oid_text(index) if index else ""
    if metric.kind is SampleKind.INFO:
        if has_column_label and not any_column_value:
            return None
        return Sample(metric.name, labels, 1, SampleKind.INFO)
    vb = row.get(metric.value or "")
    if vb is None:
        return None
    tag, raw = vb
    if metric.mapping is not None:
        code = as_int(tag, raw)
        mapped = metric.mapping.get(code, metric.default) if code is not None else None
        return None if mapped is None else Sample(metric.name, labels, mapped, metric.kind)
    number = health.numeric(tag, raw, group.column(metric.value or "").extract)
    if number is None or (metric.minimum is not None and number < metric.minimum):
        return None
    if health.computed(metric.pow10, metric.divide, metric.add, metric.subtract):
        got = health.value_of(
            number,
            row,
            scale=metric.scale,
            pow10=metric.pow10,
            divide=metric.divide,
            add=metric.add,
            subtract=metric.subtract,
        )
        return None if got is None else Sample(metric.name, labels, got, metric.kind)
    exact = metric.scale == 1.0 and metric.multiply is None
    value: int | float = number if exact else _scaled(number, metric.scale)
    if metric.multiply is not None:
        mvb = row.get(metric.multiply)
        factor = as_number(*mvb) if mvb is not None else None
        if factor is None:
            return None
        value = value * factor
    if metric.kind is SampleKind.COUNTER:
        bits = counter_bits(tag) if exact and tag in (Tag.COUNTER32, Tag.COUNTER64) else 0
        return Sample(metric.name, labels, value, SampleKind.COUNTER, bits=bits)
    return Sample(metric.name, labels, value, metric.kind)


def _scaled(number: int | float, scale: float) -> float:
    """`number * scale`, dividing when scale is 1/N: 35 x 0.01 gives 0.35, not 0.35000000000004."""
    if 0 < scale < 1:
        inverse = 1 / scale
        if abs(inverse - round(inverse)) < 1e-9:
            return number / round(inverse)
    return number * scale


async def _probe_last_change(session: Session) -> int | None:
    """ifTableLastChange, asked apart (once, no retry) on a label walk of an agent not
    known to serve it: some agents go silent on an OID they lack, and the poll's first
    GET must not fail with them."""
    try:
        vbs, _ = await session.request(PduType.GET, [interfaces.IF_TABLE_LAST_CHANGE], retries=0)
    except (RequestTimeout, ErrorStatus, BadResponse):
        return None
    for name, tag, raw in vbs:
        if name == interfaces.IF_TABLE_LAST_CHANGE:
            return as_int(tag, raw)
    return None


def _int_of(vb: tuple[int, object] | None) -> int | None:
    return None if vb is None else as_int(*vb)


def _text_of(vb: tuple[int, object] | None) -> str:
    if vb is None:
        return ""
    return render(vb[0], vb[1], "text")


def _translate(
    exc: ClientError, where: str, opts: Options, samples: Sequence[Sample]
) -> CollectorError:
    """One place that maps client errors to monitord's error tree (no secrets in messages)."""
    if isinstance(exc, RequestTimeout):
        return TargetTimeout(
            f"snmp request timed out after {opts.request_timeout:g}s x {opts.retries + 1} "
            f"attempt(s) ({where}); "
            "check reachability, the port and the credentials (a wrong community gets no answer)",
            samples=samples,
        )
    if isinstance(exc, AuthFailure):
        return AuthFailed(
            f"snmp agent refused the credentials ({where}): {exc}; check the user, protocols and "
            "keys",
            samples=samples,
        )
    if isinstance(exc, Refused):
        return ConnectionRefused(
            f"snmp port closed ({where}): nothing answers on UDP port {opts.port}", samples=samples
        )
    if isinstance(exc, Unreachable):
        return TargetUnreachable(f"snmp agent unreachable ({where}): {exc}", samples=samples)
    if isinstance(exc, NameNotResolved):
        return NameResolutionFailed(
            f"snmp target address does not resolve ({where})", samples=samples
        )
    if isinstance(exc, ErrorStatus | BadResponse):
        return MalformedResponse(
            f"snmp agent answered with an error ({where}): {exc}", samples=samples
        )
    return MalformedResponse(f"snmp error ({where}): {type(exc).__name__}", samples=samples)
