"""One severity vocabulary (monitord.types.Severity) for alerts, findings, rules and the
reports, with the former alert word accepted and alerts leaving with their usual words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from monitord.alerts.config import AlertsConfig
from monitord.alerts.dispatch import wants
from monitord.types import Severity

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("word", "expected", "label"),
    [
        ("critical", Severity.CRITICAL, "critical"),
        ("high", Severity.HIGH, "warning"),
        ("medium", Severity.MEDIUM, "warning"),
        ("warning", Severity.MEDIUM, "warning"),  # the former alert word
        (" Warning ", Severity.MEDIUM, "warning"),
        ("low", Severity.LOW, "info"),
        ("info", Severity.INFO, "info"),
    ],
    ids=["critical", "high", "medium", "warning", "warning-spaced", "low", "info"],
)
def test_words_map_to_the_vocabulary_and_back_to_the_alert_word(
    word: str, expected: Severity, label: str
) -> None:
    assert Severity.parse(word) is expected
    assert expected.alert_label == label


def test_rank_orders_most_urgent_first() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert sorted(["low", "critical", "info", "medium", "high"], key=lambda w: Severity(w).rank) == [
        "critical", "high", "medium", "low", "info",
    ]  # fmt: skip


def test_an_unknown_word_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="unknown severity 'urgent'") as err:
        Severity.parse("urgent")
    assert "critical, high, medium, low, info, warning" in str(err.value)
    with pytest.raises(ValidationError, match="unknown severity 'urgent'"):
        AlertsConfig.model_validate({"rules": {"target_down": {"severity": "urgent"}}})


def test_rules_and_notifiers_take_old_and_new_words() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "rules": {
                "target_down": {"severity": "warning"},
                "cpu_high": {"severity": "high"},
            },
            "notify": [
                {"webhook": {"url": "http://127.0.0.1:9/a", "severities": ["warning"]}},
                {"webhook": {"url": "http://127.0.0.1:9/b", "severities": ["critical"]}},
            ],
        }
    )
    down, cpu = cfg.rules["target_down"], cfg.rules["cpu_high"]
    assert down is not None and down.severity is Severity.MEDIUM
    assert cpu is not None and cpu.severity is Severity.HIGH
    warn, crit = (c for _, c in cfg.notifiers())
    assert warn.severities == [Severity.MEDIUM] and crit.severities == [Severity.CRITICAL]
    # the filter is by the alert's word: [warning] takes high and medium, not critical
    assert wants(warn.severities, Severity.HIGH) and wants(warn.severities, Severity.MEDIUM)
    assert not wants(warn.severities, Severity.CRITICAL)
    assert wants(crit.severities, Severity.CRITICAL) and not wants(crit.severities, Severity.HIGH)
    assert wants([], Severity.INFO)


def test_built_in_rules_and_findings_speak_the_vocabulary() -> None:
    from monitord.findings import CHECKS

    rules = yaml.safe_load((REPO / "monitord/alerts/rules.yaml").read_text("utf-8"))
    for name, r in rules.items():
        assert Severity.parse(r.get("severity", "medium")) in set(Severity), name
    assert {info.severity for info in CHECKS.values()} <= set(Severity)
    # the reports label every value from both catalogues
    for lang in ("es", "en"):
        cat = yaml.safe_load((REPO / f"exporters/reports/messages/{lang}.yaml").read_text("utf-8"))
        assert set(cat["severity"]) == {s.value for s in Severity}, lang
