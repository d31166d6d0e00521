"""Every PromQL expression of the Grafana dashboards and the Prometheus rules, run for real.

A real Prometheus scrapes a real daemon (tests/deploy/stack.py) with the rule files of
deploy/prometheus/rules loaded. Each dashboard query (and variable query) must run
without error or warning and return data, except the few listed in MAY_BE_EMPTY with
the reason. Recording rules must all return data. Alerting rules are conditions (empty
while nothing is wrong): they must run, every metric they read must exist (except
the ones in NOT_EMITTED_HERE), and target_down must fire for the one dead target,
exactly as monitord's own engine does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.stack import REPO, Stack

DASHBOARDS = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
RULE_FILES = sorted((REPO / "deploy/prometheus/rules").glob("*.yml"))

# Dashboard queries allowed to return nothing in the test stack, and why.
MAY_BE_EMPTY: dict[str, str] = {
    'monitord_database_replication_lag_seconds{target=~".*"}': "only replicas have it; the "
    "test database is a primary",
    "sum by (instance, notifier) (rate(monitord_notification_failures_total[5m]))": "the "
    "test webhook accepts every notification",
    "sum by (instance, collector, reason) (rate(monitord_samples_dropped_total[5m]))": "the "
    "test devices return no malformed values",
    # the device page's health panels: the stack's recordings carry no health MIBs
    # (tests/collectors/snmp/test_health.py and test_devices.py cover those series)
    'monitord_memory_pool_used_bytes{target=~".*"} / monitord_memory_pool_size_bytes'
    '{target=~".*"}': "no health MIBs in the stack",
    'monitord_memory_pool_used_ratio{target=~".*"}': "as above",
    'monitord_temperature_celsius{target=~".*"}': "as above",
    'monitord_fan_ok{target=~".*"}': "as above",
    'monitord_power_supply_ok{target=~".*"}': "as above",
    'monitord_printer_supply_level_ratio{target=~".*"}': "no printer in the stack",
}

# Metrics read by alerting rules that the test stack does not produce, and why.
NOT_EMITTED_HERE: dict[str, str] = {
    "monitord_backup_newest_age_seconds": "no agent with backup checks in the stack",
    "monitord_backup_max_age_seconds": "as above",
    "monitord_tls_cert_expiry_seconds": "no http target in the stack",
    "monitord_ups_on_battery": "no UPS in the stack",
    "monitord_temperature_celsius": "no device with health MIBs in the stack (tests/collectors/snmp)",
    "monitord_temperature_high_celsius": "as above",
    "monitord_fan_ok": "as above",
    "monitord_power_supply_ok": "as above",
    "monitord_printer_supply_level_ratio": "no printer in the stack",
    "monitord_notification_failures_total": "the webhook accepts everything",
    "monitord_notifications_dropped_total": "nothing is dropped",
    "monitord_device_recent_failed_logins": "no event receiver in the stack (tests of"
    " events: tests/monitord/test_events_daemon.py)",
    "monitord_device_unplanned_config_changes": "as above",
}


def _substitute(expr: str) -> str:
    """Grafana variables as the dashboards' "All" option sends them."""
    return expr.replace("$site", ".*").replace("$target", ".*")


def _variable_query(q: str) -> str:
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
    assert m, f"unsupported variable query {q!r}"
    return f"group by ({m.group(2)}) ({m.group(1)})"


def dashboard_queries() -> list[tuple[str, str]]:
    """(id, expr) of every panel target and variable of every dashboard."""
    out: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        for v in dash["templating"]["list"]:
            out.append((f"{path.stem}:var:{v['name']}", _variable_query(v["query"]["query"])))
        for p in dash["panels"]:
            for t in p.get("targets", []):
                out.append((f"{path.stem}:{p['title']}:{t['refId']}", _substitute(t["expr"])))
    return out


def rules(kind: str) -> list[tuple[str, str]]:
    """(name, expr) of every `record` or `alert` rule."""
    out = []
    for path in RULE_FILES:
        for g in yaml.safe_load(path.read_text())["groups"]:
            for r in g["rules"]:
                if kind in r:
                    out.append((f"{path.stem}:{r[kind]}", r["expr"]))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (identifiers before `{`, `[` or a non-call)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', '""', expr)  # drop string literals
    text = re.sub(r"\{[^}]*\}", "{}", text)
    names = set()
    for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or not (name.startswith("monitord") or name in ("up", "ALERTS")):
            continue
        names.add(name)
    return names


def test_there_is_something_to_check() -> None:
    assert len(DASHBOARDS) == 6, DASHBOARDS
    assert len(dashboard_queries()) >= 40
    assert len(rules("record")) >= 10 and len(rules("alert")) >= 20
    assert metric_names('rate(monitord_x_total{a="b"}[5m]) / on (t) monitord:y') == {
        "monitord_x_total",
        "monitord:y",
    }


def _check(stack: Stack, expr: str) -> list[dict[str, Any]]:
    return stack.query(expr)


def test_every_dashboard_query_runs_and_has_data(stack: Stack) -> None:
    queries = dashboard_queries()
    errors: list[str] = []
    empty: list[str] = []
    nonempty = 0
    for qid, expr in queries:
        try:
            result = stack.query(expr)
        except AssertionError as exc:
            errors.append(f"{qid}: {exc}")
            continue
        if result:
            nonempty += 1
        elif expr not in MAY_BE_EMPTY:
            empty.append(f"{qid}: {expr}")
    assert not errors, "\n".join(errors)
    assert not empty, "queries with no data:\n" + "\n".join(empty)
    assert set(MAY_BE_EMPTY) <= {e for _, e in queries}, "stale MAY_BE_EMPTY entries"
    print(f"dashboard queries: {len(queries)} run, {nonempty} with data")


def test_every_recording_rule_has_data(stack: Stack) -> None:
    recorded = rules("record")
    for name, expr in recorded:
        assert stack.query(expr), f"{name}: no data for\n{expr}"
        # and Prometheus itself evaluated it (the recorded series exists)
        assert stack.query(name.split(":", 1)[1]), f"{name}: not recorded by Prometheus"
    print(f"recording rules: {len(recorded)} run, all with data")


def test_every_alerting_rule_runs_on_existing_metrics(stack: Stack) -> None:
    checked = 0
    for name, expr in rules("alert"):
        stack.query(expr)  # raises with Prometheus' error text
        for metric in sorted(metric_names(expr) - set(NOT_EMITTED_HERE)):
            assert stack.query(f"count({{__name__={json.dumps(metric)}}})"), (
                f"{name} reads {metric}, which the stack does not produce"
            )
            checked += 1
    assert checked >= 20
    print(f"alerting rules: {len(rules('alert'))} run, {checked} metric inputs present")


def test_prometheus_target_down_matches_monitords_own(stack: Stack) -> None:
    prom = stack.query('ALERTS{alertname="target_down", alertstate="firing"}')
    own = stack.query('monitord_alert_active{alertname="target_down"} > 0')
    assert {a["metric"]["target"] for a in prom} == {"sw-dead"}
    assert {a["metric"]["target"] for a in own} == {"sw-dead"}
    assert prom[0]["metric"]["severity"] == own[0]["metric"]["severity"] == "critical"
    # every other target is up in the recording rule the overview reads
    up = {r["metric"]["target"]: r["value"][1] for r in stack.query("monitord:target_up")}
    assert up == {
        "sw-dead": "0",
        "sw-core": "1",
        "rt-recorded": "1",
        "gw-loopback": "1",
        "srv-local": "1",
        "db-local": "1",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_uses_the_provisioned_datasource(path: Path) -> None:
    dash = json.loads(path.read_text())
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
    assert uids == {"prometheus"}
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
