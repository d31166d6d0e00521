"""What an alert says: template values, catalog texts, and the `Notification` itself.

Texts come from monitord/alerts/messages.yaml (or a rule's own `summary`/`description`
in the config), rendered in the daemon's language; values are formatted for people
(ratios as percent, durations, IEC bytes, decimal comma in Spanish).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from monitord.alerts.config import (
    Notification,
    NotificationStatus,
    RuleConfig,
    RuleKind,
    Severity,
    catalog,
    render,
    text,
)
from monitord.alerts.rules import Observation
from monitord.configtypes import Language, format_duration
from monitord.types import Target

__all__ = ["MAX_DEPENDENTS", "Composer", "dependents", "format_value"]

MAX_DEPENDENTS = 10


class Composer:
    """Builds texts and notifications in one language."""

    def __init__(self, language: Language, generator_url: str = "") -> None:
        self.language = language
        self.generator_url = generator_url

    def values(self, name: str, rule: RuleConfig | None, obs: Observation) -> dict[str, object]:
        """Template placeholders for one observation of rule `name`."""
        t = obs.target
        unit = rule.unit if rule is not None else "number"
        v: dict[str, object] = {
            **obs.labels,
            **obs.extra,
            "target": t.name,
            "site": t.site or "-",
            "address": t.address,
            "kind": t.kind.value,
            "alertname": name,
            "value": format_value(obs.value, unit, self.language),
            "threshold": format_value(obs.threshold, unit, self.language),
        }
        if rule is not None:
            v |= {
                "for": format_duration(rule.for_) if rule.for_ else "0s",
                "window": format_duration(rule.window),
                "horizon": format_duration(rule.horizon),
            }
        return v

    def templates(self, name: str, rule: RuleConfig | None) -> tuple[str, str]:
        """(summary, description) templates: the rule's own, the catalog's, or the kind's."""
        lang = self.language
        rules = catalog()["rules"]
        kind = rule.kind.value if rule is not None and rule.kind is not None else "threshold"
        base = rules.get(name) or rules[f"_{kind}"]
        summary = rule.summary.get(lang) if rule and rule.summary else base["summary"][lang.value]
        if rule and rule.description:
            return summary, rule.description.get(lang)
        return summary, base["description"][lang.value]

    def summary(self, name: str, rule: RuleConfig | None, obs: Observation) -> str:
        """The one-line text of an alert (event log messages)."""
        return render(self.templates(name, rule)[0], self.values(name, rule, obs))

    def alert(
        self,
        name: str,
        rule: RuleConfig | None,
        obs: Observation,
        severity: Severity,
        status: NotificationStatus,
        starts_at: float,
        now: float,
        repeat: bool = False,
        deps: Iterable[str] = (),
    ) -> Notification:
        """The notification of an alert; `deps` are targets that depend on a down target."""
        values = self.values(name, rule, obs)
        summary_t, desc_t = self.templates(name, rule)
        desc = render(desc_t, values)
        deps = list(deps)
        if deps and rule is not None and rule.kind is RuleKind.DOWN:
            more = " …" if len(deps) > MAX_DEPENDENTS else ""
            names = ", ".join(deps[:MAX_DEPENDENTS]) + more
            desc += "\n" + text(
                "dependents", self.language, count=len(deps), names=names, target=obs.target.name
            )
        labels = {**(rule.labels if rule else {}), **obs.labels}
        return self._notification(
            name, obs.target, labels, severity, status, starts_at, now,
            render(summary_t, values), desc, str(values["value"]), repeat,
        )  # fmt: skip

    def flapping_texts(
        self, rule_name: str, rule: RuleConfig | None, obs: Observation, changes: int, window: float
    ) -> tuple[str, str]:
        """(summary, description) of the `<rule>_flapping` alert."""
        entry = catalog()["rules"]["flapping"]
        v = {
            **self.values(rule_name, rule, obs),
            "rule": rule_name,
            "changes": changes,
            "window": format_duration(window),
        }
        lang = self.language.value
        return render(entry["summary"][lang], v), render(entry["description"][lang], v)

    def flapping(
        self,
        rule_name: str,
        rule: RuleConfig | None,
        obs: Observation,
        severity: Severity,
        status: NotificationStatus,
        starts_at: float,
        now: float,
        changes: int,
        window: float,
        repeat: bool = False,
    ) -> Notification:
        """The notification of the `<rule>_flapping` alert."""
        summary, desc = self.flapping_texts(rule_name, rule, obs, changes, window)
        labels = {**obs.labels, "rule": rule_name}
        return self._notification(
            f"{rule_name}_flapping", obs.target, labels, severity, status, starts_at, now,
            summary, desc, "", repeat,
        )  # fmt: skip

    def mute_text(self, reason: str) -> str:
        """`parent:sw-1` → "suppressed: parent sw-1 is down (cause)", in the language."""
        kind, _, arg = reason.partition(":")
        return text(f"muted_{kind}", self.language, name=arg)

    def _notification(
        self,
        name: str,
        target: Target,
        extra_labels: Mapping[str, str],
        severity: Severity,
        status: NotificationStatus,
        starts_at: float,
        now: float,
        summary: str,
        desc: str,
        value: str,
        repeat: bool,
    ) -> Notification:
        labels = {**extra_labels, "alertname": name, "target": target.name}
        labels["severity"] = severity.alert_label
        if target.site:
            labels["site"] = target.site
        labels = {k: str(v) for k, v in sorted(labels.items()) if v != ""}
        ident = "\x1f".join(f"{k}={v}" for k, v in labels.items() if k != "severity")
        fp = hashlib.sha256(ident.encode()).hexdigest()[:16]
        ends = now if status is NotificationStatus.RESOLVED else None
        return Notification(
            fp, name, target.name, severity, status, starts_at, ends, labels, summary, desc,
            self.language, target.site, value, self.generator_url, repeat,
        )  # fmt: skip


def dependents(name: str, targets: Iterable[Target]) -> list[str]:
    """Every target below `name` in the parent tree, sorted."""
    targets = list(targets)
    children: dict[str, list[str]] = {}
    for t in targets:
        if t.parent:
            children.setdefault(t.parent, []).append(t.name)
    out: list[str] = []
    todo = list(children.get(name, ()))
    while todo and len(out) < len(targets):
        c = todo.pop(0)
        out.append(c)
        todo.extend(children.get(c, ()))
    return sorted(out)


def format_value(value: float | None, unit: str, language: Language) -> str:
    """A value for people: ratios as percent, seconds as durations, bytes in IEC units."""
    if value is None:
        return "-"
    if value == float("inf"):
        return "∞"
    if unit == "ratio":
        s = f"{value * 100:.1f} %"
    elif unit == "seconds":
        s = f"{value * 1000:.0f} ms"
        for size, suffix in ((86400.0, " d"), (3600.0, " h"), (60.0, " min"), (1.0, " s")):
            if abs(value) >= size:
                s = f"{value / size:.1f}{suffix}"
                break
    elif unit in ("bytes", "bytes_per_second"):
        s, step = f"{value:.0f} B", 1.0
        for suffix in ("KiB", "MiB", "GiB", "TiB", "PiB"):
            step *= 1024
            if abs(value) >= step:
                s = f"{value / step:.1f} {suffix}"
        s += "/s" if unit == "bytes_per_second" else ""
    else:
        s = f"{value:g}"
    return s.replace(".", ",") if language is Language.ES else s
