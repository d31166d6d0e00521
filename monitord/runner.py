"""Runs one poll: concurrency cap, deadline, failure → data, self-metrics.

This is the only place in monitord that catches `Exception`: a collector bug becomes
`reason="internal"` with one logged traceback per (target, collector) until it
recovers, and never reaches the scheduler. Expected failures arrive as
`CollectorError` subclasses carrying their `FailureReason` and any partial samples.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitord import __version__
from monitord.config import CollectorConfig
from monitord.errors import CollectorError
from monitord.state import Event, EventKind, GroupView, State
from monitord.types import (
    POLL_DEADLINE,
    Clock,
    FailureReason,
    MetricSpec,
    Sample,
    SystemClock,
    Target,
    concurrency_of,
    reach_of,
)

__all__ = ["Runner", "SelfMetrics"]

log = logging.getLogger(__name__)

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class SelfMetrics:
    """monitord's own behaviour, instrumented directly (no device data here)."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.polls = Counter(
            "monitord_polls", "Polls run, by collector.", ["collector"], registry=r
        )
        self.poll_errors = Counter(
            "monitord_poll_errors",
            "Polls that failed, by collector and reason.",
            ["collector", "reason"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "monitord_poll_duration_seconds",
            "Wall time of one poll, by collector (waiting for the concurrency cap excluded).",
            ["collector"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.scheduler_lag = Histogram(
            "monitord_scheduler_lag_seconds",
            "Delay between a job's scheduled time and its start.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 5, 30),
            registry=r,
        )
        self.missed_runs = Counter(
            "monitord_scheduler_missed_runs",
            "Scheduled polls not run because the previous run of the same job was still going,"
            " or too late.",
            ["collector"],
            registry=r,
        )
        self.samples_dropped = Counter(
            "monitord_samples_dropped",
            "Samples a collector returned that were dropped, by reason.",
            ["collector", "reason"],
            registry=r,
        )
        self.series = Gauge("monitord_series", "Device series held in the state.", registry=r)
        self.history_write = Histogram(
            "monitord_history_write_duration_seconds",
            "Time to write one batch to the on-disk history (events, or one history flush).",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=r,
        )
        self.history_pending = Gauge(
            "monitord_history_pending_events",
            "Events (up/down, alerts) kept in memory because the history could not be"
            " written; written in order when it can again.",
            registry=r,
        )
        self.history_write_errors = Counter(
            "monitord_history_write_errors",
            "Failed writes of events to the on-disk history (disk full, read-only...).",
            registry=r,
        )
        self.http_rejected = Counter(
            "monitord_http_connections_rejected",
            "Connections to an HTTP server closed on accept because all its slots were busy"
            " (daemon.http_max_connections).",
            ["server"],
            registry=r,
        )
        self.http_rejected.labels(server="metrics")
        self.config_reloads = Counter(
            "monitord_config_reloads", "Config reloads, by result.", ["result"], registry=r
        )
        self.targets = Gauge(
            "monitord_targets", "Targets configured for this daemon (this shard).", registry=r
        )
        self.jobs = Gauge("monitord_jobs", "Scheduled (target, collector) jobs.", registry=r)
        self.inflight = Gauge("monitord_polls_in_flight", "Polls running right now.", registry=r)
        build = Gauge(
            "monitord_build_info", "Version of monitord; always 1.", ["version"], registry=r
        )
        build.labels(version=__version__).set(1)
        for result in ("ok", "error"):
            self.config_reloads.labels(result=result)

    def declare(self, kinds: Iterable[str]) -> None:
        """Create the labelled self-series of these collectors at 0.

        A counter that appears only on its first increment cannot be graphed as 0 and
        makes `rate(...) > 0` see nothing rather than no errors; reasons are a closed set.
        """
        for kind in kinds:
            self.polls.labels(collector=kind)
            self.missed_runs.labels(collector=kind)
            self.poll_duration.labels(collector=kind)
            for reason in FailureReason:
                self.poll_errors.labels(collector=kind, reason=reason.value)


class Runner:
    """Runs polls and records their outcome in the state."""

    def __init__(
        self,
        state: State,
        metrics: SelfMetrics,
        specs: Mapping[str, MetricSpec],
        *,
        limits: Mapping[str, int] | None = None,
        on_events: Callable[[list[Event]], None] | None = None,
        on_poll: Callable[[GroupView], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.specs = specs
        # configured caps by kind (daemon.concurrency); a kind not listed gets the cap its
        # collector class declares (`concurrency`), else 64
        self.limits = dict(limits or {})
        self.on_events = on_events
        self.on_poll = on_poll
        self.clock = clock or SystemClock()
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._inflight: set[asyncio.Task[object]] = set()
        self._internal_logged: set[tuple[str, str]] = set()
        self._unknown_logged: set[str] = set()

    async def poll(
        self, target: Target, job: CollectorConfig, stale_after: float | None = None
    ) -> bool:
        """Run one poll of `job` against `target`; return True when it succeeded."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            async with self._sem(job):
                return await self._poll(target, job, stale_after)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def cancel_inflight(self) -> int:
        """Cancel every running poll and wait for them; return how many there were."""
        tasks = [t for t in self._inflight if not t.done() and t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _poll(self, target: Target, job: CollectorConfig, stale_after: float | None) -> bool:
        key = (target.name, job.kind)
        start = self.clock.monotonic()
        self.metrics.inflight.inc()
        samples: Iterable[Sample] = ()
        reason: str = ""
        message = ""
        try:
            deadline = asyncio.get_running_loop().time() + job.timeout
            token = POLL_DEADLINE.set(deadline)
            try:
                async with asyncio.timeout_at(deadline):
                    samples = await job.collector.collect(target)
            finally:
                POLL_DEADLINE.reset(token)
            ok = True
        except CollectorError as exc:
            ok, reason, message, samples = False, exc.reason.value, str(exc), exc.samples
        except TimeoutError:
            ok, reason = False, FailureReason.TIMEOUT.value
            message = (
                f"{job.kind} poll timed out after {job.timeout:g}s"
                f" (target={target.name} address={target.address})"
            )
        except Exception:
            ok, reason = False, FailureReason.INTERNAL.value
            message = f"internal error in the {job.kind} collector"
            if key not in self._internal_logged:
                self._internal_logged.add(key)
                log.exception("collector crashed target=%s collector=%s", target.name, job.kind)
        finally:
            self.metrics.inflight.dec()
        duration = self.clock.monotonic() - start
        if ok:
            self._internal_logged.discard(key)
        self.metrics.polls.labels(collector=job.kind).inc()
        self.metrics.poll_duration.labels(collector=job.kind).observe(duration)
        if not ok:
            self.metrics.poll_errors.labels(collector=job.kind, reason=reason).inc()
            log.debug(
                "poll failed target=%s collector=%s reason=%s: %s",
                target.name,
                job.kind,
                reason,
                message,
            )
        events = self.state.record(
            target,
            job.kind,
            self._checked(job.kind, samples),
            ok=ok,
            reason=reason,
            message=message,
            duration=duration,
            interval=job.interval,
            stale_after=stale_after,
            reach=reach_of(job.collector),
        )
        for ev in events:
            if ev.kind is EventKind.DOWN:
                log.warning(
                    "target down target=%s collector=%s reason=%s detail=%r",
                    ev.target,
                    ev.collector,
                    ev.reason,
                    ev.message,
                )
            else:
                log.info("target up target=%s collector=%s", ev.target, ev.collector)
        if events and self.on_events is not None:
            self.on_events(events)
        if self.on_poll is not None:
            view = self.state.group(target.name, job.kind)
            if view is not None:
                self.on_poll(view)
        return ok

    def _checked(self, collector: str, samples: Iterable[Sample]) -> list[Sample]:
        out: list[Sample] = []
        specs = self.specs
        for s in samples:
            if s.name in specs:
                out.append(s)
                continue
            self.metrics.samples_dropped.labels(collector=collector, reason="unknown_metric").inc()
            if s.name not in self._unknown_logged:
                self._unknown_logged.add(s.name)
                log.error(
                    "collector emitted an undeclared metric collector=%s metric=%s (dropped)",
                    collector,
                    s.name,
                )
        return out

    def _sem(self, job: CollectorConfig) -> asyncio.Semaphore:
        sem = self._sems.get(job.kind)
        if sem is None:
            cap = self.limits.get(job.kind) or concurrency_of(job.collector)
            sem = self._sems[job.kind] = asyncio.Semaphore(cap)
        return sem
