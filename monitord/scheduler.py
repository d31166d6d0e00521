"""APScheduler 3.x wiring: one job per (target, collector).

- `max_instances=1`: a run that would overlap the previous one is skipped and counted
  in `monitord_scheduler_missed_runs_total`, never queued; `coalesce=True`;
  `misfire_grace_time=interval`.
- Start times are spread: each job gets a stable phase offset (from a hash of its id)
  within `min(interval, startup_spread)`, so 1,000 targets on the same interval do not
  fire in the same millisecond, and a restart keeps the same spread.
- `sync(config)` applies a (re)loaded config: unchanged jobs keep running (and their
  state), changed ones are replaced, removed ones are dropped with their series.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitord.config import CollectorConfig, Config
from monitord.runner import Runner, SelfMetrics
from monitord.state import State
from monitord.types import Clock, SystemClock, Target

__all__ = ["Scheduler", "SyncResult", "job_id", "phase_offset"]

log = logging.getLogger(__name__)

PRUNE_JOB = "__prune__"


def job_id(target: str, collector: str) -> str:
    """The scheduler id of a (target, collector) job."""
    return f"{target}|{collector}"


def phase_offset(jid: str, window: float) -> float:
    """Stable offset in [0, window) for a job id."""
    if window <= 0:
        return 0.0
    h = int.from_bytes(hashlib.sha1(jid.encode()).digest()[:8], "big")
    return (h / 2**64) * window


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a config sync changed."""

    added: int
    removed: int
    replaced: int
    kept: int


class Scheduler:
    """Owns the AsyncIOScheduler and the table of jobs."""

    def __init__(
        self,
        runner: Runner,
        state: State,
        metrics: SelfMetrics,
        *,
        startup_spread: float = 10.0,
        clock: Clock | None = None,
        extra_jobs: Callable[[AsyncIOScheduler], None] | None = None,
    ) -> None:
        self.runner = runner
        self.state = state
        self.metrics = metrics
        self.startup_spread = startup_spread
        self.clock = clock or SystemClock()
        self._jobs: dict[str, tuple[Target, CollectorConfig, float]] = {}
        self._sched: AsyncIOScheduler | None = None
        self._stopping = False
        self._extra_jobs = extra_jobs

    @property
    def running(self) -> bool:
        """True while the scheduler is started and not shutting down."""
        return self._sched is not None and self._sched.running and not self._stopping

    def start(self) -> None:
        """Start the scheduler on the running loop."""
        loop = asyncio.get_running_loop()
        self._sched = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self._sched.add_listener(
            self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )
        self._sched.add_job(
            self._prune,
            IntervalTrigger(seconds=15, timezone=UTC),
            id=PRUNE_JOB,
            max_instances=1,
            coalesce=True,
        )
        if self._extra_jobs is not None:
            self._extra_jobs(self._sched)
        self._sched.start()

    async def shutdown(self) -> None:
        """Stop scheduling, cancel in-flight polls and wait for them.

        APScheduler cancels the jobs it submitted but that had not started yet, and logs
        each as `Error running job` with a CancelledError traceback; during a clean stop
        those records are dropped (`_QuietCancel`), nothing else is.
        """
        self._stopping = True
        executor_log = logging.getLogger("apscheduler.executors.default")
        if not any(isinstance(f, _QuietCancel) for f in executor_log.filters):
            executor_log.addFilter(_QuietCancel())
        if self._sched is not None and self._sched.running:
            self._sched.shutdown(wait=False)
        await self.runner.cancel_inflight()

    def sync(self, config: Config) -> SyncResult:
        """Make the job table match `config` (in one go: at start)."""
        result = _advance(self._sync_steps(config), sys.maxsize)
        assert result is not None
        return result

    async def sync_async(self, config: Config, batch: int = 50) -> SyncResult:
        """`sync`, yielding to the event loop every `batch` job changes: a reload that
        adds thousands of jobs (about 1 ms each in APScheduler) does not hold up the
        running polls."""
        steps = self._sync_steps(config)
        while (result := _advance(steps, batch)) is None:
            await asyncio.sleep(0)
        return result

    def _sync_steps(self, config: Config) -> Generator[None, None, SyncResult]:
        """The work of `sync`, one job change per step; returns the SyncResult."""
        assert self._sched is not None, "start() first"
        wanted: dict[str, tuple[Target, CollectorConfig, float]] = {}
        for tc in config.targets:
            for cc in tc.collectors:
                wanted[job_id(tc.target.name, cc.kind)] = (
                    tc.target,
                    cc,
                    config.stale_after(cc.interval),
                )
        self.state.set_targets(tc.target for tc in config.targets)
        added = removed = replaced = kept = 0
        for jid in list(self._jobs):
            if jid not in wanted:
                target, cc, _ = self._jobs.pop(jid)
                self._remove_job(jid)
                self.state.remove(target.name, cc.kind)
                removed += 1
                yield
        now = datetime.now(UTC)
        for jid, (target, cc, stale) in wanted.items():
            old = self._jobs.get(jid)
            if old is not None and old[1].same_job(cc):
                # Same schedule and options: keep the running job, its collector and its state.
                self._jobs[jid] = (target, old[1], stale)
                kept += 1
                continue
            if old is not None:
                self._remove_job(jid)
                self.state.remove(target.name, cc.kind)
                replaced += 1
            else:
                added += 1
            self._jobs[jid] = (target, cc, stale)
            first = now + timedelta(
                seconds=phase_offset(jid, min(cc.interval, self.startup_spread))
            )
            self._sched.add_job(
                self._run,
                IntervalTrigger(seconds=cc.interval, start_date=first, timezone=UTC),
                args=(jid,),
                id=jid,
                name=jid,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(cc.interval)),
                replace_existing=True,
            )
            yield
        self.metrics.jobs.set(len(self._jobs))
        self.metrics.targets.set(len(config.targets))
        self.metrics.declare({cc.kind for _, cc, _ in self._jobs.values()})
        return SyncResult(added, removed, replaced, kept)

    def add_jobs(self, add: Callable[[AsyncIOScheduler], None]) -> None:
        """Add periodic jobs of a part started after the scheduler (an `events:` reload)."""
        assert self._sched is not None, "start() first"
        add(self._sched)

    def run_now(self, jid: str) -> bool:
        """Move a job's next run to now (an event asked for a fresh poll); False if unknown."""
        if self._sched is None or self._stopping or jid not in self._jobs:
            return False
        self._sched.modify_job(jid, next_run_time=datetime.now(UTC))
        return True

    async def _run(self, jid: str) -> None:
        entry = self._jobs.get(jid)
        if entry is None or self._stopping:
            return
        target, cc, stale = entry
        try:
            await self.runner.poll(target, cc, stale)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cancelled by shutdown: end quietly (APScheduler would log it as a job error).

    def _prune(self) -> None:
        stale = {(t.name, cc.kind): s for t, cc, s in self._jobs.values()}
        self.state.prune(stale)

    def _remove_job(self, jid: str) -> None:
        assert self._sched is not None
        if self._sched.get_job(jid) is not None:
            self._sched.remove_job(jid)

    def _on_event(self, event: JobEvent) -> None:
        if event.job_id == PRUNE_JOB:
            return
        collector = event.job_id.rsplit("|", 1)[-1]
        if event.code == EVENT_JOB_SUBMITTED and isinstance(event, JobSubmissionEvent):
            now = self.clock.time()
            for rt in event.scheduled_run_times:
                self.metrics.scheduler_lag.observe(max(0.0, now - rt.timestamp()))
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.missed_runs.labels(collector=collector).inc()
            log.debug("poll skipped, previous run still going job=%s", event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            self.metrics.missed_runs.labels(collector=collector).inc()
            log.debug("poll missed its time job=%s", event.job_id)


def _advance(steps: Generator[None, None, SyncResult], n: int) -> SyncResult | None:
    """Run up to `n` steps of a sync; its result once it is done, else None."""
    try:
        for _ in range(n):
            next(steps)
    except StopIteration as done:
        result: SyncResult = done.value
        return result
    return None


class _QuietCancel(logging.Filter):
    """Drops APScheduler's error records for jobs cancelled by a clean shutdown."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)
