"""Delivery of notifications: one queue and one worker task per notifier.

`Dispatcher.submit()` never blocks and never does I/O: it puts each notification on the
queue of every notifier that wants it and returns. Each worker sends batches with a
deadline (`timeout` + 5 s), retries retryable failures with exponential backoff (with
±20 % jitter) up to `retry.max_attempts`, then drops the batch and counts it; so an
unreachable notifier only grows its own bounded queue (the oldest items are dropped
past `queue_size`) and never delays polling, evaluation or the other notifiers.

A queued notification is deduplicated by (fingerprint, status): a newer one replaces
it. Notifiers with a `resend_interval` (Alertmanager) get every alert still firing
sent again at that interval, as Prometheus does, so their copies never expire.

Self-metrics (all with `notifier`, the configured name):
  monitord_notifications_sent_total, monitord_notification_failures_total (failed
  attempts), monitord_notification_retries_total, monitord_notifications_dropped_total
  {reason: queue_full | retries_exhausted | rejected}, monitord_notification_queue_length,
  monitord_notification_duration_seconds (histogram of successful sends).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitord.alerts.config import Notification, NotificationStatus, RetryConfig, Severity
from monitord.errors import NotifyError
from monitord.types import Clock, SystemClock

__all__ = ["MAX_BATCH", "DeliveryMetrics", "Dispatcher", "Notifier", "OnResult", "wants"]

# Told of every outcome: (notifier name, notifications, delivered, reason when dropped).
# It must not raise (the daemon's callback writes the history and logs its own errors).
OnResult = Callable[[str, Sequence[Notification], bool, str], None]

log = logging.getLogger(__name__)

MAX_BATCH = 50


class Notifier(Protocol):
    """One configured destination (exporters/notify); `send` raises only NotifyError."""

    kind: ClassVar[str]
    name: str
    timeout: float
    resend_interval: float | None
    send_resolved: bool
    severities: frozenset[Severity]

    async def send(self, batch: Sequence[Notification]) -> None:
        """Deliver a batch (one request or message where the protocol allows)."""
        ...

    async def aclose(self) -> None:
        """Release what it holds."""
        ...


def wants(severities: Iterable[Severity], severity: Severity) -> bool:
    """Whether a notifier filtering on `severities` (empty: all) takes an alert of
    `severity`. The filter is by the alert's word: `[warning]` takes high and medium."""
    words = {s.alert_label for s in severities}
    return not words or severity.alert_label in words


class DeliveryMetrics:
    """Counters of deliveries, by notifier, on a prometheus_client registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.sent = Counter(
            "monitord_notifications_sent", "Notifications delivered.", ["notifier"], registry=r
        )
        self.failures = Counter(
            "monitord_notification_failures",
            "Delivery attempts that failed (each retry counts).",
            ["notifier"],
            registry=r,
        )
        self.retries = Counter(
            "monitord_notification_retries", "Delivery retries scheduled.", ["notifier"], registry=r
        )
        self.dropped = Counter(
            "monitord_notifications_dropped",
            "Notifications given up: queue_full, retries_exhausted, rejected (not retryable).",
            ["notifier", "reason"],
            registry=r,
        )
        self.queue = Gauge(
            "monitord_notification_queue_length",
            "Notifications waiting for delivery.",
            ["notifier"],
            registry=r,
        )
        self.duration = Histogram(
            "monitord_notification_duration_seconds",
            "Time to deliver one batch.",
            ["notifier"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )


class _Worker:
    def __init__(
        self,
        notifier: Notifier,
        retry: RetryConfig,
        queue_size: int,
        metrics: DeliveryMetrics,
        clock: Clock,
        on_result: OnResult | None = None,
    ) -> None:
        self.notifier = notifier
        self.on_result = on_result
        self.retry = retry
        self.queue_size = queue_size
        self.metrics = metrics
        self.clock = clock
        self.items: dict[tuple[str, NotificationStatus], Notification] = {}
        self.active: dict[str, Notification] = {}
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None
        self.failing = False
        self.next_resend = 0.0

    def put(self, n: Notification, *, resend: bool = False) -> None:
        key = (n.fingerprint, n.status)
        if resend and key in self.items:
            return
        if not resend:
            if n.status is NotificationStatus.FIRING:
                self.active[n.fingerprint] = n
            else:
                self.active.pop(n.fingerprint, None)
        self.items.pop(key, None)
        self.items[key] = n
        while len(self.items) > self.queue_size:
            dropped = self.items.pop(next(iter(self.items)))
            self.metrics.dropped.labels(notifier=self.notifier.name, reason="queue_full").inc()
            self._tell([dropped], False, "queue_full")
        self._gauge()
        self.idle.clear()
        self.wake.set()

    async def run(self) -> None:
        interval = self.notifier.resend_interval
        while True:
            timeout = None
            if interval and self.active:
                timeout = max(0.0, self.next_resend - self.clock.monotonic())
            if not self.items:
                self.idle.set()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout)
                except TimeoutError:
                    pass
            self.wake.clear()
            if interval and self.active and self.clock.monotonic() >= self.next_resend:
                for n in list(self.active.values()):
                    self.put(n, resend=True)
            if self.items:
                if interval:
                    self.next_resend = self.clock.monotonic() + interval
                batch = [self.items.pop(k) for k in list(self.items)[:MAX_BATCH]]
                self._gauge()
                await self._deliver(batch)

    async def _deliver(self, batch: list[Notification]) -> None:
        name = self.notifier.name
        attempt = 0
        while True:
            start = self.clock.monotonic()
            try:
                async with asyncio.timeout(self.notifier.timeout + 5.0):
                    await self.notifier.send(batch)
            except NotifyError as exc:
                err = exc
            except TimeoutError:
                err = NotifyError(f"{name}: delivery timed out", sender=name, retryable=True)
            else:
                self.metrics.sent.labels(notifier=name).inc(len(batch))
                self.metrics.duration.labels(notifier=name).observe(self.clock.monotonic() - start)
                if self.failing:
                    log.info("notifier recovered notifier=%s", name)
                    self.failing = False
                self._tell(batch, True, "")
                return
            self.metrics.failures.labels(notifier=name).inc()
            attempt += 1
            if not err.retryable or attempt >= self.retry.max_attempts:
                reason = "rejected" if not err.retryable else "retries_exhausted"
                self.metrics.dropped.labels(notifier=name, reason=reason).inc(len(batch))
                log.error(
                    "notification dropped notifier=%s count=%d reason=%s attempts=%d: %s",
                    name,
                    len(batch),
                    reason,
                    attempt,
                    err,
                )
                self._tell(batch, False, reason)
                return
            delay = min(self.retry.max_backoff, self.retry.initial_backoff * 2 ** (attempt - 1))
            delay *= random.uniform(0.8, 1.2)
            self.metrics.retries.labels(notifier=name).inc()
            level = logging.DEBUG if self.failing else logging.WARNING
            log.log(
                level,
                "notification delivery failed notifier=%s attempt=%d retry_in=%.1fs: %s",
                name,
                attempt,
                delay,
                err,
            )
            self.failing = True
            await asyncio.sleep(delay)
            batch = self._merge(batch)

    def _merge(self, batch: list[Notification]) -> list[Notification]:
        """Let newer queued versions of the batch's notifications replace them."""
        out = []
        for n in batch:
            newer = self.items.pop((n.fingerprint, n.status), None)
            out.append(newer or n)
        self._gauge()
        return out

    def _gauge(self) -> None:
        self.metrics.queue.labels(notifier=self.notifier.name).set(len(self.items))

    def _tell(self, batch: Sequence[Notification], delivered: bool, reason: str) -> None:
        if self.on_result is not None:
            self.on_result(self.notifier.name, batch, delivered, reason)


class Dispatcher:
    """Per-notifier queues and workers; see the module docstring."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        retry: RetryConfig,
        queue_size: int,
        metrics: DeliveryMetrics,
        clock: Clock | None = None,
        on_result: OnResult | None = None,
    ) -> None:
        self.retry = retry
        self.queue_size = queue_size
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.on_result = on_result
        self._workers = [
            _Worker(n, retry, queue_size, metrics, self.clock, on_result) for n in notifiers
        ]
        self._started = False

    @property
    def notifiers(self) -> list[Notifier]:
        """The notifiers, in config order."""
        return [w.notifier for w in self._workers]

    def start(self) -> None:
        """Start the worker tasks (inside the running loop)."""
        self._started = True
        for w in self._workers:
            self._spawn(w)

    def submit(self, batch: Sequence[Notification]) -> None:
        """Queue notifications for every notifier that wants them; never blocks."""
        for w in self._workers:
            n = w.notifier
            for item in batch:
                if not wants(n.severities, item.severity):
                    continue
                if item.status is NotificationStatus.RESOLVED and not n.send_resolved:
                    w.active.pop(item.fingerprint, None)
                    continue
                w.put(item)

    async def flush(self, timeout: float) -> bool:
        """Wait until every queue is empty and idle, at most `timeout` s; True if it was."""
        try:
            async with asyncio.timeout(timeout):
                for w in self._workers:
                    await w.idle.wait()
        except TimeoutError:
            return False
        return True

    def replace(self, notifiers: Sequence[Notifier]) -> list[Notifier]:
        """Swap in new notifiers (reload); queued items move to the same-named notifier.

        Returns the old notifiers; the caller closes them after `aclose_workers`.
        """
        old = {w.notifier.name: w for w in self._workers}
        new = [
            _Worker(n, self.retry, self.queue_size, self.metrics, self.clock, self.on_result)
            for n in notifiers
        ]
        for w in new:
            prev = old.get(w.notifier.name)
            if prev is not None:
                w.items, w.active = dict(prev.items), dict(prev.active)
        for w in old.values():
            if w.task is not None:
                w.task.cancel()
        self._workers = new
        if self._started:
            for w in new:
                self._spawn(w)
        return [w.notifier for w in old.values()]

    async def aclose(self, flush_timeout: float = 5.0) -> None:
        """Try to deliver what is queued for up to `flush_timeout` s, then stop and close."""
        if self._started:
            await self.flush(flush_timeout)
        tasks = [w.task for w in self._workers if w.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in self._workers:
            w.task = None
            await w.notifier.aclose()
        self._started = False

    def _spawn(self, w: _Worker) -> None:
        w.task = asyncio.get_running_loop().create_task(w.run(), name=f"notify-{w.notifier.name}")
        w.task.add_done_callback(lambda t, w=w: self._on_done(w, t))  # type: ignore[misc]

    def _on_done(self, w: _Worker, task: asyncio.Task[None]) -> None:
        if task.cancelled() or w.task is not task or not self._started:
            return
        exc = task.exception()
        log.error("notifier worker crashed notifier=%s; restarting", w.notifier.name, exc_info=exc)
        asyncio.get_running_loop().call_later(1.0, self._respawn, w)

    def _respawn(self, w: _Worker) -> None:
        if self._started and w in self._workers:
            self._spawn(w)
