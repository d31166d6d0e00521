"""The alert engine: rules over state snapshots → alert instances → notifications.

Every `evaluation_interval` (and right away after `poke()`, e.g. on a state transition)
the engine takes one `State.snapshot()` and, per rule instance (rule, target, labels):
- inactive → pending when the trigger condition holds; pending → firing after `for`;
  firing → resolved once the separate clear condition has held for `clear_for`
  (hysteresis); an instance whose data vanished keeps its state, and resolves after
  `missing_resolve_after` (or at once if its target left the config);
- counts condition changes over `flapping.window`: past `flapping.threshold` the
  instance is flapping, its own notifications stop and one `<rule>_flapping` alert
  fires instead, until the changes drop to `flapping.clear_threshold`;
- mutes it (still evaluated and logged with `silenced`, not notified) when an ancestor
  of its target (`parent`, recursively) is down or its last poll failed, the cause being
  the topmost such ancestor (a new alert waits until its ancestors have been polled
  since it began, at most two of their intervals); when the target itself is down (for
  rules other than target_down); in a maintenance window; or under a run-time silence;
- notifies: firing once (dedup), again every `repeat_interval` while unresolved and
  unmuted, and resolved when a notified alert ends. An alert muted at its start is
  notified if it is still firing when the mute ends.
Every start and resolve goes to the event sink (`AlertEvent` rows for the history).
Notifications go to the `Dispatcher`, which never blocks the loop.

Exposed on the registry given (SelfMetrics.registry): `monitord_alert_active
{alertname,target,severity}` (firing instances, muted ones included),
`monitord_alert_muted{alertname,target,severity}` (those not notified because muted),
`monitord_alert_last_evaluation_timestamp_seconds`, and the dispatcher's counters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from monitord.alerts.config import (
    AlertEvent,
    AlertEventKind,
    AlertsConfig,
    Notification,
    NotificationStatus,
    RuleConfig,
    Severity,
)
from monitord.alerts.dispatch import DeliveryMetrics, Dispatcher, Notifier
from monitord.alerts.maintenance import Silence, SilenceStore
from monitord.alerts.rules import (
    Evaluator,
    InstanceKey,
    InstanceLabels,
    Observation,
    SnapshotIndex,
    selects,
    target_down_state,
)
from monitord.alerts.texts import Composer, dependents
from monitord.configtypes import Language
from monitord.history.db import Delivery
from monitord.state import Snapshot
from monitord.types import Clock, Reach, SystemClock, Target

__all__ = ["AlertEngine"]

log = logging.getLogger(__name__)

_DEFAULT_REACH = Reach.DEVICE  # target_down's reach when the rule is disabled


@dataclass(eq=False)
class _Instance:
    rule: str
    key: InstanceKey
    target: Target
    labels: Mapping[str, str]
    obs: Observation
    last_seen: float
    state: str = "inactive"  # inactive | pending | firing
    since: float = 0.0
    since_wall: float = 0.0
    starts_at: float = 0.0
    clear_since: float | None = None
    cond: bool = False
    changes: deque[float] = field(default_factory=deque)
    announced: bool = False
    last_sent: float = 0.0
    flapping: bool = False
    flap_starts_at: float = 0.0
    flap_announced: bool = False
    flap_last_sent: float = 0.0
    muted: str = ""
    started: bool = False
    resolved: bool = False
    flap_started: bool = False
    flap_resolved: bool = False


class AlertEngine:
    """Evaluates the rules and drives the notifications; see the module docstring."""

    def __init__(
        self,
        config: AlertsConfig,
        snapshot: Callable[[], Snapshot],
        notifiers: Sequence[Notifier] = (),
        *,
        language: Language = Language.ES,
        timezone: str = "America/Bogota",
        sink: Callable[[list[AlertEvent]], None] | None = None,
        deliveries: Callable[[list[Delivery]], None] | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        silences_path: Path | None = None,
        generator_url: str = "",
        on_silence: Callable[[Silence, float | None], None] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.timezone = timezone
        self.sink = sink
        self.clock = clock or SystemClock()
        self.default_language = language
        self.generator_url = generator_url
        self.silences = SilenceStore(silences_path, on_silence)
        reg = registry if registry is not None else CollectorRegistry()
        self.metrics = DeliveryMetrics(reg)
        self.config = config
        self.deliveries = deliveries
        self.dispatcher = Dispatcher(
            notifiers,
            config.retry,
            config.queue_size,
            self.metrics,
            self.clock,
            self._on_result if deliveries is not None else None,
        )
        self._evaluators: dict[str, Evaluator] = {}
        self._labels = InstanceLabels()  # instance labels shared across rules and passes
        self._instances: dict[tuple[str, InstanceKey], _Instance] = {}
        self._view: tuple[tuple[str, str, str, bool], ...] = ()
        self._last_eval = 0.0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._apply_rules(config)
        self.composer = Composer(self.language, generator_url)
        reg.register(_AlertCollector(self))

    @property
    def language(self) -> Language:
        """The language of the notifications."""
        return self.config.language or self.default_language

    def _on_result(
        self, notifier: str, batch: Sequence[Notification], delivered: bool, reason: str
    ) -> None:
        """The dispatcher's outcome of a batch, as `Delivery` rows for the history."""
        if self.deliveries is None:
            return
        now = self.clock.time()
        self.deliveries(
            [
                Delivery(now, notifier, n.alertname, n.target, n.status.value, n.fingerprint,
                         n.starts_at, delivered, reason)
                for n in batch
            ]
        )  # fmt: skip

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher and the evaluation loop (inside the running loop)."""
        self.dispatcher.start()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="alert-engine")

    async def run(self) -> None:
        """Evaluate every `evaluation_interval`, or sooner after `poke()`; runs until cancelled."""
        self._wake = asyncio.Event()
        while True:
            await self.evaluate_async()
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.evaluation_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    def poke(self) -> None:
        """Evaluate soon (call from the loop, e.g. when the state reports a transition)."""
        if self._wake is not None:
            self._wake.set()

    async def aclose(self, flush_timeout: float = 5.0) -> None:
        """Stop evaluating, try to deliver what is queued, close the notifiers."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.dispatcher.aclose(flush_timeout)

    async def reconfigure(self, config: AlertsConfig, notifiers: Sequence[Notifier]) -> None:
        """Swap in a reloaded `alerts:` section and its notifiers; alert states carry over."""
        self.config = config
        self.composer = Composer(self.language, self.generator_url)
        self.dispatcher.retry, self.dispatcher.queue_size = config.retry, config.queue_size
        self._apply_rules(config)
        for old in self.dispatcher.replace(notifiers):
            await old.aclose()
        self.poke()

    # --- evaluation --------------------------------------------------------------

    def evaluate(self) -> list[Notification]:
        """One evaluation pass; returns the notifications it queued."""
        now, mono, snap, index = self._begin()
        observed = [(name, ev.observe(index, now)) for name, ev in list(self._evaluators.items())]
        return self._apply(now, mono, snap, index, observed)

    async def evaluate_async(self) -> list[Notification]:
        """`evaluate()`, giving the event loop a turn after each rule's observations.

        Observing the groups polled since the last pass costs up to a few hundred ms at
        300 switches; in one go that would delay every poll due meanwhile. The rules
        read one snapshot, taken at the start, and the alert states change at the end,
        in one step, as in `evaluate()`.
        """
        now, mono, snap, index = self._begin()
        observed: list[tuple[str, list[Observation]]] = []
        for name, ev in list(self._evaluators.items()):
            observed.append((name, ev.observe(index, now)))
            await asyncio.sleep(0)
        current = self._evaluators  # a reload meanwhile: only the rules it kept count
        observed = [(n, obs) for n, obs in observed if n in current]
        return self._apply(now, mono, snap, index, observed)

    def _begin(self) -> tuple[float, float, Snapshot, SnapshotIndex]:
        now, mono = self.clock.time(), self.clock.monotonic()
        snap = self.snapshot()
        self.silences.expire(now)
        self._labels.next_generation()
        return now, mono, snap, SnapshotIndex(snap, self._labels)

    def _apply(
        self,
        now: float,
        mono: float,
        snap: Snapshot,
        index: SnapshotIndex,
        observed: list[tuple[str, list[Observation]]],
    ) -> list[Notification]:
        down = self._down_map(index)
        seen: set[tuple[str, InstanceKey]] = set()
        events: list[AlertEvent] = []
        out: list[Notification] = []
        for name, found in observed:
            for obs in found:
                ikey = (name, obs.key)
                inst = self._instances.get(ikey)
                if inst is None:
                    if not obs.firing:
                        continue
                    inst = _Instance(name, obs.key, obs.target, obs.labels, obs, mono)
                    self._instances[ikey] = inst
                seen.add(ikey)
                inst.obs, inst.target, inst.last_seen = obs, obs.target, mono
                active = obs.firing if inst.state != "firing" else not obs.clearing
                self._step(inst, active, now, mono, events)
        for ikey, inst in list(self._instances.items()):
            rule = self._rule(inst.rule)
            gone = rule is None or (inst.target.name not in snap.targets and bool(snap.targets))
            if ikey not in seen and inst.state != "inactive":
                if gone or mono - inst.last_seen > self.config.missing_resolve_after:
                    self._step(inst, False, now, mono, events, force=True)
            self._flap(inst, now, mono, events)
            self._notify(inst, index, down, now, mono, events, out)
            if (
                inst.state == "inactive"
                and not (inst.announced or inst.flapping or inst.flap_announced or inst.changes)
            ) or (gone and not inst.announced and not inst.flap_announced):
                del self._instances[ikey]
        view = [
            (i.rule, i.target.name, self._severity(i.rule).alert_label, bool(i.muted or i.flapping))
            for i in self._instances.values()
            if i.state == "firing"
        ]
        view += [
            (f"{i.rule}_flapping", i.target.name, self._severity(i.rule).alert_label, bool(i.muted))
            for i in self._instances.values()
            if i.flapping
        ]
        self._view = tuple(view)
        self._last_eval = now
        if events and self.sink is not None:
            self.sink(events)
        if out:
            self.dispatcher.submit(out)
        return out

    def active(self) -> list[tuple[str, str, str, bool]]:
        """(alertname, target, severity, muted) of every firing instance (last evaluation)."""
        return list(self._view)

    # --- internals -----------------------------------------------------------------

    def _apply_rules(self, config: AlertsConfig) -> None:
        rules = config.effective_rules()
        old = self._evaluators
        self._evaluators = {
            n: old[n] if n in old and old[n].rule == r else Evaluator(n, r)
            for n, r in rules.items()
        }

    def _rule(self, name: str) -> RuleConfig | None:
        ev = self._evaluators.get(name)
        return ev.rule if ev is not None else None

    def _severity(self, name: str) -> Severity:
        rule = self._rule(name)
        return rule.severity if rule is not None else Severity.MEDIUM

    def _step(
        self,
        inst: _Instance,
        active: bool,
        now: float,
        mono: float,
        events: list[AlertEvent],
        force: bool = False,
    ) -> None:
        rule = self._rule(inst.rule)
        if active != inst.cond:
            inst.cond = active
            inst.changes.append(mono)
        if inst.state == "inactive" and active:
            inst.state, inst.since, inst.since_wall = "pending", mono, now
        if inst.state == "pending":
            if not active:
                inst.state = "inactive"
            elif rule is not None and mono - inst.since >= rule.for_:
                inst.state, inst.starts_at, inst.clear_since = "firing", now, None
                inst.started = True
        elif inst.state == "firing":
            if active:
                inst.clear_since = None
            else:
                if inst.clear_since is None:
                    inst.clear_since = mono
                clear_for = rule.clear_for if rule is not None and not force else 0.0
                if mono - inst.clear_since >= clear_for:
                    inst.state = "inactive"
                    inst.resolved = True

    def _flap(self, inst: _Instance, now: float, mono: float, events: list[AlertEvent]) -> None:
        cfg = self.config.flapping
        while inst.changes and inst.changes[0] < mono - cfg.window:
            inst.changes.popleft()
        while len(inst.changes) > cfg.threshold + 1:
            inst.changes.popleft()
        if not cfg.enabled:
            inst.flapping = False
            return
        if not inst.flapping and len(inst.changes) >= cfg.threshold:
            inst.flapping, inst.flap_starts_at, inst.flap_started = True, now, True
            log.info(
                "alert flapping alertname=%s target=%s changes=%d",
                inst.rule,
                inst.target.name,
                len(inst.changes),
            )
        elif inst.flapping and len(inst.changes) <= cfg.clears_at():
            inst.flapping, inst.flap_resolved = False, True

    def _notify(
        self,
        inst: _Instance,
        index: SnapshotIndex,
        down: Mapping[str, tuple[bool, bool]],
        now: float,
        mono: float,
        events: list[AlertEvent],
        out: list[Notification],
    ) -> None:
        rule = self._rule(inst.rule)
        severity = self._severity(inst.rule)
        muted = inst.muted = self._muted(inst, index, down, now)
        c = self.composer
        window = self.config.flapping.window
        deps = dependents(inst.target.name, index.snap.targets.values())
        F, R = NotificationStatus.FIRING, NotificationStatus.RESOLVED
        repeat = self.config.repeat_interval
        send_resolved = self.config.send_resolved
        # the alert itself
        firing = inst.state == "firing"
        own_mute = muted or ("flapping" if inst.flapping else "")
        started, resolved, inst.started, inst.resolved = inst.started, inst.resolved, False, False
        n: Notification | None = None
        hold = firing and not inst.announced and self._parent_pending(inst, index, now)
        if firing and not own_mute and not inst.announced and not hold:
            n = c.alert(inst.rule, rule, inst.obs, severity, F, inst.starts_at, now, deps=deps)
            inst.announced, inst.last_sent = True, mono
        elif firing and not own_mute and mono - inst.last_sent >= repeat:
            n = c.alert(inst.rule, rule, inst.obs, severity, F, inst.starts_at, now, True, deps)
            inst.last_sent = mono
        elif not firing and inst.announced and not inst.flapping:
            inst.announced = False
            if send_resolved:
                n = c.alert(inst.rule, rule, inst.obs, severity, R, inst.starts_at, now)
        if n is not None:
            out.append(n)
        if started or resolved:
            kind = AlertEventKind.START if started else AlertEventKind.RESOLVE
            msg = c.summary(inst.rule, rule, inst.obs)
            if own_mute:
                msg += " — " + c.mute_text(own_mute)
            events.append(
                AlertEvent(
                    now,
                    inst.rule,
                    inst.target.name,
                    severity.alert_label,
                    kind,
                    bool(own_mute),
                    n is not None,
                    msg,
                )
            )
            log.info(
                "alert %s alertname=%s target=%s muted=%s",
                kind.value,
                inst.rule,
                inst.target.name,
                own_mute or "no",
            )
        # its flapping alert
        fname = f"{inst.rule}_flapping"
        fstart, fresolve = inst.flap_started, inst.flap_resolved
        inst.flap_started = inst.flap_resolved = False
        fn: Notification | None = None
        args = (inst.rule, rule, inst.obs, severity)
        changes, fstarts = len(inst.changes), inst.flap_starts_at
        if inst.flapping and not muted and not inst.flap_announced:
            fn = c.flapping(*args, F, fstarts, now, changes, window)
            inst.flap_announced, inst.flap_last_sent = True, mono
        elif inst.flapping and not muted and mono - inst.flap_last_sent >= repeat:
            fn = c.flapping(*args, F, fstarts, now, changes, window, True)
            inst.flap_last_sent = mono
        elif not inst.flapping and inst.flap_announced:
            inst.flap_announced = False
            fn = c.flapping(*args, R, fstarts, now, changes, window)
        if fn is not None:
            out.append(fn)
        if fstart or fresolve:
            kind = AlertEventKind.START if fstart else AlertEventKind.RESOLVE
            msg = c.flapping_texts(inst.rule, rule, inst.obs, changes, window)[0]
            msg += " — " + c.mute_text(muted) if muted else ""
            events.append(
                AlertEvent(
                    now,
                    fname,
                    inst.target.name,
                    severity.alert_label,
                    kind,
                    bool(muted),
                    fn is not None,
                    msg,
                )
            )

    def _muted(
        self,
        inst: _Instance,
        index: SnapshotIndex,
        down: Mapping[str, tuple[bool, bool]],
        now: float,
    ) -> str:
        """Why `inst` is muted: `parent:<name>`, `self`, `maintenance:<name>`, `silence:<id>`."""
        t = inst.target
        cause = self._cause(t, index, down)
        if cause:
            return f"parent:{cause}"
        if inst.rule != "target_down" and down.get(t.name, (False, False))[0]:
            return "self"
        for i, w in enumerate(self.config.maintenance):
            if w.active(t, inst.rule, now, self.timezone):
                return f"maintenance:{w.name or i}"
        s = self.silences.muting(t, inst.rule, now)
        if s is not None:
            return f"silence:{s.id}"
        return ""

    def _down_map(self, index: SnapshotIndex) -> dict[str, tuple[bool, bool]]:
        rule = self._rule("target_down")
        collectors, reach = _reach(rule)
        out = {}
        for name, groups in index.groups_by_target.items():
            down, suspect, _ = target_down_state(groups, collectors, reach=reach)
            out[name] = (bool(down), suspect)
        return out

    def _parent_pending(self, inst: _Instance, index: SnapshotIndex, now: float) -> bool:
        """True while an ancestor has not been polled since this alert's condition began.

        A child is often seen failing before its parent's next poll: its notification then
        waits (up to two of the parent's intervals) for the parent's verdict, so a parent
        outage is not reported as a child outage first.
        """
        rule = self._rule("target_down")
        collectors, reach = _reach(rule)
        parent = inst.target.parent
        for _ in range(len(index.snap.targets) + 1):
            if parent is None:
                return False
            groups = [
                g for g in index.groups_by_target.get(parent, ()) if selects(g, collectors, reach)
            ]
            if groups and all(g.last_poll_ts < inst.since_wall for g in groups):
                wait = 2 * max(g.interval for g in groups)
                if now - inst.since_wall < wait:
                    return True
            p = index.target(parent)
            parent = p.parent if p is not None else None
        return False

    def _cause(
        self, target: Target, index: SnapshotIndex, down: Mapping[str, tuple[bool, bool]]
    ) -> str:
        cause = ""
        parent = target.parent
        for _ in range(len(index.snap.targets) + 1):
            if parent is None:
                break
            if any(down.get(parent, (False, False))):
                cause = parent
            p = index.target(parent)
            parent = p.parent if p is not None else None
        return cause


class _AlertCollector:
    """prometheus_client custom collector for the engine's alert gauges."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        yield from self._families()
        yield GaugeMetricFamily("monitord_alert_last_evaluation_timestamp_seconds", "")

    def collect(self) -> Iterator[Metric]:
        active, muted = self._families()
        counts: dict[tuple[str, str, str], list[int]] = {}
        for name, target, sev, is_muted in self.engine._view:
            c = counts.setdefault((name, target, sev), [0, 0])
            c[0] += 1
            c[1] += int(is_muted)
        for labels, (n, m) in sorted(counts.items()):
            active.add_metric(list(labels), n)
            muted.add_metric(list(labels), m)
        last = GaugeMetricFamily(
            "monitord_alert_last_evaluation_timestamp_seconds",
            "Unix time of the alert engine's last evaluation.",
            value=self.engine._last_eval,
        )
        yield from (active, muted, last)

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["alertname", "target", "severity"]
        return (
            GaugeMetricFamily(
                "monitord_alert_active",
                "Firing alert instances (muted ones included); >1 for per-interface or "
                "per-filesystem rules.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "monitord_alert_muted",
                "Firing alert instances not notified: maintenance, silence, parent down, flapping.",
                labels=labels,
            ),
        )


def _reach(rule: RuleConfig | None) -> tuple[list[str], str]:
    """The (collectors, reach) that say whether a target is down (target_down's)."""
    if rule is None:
        return [], _DEFAULT_REACH.value
    return rule.collectors, (rule.reach.value if rule.reach is not None else "")
