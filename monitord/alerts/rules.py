"""Rule conditions over a state snapshot: one `Observation` per alert instance.

Pure computation, no I/O. `SnapshotIndex` indexes one snapshot per evaluation (by
target; by metric name through each group's own index, built once per group version);
an `Evaluator` per rule turns it into observations, each carrying both the trigger
condition (`firing`) and the separate clear condition (`clearing`) so the engine can
apply hysteresis. Threshold rules reuse a group's observations until its next poll.
`trend` and `growth` rules keep their own small rings of (timestamp, value) per series:
at most `RING_POINTS` points spaced at least window/RING_POINTS apart, dropped past the
window, and rings of vanished series are forgotten after one window, so memory stays
bounded.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from monitord.alerts.config import RuleConfig, RuleKind
from monitord.state import GroupView, LabelSet, SeriesValue, Snapshot
from monitord.types import Target

__all__ = [
    "RING_POINTS",
    "Evaluator",
    "InstanceLabels",
    "Observation",
    "SnapshotIndex",
    "linear_fit",
    "target_down_state",
]

RING_POINTS = 64
_NO_EXTRA: Mapping[str, str] = {}  # shared by the observations without an info join

InstanceKey = tuple[str, LabelSet]  # (target, instance labels without target)
_Judgement = tuple[float, bool, bool, float]  # (value shown, firing, clearing, threshold)
# A group's observations by one rule, and what they were made of: (view, target, the
# target's groups when the rule joins an info metric, observations)
_Kept = tuple["GroupView", "Target | None", tuple["GroupView", ...], list["Observation"]]


@dataclass(frozen=True, slots=True)
class Observation:
    """One alert instance's condition in this evaluation."""

    key: InstanceKey
    target: Target
    labels: Mapping[str, str]
    value: float | None
    firing: bool
    clearing: bool
    threshold: float | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


class SnapshotIndex:
    """A snapshot indexed by target, and by metric name on demand.

    Built per evaluation in O(groups). Each group's series are grouped by name once per
    group version (`GroupView.by_name`, kept with the immutable view), so the series no
    rule reads are never visited, and `series(name)` lists one name across groups only
    when asked. Companion lookups (`divide_by`, `threshold_metric`) go through a hash
    index per (group, name, labels compared), built on first use, instead of a scan of
    the group's series per lookup.
    """

    def __init__(self, snap: Snapshot, labels: InstanceLabels | None = None) -> None:
        self.snap = snap
        self.labels = labels if labels is not None else InstanceLabels()
        self.groups_by_target: dict[str, list[GroupView]] = {}
        for (target, _), g in snap.groups.items():
            self.groups_by_target.setdefault(target, []).append(g)
        self._series: dict[str, list[tuple[GroupView, SeriesValue]]] = {}
        self._companions: dict[tuple[str, str, str, tuple[str, ...]], _CompanionIndex] = {}

    def series(self, name: str) -> list[tuple[GroupView, SeriesValue]]:
        """Every (group, series) of metric `name`, in group then series order."""
        found = self._series.get(name)
        if found is None:
            found = self._series[name] = [
                (g, sv) for g in self.snap.groups.values() for sv in g.by_name().get(name, ())
            ]
        return found

    def target(self, name: str) -> Target | None:
        """The configured target, or the one a group carries."""
        t = self.snap.targets.get(name)
        if t is None and name in self.groups_by_target:
            t = self.groups_by_target[name][0].target
        return t

    def companion(
        self, g: GroupView, name: str, labels: LabelSet, on: Sequence[str]
    ) -> SeriesValue | None:
        """The series `name` of the same group whose labels match (all, or just `on`).

        With `on`, the first series (in series order) whose labels `on` equal those of
        `labels`; without, the first whose labels other than `target` equal those of
        `labels`, with as many labels in all.
        """
        ckey = (g.target.name, g.collector, name, tuple(on))
        idx = self._companions.get(ckey)
        if idx is None:
            idx = self._companions[ckey] = _CompanionIndex(g.by_name().get(name, ()), tuple(on))
        return idx.find(labels)


class InstanceLabels:
    """The labels of an alert instance (a series' labels without `target`), one per LabelSet.

    The series of one interface share one LabelSet, and so do the alert instances made
    of them (link down, traffic in, traffic out): one dict and one tuple per interface,
    not per (rule, series). Kept from one evaluation to the next for the label sets still
    seen (`next_generation()`), so memory follows the live series. Do not mutate what it
    hands out.
    """

    __slots__ = ("_now", "_prev")

    def __init__(self) -> None:
        self._now: dict[LabelSet, tuple[dict[str, str], LabelSet]] = {}
        self._prev: dict[LabelSet, tuple[dict[str, str], LabelSet]] = {}

    def of(self, labels: LabelSet) -> tuple[dict[str, str], LabelSet]:
        """(labels without target as a dict, the same as a sorted tuple) of a LabelSet."""
        hit = self._now.get(labels)
        if hit is None:
            hit = self._prev.get(labels)
            if hit is None:
                pairs = tuple(sorted(p for p in labels if p[0] != "target"))
                hit = (dict(pairs), pairs)
            self._now[labels] = hit
        return hit

    def next_generation(self) -> None:
        """Start an evaluation: what the last one did not use is dropped after this one."""
        if self._now:
            self._prev, self._now = self._now, {}


class _CompanionIndex:
    """One group's series of one name, hashed by the labels a companion lookup compares."""

    __slots__ = ("exact", "on", "others")

    def __init__(self, series: Sequence[SeriesValue], on: tuple[str, ...]) -> None:
        self.on = on
        self.exact: dict[tuple[object, ...], tuple[int, SeriesValue]] = {}
        self.others: list[tuple[int, SeriesValue]] = []  # without labels: series lacking target
        for pos, sv in enumerate(series):
            if on:
                have = dict(sv.labels)
                self.exact.setdefault(tuple(have.get(k) for k in on), (pos, sv))
            elif any(k == "target" for k, _ in sv.labels):
                self.exact.setdefault(tuple(p for p in sv.labels if p[0] != "target"), (pos, sv))
            else:
                self.others.append((pos, sv))

    def find(self, labels: LabelSet) -> SeriesValue | None:
        want = dict(labels)
        if self.on:
            hit = self.exact.get(tuple(want.get(k) for k in self.on))
            return None if hit is None else hit[1]
        best: tuple[int, SeriesValue] | None = None
        if "target" in want:  # an indexed series has target, so as many labels as `want`
            best = self.exact.get(tuple(p for p in labels if p[0] != "target"))
        keys = [k for k in want if k != "target"]
        for pos, sv in self.others:  # the rare series without a target label: compare
            if best is not None and best[0] < pos:
                break
            have = dict(sv.labels)
            if len(have) == len(want) and all(have.get(k) == want[k] for k in keys):
                best = (pos, sv)
                break
        return None if best is None else best[1]


def selects(g: GroupView, collectors: Sequence[str], reach: str = "") -> bool:
    """Whether a `down` rule looks at this group: the collectors named, else those
    declaring `reach`, else every collector."""
    if collectors:
        return g.collector in collectors
    return not reach or g.reach == reach


def target_down_state(
    groups: Iterable[GroupView],
    collectors: Sequence[str],
    any_collector: bool = False,
    reach: str = "",
) -> tuple[bool | None, bool, list[GroupView]]:
    """(down, suspect, down groups) of a target, over the collectors `selects` picks.

    `down` is None when no such collector has a known state. `suspect` means down, or
    the last poll of a collector still up failed (the state may be about to say down).
    """
    known = [g for g in groups if selects(g, collectors, reach) and g.up is not None]
    if not known:
        return None, False, []
    down_groups = [g for g in known if g.up is False]
    down = bool(down_groups) if any_collector else len(down_groups) == len(known)
    suspect = down or any(g.up is True and not g.last_poll_ok for g in known)
    return down, suspect, down_groups


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares (slope, intercept) of (x, y) points; None when x does not vary."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx <= 0:
        return None
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    slope = sxy / sxx
    return slope, my - slope * mx


class Evaluator:
    """Computes one rule's observations; keeps the rings of trend/growth rules."""

    def __init__(self, name: str, rule: RuleConfig) -> None:
        self.name = name
        self.rule = rule
        self._where = {k: re.compile(v) for k, v in rule.where.items()}
        self._info_where = (
            {k: re.compile(v) for k, v in rule.info.where.items()} if rule.info else {}
        )
        self._rings: dict[tuple[str, str, LabelSet], deque[tuple[float, float]]] = {}
        self._ring_seen: dict[tuple[str, str, LabelSet], float] = {}
        self._kept: dict[tuple[str, str], _Kept] = {}  # see observe()

    def metric_names(self) -> set[str]:
        """Metric names this rule reads."""
        r = self.rule
        names = {r.metric, r.divide_by, r.threshold_metric}
        if r.info is not None:
            names.add(r.info.metric)
        return {n for n in names if n}

    def observe(self, index: SnapshotIndex, now: float) -> list[Observation]:
        """This rule's observations in `index` (wall-clock `now`).

        A threshold rule's observations of a group depend only on that group's view, the
        target and (with an info join) the target's other groups, so they are kept and
        reused while all of those are the same objects (a poll makes a new view): an
        evaluation costs the series of the groups polled since the last one, not every
        series the rule reads. Trend and growth rules feed their rings every time.
        """
        r = self.rule
        if r.kind is RuleKind.DOWN:
            return self._down(index)
        out: list[Observation] = []
        reuse = r.kind not in (RuleKind.TREND, RuleKind.GROWTH)
        kept: dict[tuple[str, str], _Kept] = {}
        for gkey, g in index.snap.groups.items():
            series = g.by_name().get(r.metric)
            if not series:
                continue
            target = index.target(g.target.name)
            siblings = tuple(index.groups_by_target.get(g.target.name, ())) if r.info else ()
            if reuse:
                hit = self._kept.get(gkey)
                if (
                    hit is not None
                    and hit[0] is g
                    and hit[1] is target
                    and len(hit[2]) == len(siblings)
                    and all(a is b for a, b in zip(hit[2], siblings, strict=True))
                ):
                    kept[gkey] = hit
                    out.extend(hit[3])
                    continue
            found = self._observe_group(index, g, series, target, siblings, now)
            if reuse:
                kept[gkey] = (g, target, siblings, found)
            out.extend(found)
        self._kept = kept
        self._forget_rings(now)
        return out

    def _observe_group(
        self,
        index: SnapshotIndex,
        g: GroupView,
        series: Iterable[SeriesValue],
        target: Target | None,
        siblings: Sequence[GroupView],
        now: float,
    ) -> list[Observation]:
        if target is None or not self.rule.scope.matches(target):
            return []
        infos = self._info_index(siblings)
        out: list[Observation] = []
        labels_of = index.labels.of
        for sv in series:
            labels, instance = labels_of(sv.labels)
            if not all(p.fullmatch(labels.get(k, "")) for k, p in self._where.items()):
                continue
            extra: Mapping[str, str] = _NO_EXTRA
            if self.rule.info is not None:
                info = infos.get((target.name, *(labels.get(k, "") for k in self.rule.info.on)))
                if info is None:
                    continue
                extra = dict(info)
            obs = self._observe_one(index, g, sv, target, labels, instance, extra, now)
            if obs is not None:
                out.append(obs)
        return out

    def _down(self, index: SnapshotIndex) -> list[Observation]:
        r = self.rule
        out = []
        for name, groups in index.groups_by_target.items():
            target = index.target(name)
            if target is None or not r.scope.matches(target):
                continue
            down, _, down_groups = target_down_state(
                groups, r.collectors, r.any_collector, r.reach or ""
            )
            if down is None:
                continue
            extra = {
                "collectors": ", ".join(sorted(g.collector for g in down_groups)),
                "reason": ", ".join(sorted({g.reason for g in down_groups if g.reason})),
            }
            out.append(
                Observation(
                    (name, ()), target, {}, 1.0 if down else 0.0, down, not down, extra=extra
                )
            )
        return out

    def _observe_one(
        self,
        index: SnapshotIndex,
        g: GroupView,
        sv: SeriesValue,
        target: Target,
        labels: Mapping[str, str],
        instance: LabelSet,
        extra: Mapping[str, str],
        now: float,
    ) -> Observation | None:
        r = self.rule
        value = sv.rate if r.rate else sv.value
        if value is None:
            return None
        if r.divide_by:
            den = index.companion(g, r.divide_by, sv.labels, r.divide_on)
            if den is None or den.value == 0:
                return None
            value = value / den.value
        if r.kind is RuleKind.TREND:
            judged = self._trend(self._ring(g, sv, value), value)
        elif r.kind is RuleKind.GROWTH:
            judged = self._growth(self._ring(g, sv, value), value)
        else:
            judged = self._level(index, g, sv, value)
        if judged is None:
            return None
        key: InstanceKey = (target.name, instance)
        shown, firing, clearing, threshold = judged
        return Observation(key, target, labels, shown, firing, clearing, threshold, extra)

    def _level(
        self, index: SnapshotIndex, g: GroupView, sv: SeriesValue, value: float
    ) -> _Judgement | None:
        r = self.rule
        threshold, clear = r.threshold, r.clear_threshold()
        if r.threshold_metric:
            t = index.companion(g, r.threshold_metric, sv.labels, ())
            if t is not None:
                threshold = clear = t.value
        return self._against(value, threshold, clear)

    def _against(
        self, value: float, threshold: float | None, clear: float | None
    ) -> _Judgement | None:
        """`value` against the rule's operator: fires past `threshold`, clears past `clear`."""
        if threshold is None or clear is None:
            return None
        op = self.rule.op
        return value, op.holds(value, threshold), not op.holds(value, clear), threshold

    def _ring(self, g: GroupView, sv: SeriesValue, value: float) -> deque[tuple[float, float]]:
        r = self.rule
        rkey = (g.target.name, g.collector, sv.labels)
        ring = self._rings.setdefault(rkey, deque(maxlen=RING_POINTS + 1))
        self._ring_seen[rkey] = sv.ts
        spacing = r.window / RING_POINTS
        if not ring or sv.ts - ring[-1][0] >= spacing:
            ring.append((sv.ts, value))
        elif sv.ts > ring[-1][0]:
            ring[-1] = (ring[-1][0], value)  # keep the spacing, refresh the latest value
        while ring and ring[0][0] < sv.ts - r.window:
            ring.popleft()
        return ring

    def _trend(self, ring: deque[tuple[float, float]], value: float) -> _Judgement | None:
        r = self.rule
        if len(ring) < r.min_points or ring[-1][0] - ring[0][0] < r.window / 4:
            return None
        fit = linear_fit(list(ring))
        if fit is None:
            return None
        slope = fit[0]
        left = value / -slope if slope < 0 and value > 0 else float("inf")
        if value <= 0:
            left = 0.0
        return left, left < r.horizon, left > r.horizon * 1.2, r.horizon

    def _growth(self, ring: deque[tuple[float, float]], value: float) -> _Judgement | None:
        r = self.rule
        span = ring[-1][0] - ring[0][0]
        first = ring[0][1]
        if len(ring) < r.min_points or span < r.window / 4 or first <= 0:
            return None
        growth = (value - first) / first * (r.window / span if span < r.window else 1.0)
        return self._against(growth, r.threshold, r.clear_threshold())

    def _info_index(self, groups: Sequence[GroupView]) -> dict[tuple[str, ...], dict[str, str]]:
        """The info join's labels from one target's groups, by (target, `on` values)."""
        info = self.rule.info
        if info is None:
            return {}
        out: dict[tuple[str, ...], dict[str, str]] = {}
        for g in groups:
            for sv in g.by_name().get(info.metric, ()):
                labels = dict(sv.labels)
                if all(p.fullmatch(labels.get(k, "")) for k, p in self._info_where.items()):
                    extra = {k: v for k, v in labels.items() if k not in ("target", *info.on)}
                    out[(g.target.name, *(labels.get(k, "") for k in info.on))] = extra
        return out

    def _forget_rings(self, now: float) -> None:
        if not self._rings:
            return
        horizon = now - self.rule.window
        for rkey in [k for k, ts in self._ring_seen.items() if ts < horizon]:
            self._rings.pop(rkey, None)
            self._ring_seen.pop(rkey, None)
