"""Build the Grafana dashboards in deploy/grafana/dashboards/ (JSON) from this file.

    python deploy/grafana/build_dashboards.py          # rewrite the JSON files
    python deploy/grafana/build_dashboards.py --check  # exit 1 when they are stale

The committed JSON is what Grafana provisions (provisioning/dashboards/monitord.yml);
tests/deploy/test_grafana.py checks it is up to date with this file and runs every
query below against a real Prometheus scraping a real daemon. Queries read the
recording rules of deploy/prometheus/rules/monitord-recording.yml where one exists.
Variables: `$site` (from monitord_target_info) and `$target`; "All" is the regex `.*`.
"""

# ruff: noqa: E501  (queries and descriptions read better on one line)
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "build", "main"]

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DS = {"type": "prometheus", "uid": "prometheus"}
SITE_JOIN = '* on (job, instance, target) group_left (site) monitord_target_info{site=~"$site"}'


def _var(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


SITE = _var("site", "label_values(monitord_target_info, site)", "Sede / Site")


def _target(metric: str) -> dict[str, Any]:
    return _var("target", f"label_values({metric}, target)", "Equipo / Target")


def _panel(
    title: str,
    kind: str,
    exprs: list[tuple[str, str]],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    instant: bool = False,
    thresholds: list[tuple[float | None, str]] | None = None,
) -> dict[str, Any]:
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}}
        if kind == "timeseries"
        else {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DS,
                "expr": expr,
                "legendFormat": legend,
                "instant": instant or kind in ("table", "stat", "bargauge"),
                "range": not (instant or kind in ("table", "stat", "bargauge")),
                **({"format": "table"} if kind == "table" else {}),
            }
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


RED_AT = lambda v: [(None, "green"), (v, "red")]  # noqa: E731


def _overview() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    up = 'monitord:target_up{site=~"$site"}'
    return [SITE], [
        _panel("Equipos arriba / Targets up", "stat", [(f"sum({up})", "up")], w=6, h=5),
        _panel(
            "Equipos caídos / Targets down",
            "stat",
            [(f"count({up} == 0) or vector(0)", "down")],
            w=6,
            h=5,
            thresholds=RED_AT(1),
        ),
        _panel(
            "Disponibilidad por sede / Up by site",
            "bargauge",
            [(f"sum by (site) ({up}) / count by (site) ({up})", "{{site}}")],
            unit="percentunit",
            w=12,
            h=5,
        ),
        _panel(
            "Equipos caídos / Targets down (list)",
            "table",
            [(f"{up} == 0", "")],
            description="Targets whose every reachability collector is down (monitord's target_down view).",
        ),
        _panel(
            "Alertas activas de monitord / Active alerts (monitord)",
            "table",
            [
                (
                    f"sum by (alertname, target, severity) (monitord_alert_active {SITE_JOIN})",
                    "",
                )
            ],
            description="Firing instances of monitord's own alert engine (muted ones included).",
        ),
        _panel(
            "Alertas activas en Prometheus / Active alerts (Prometheus rules)",
            "table",
            [('ALERTS{alertstate="firing"}', "")],
            description="Firing rules of deploy/prometheus/rules (monitord-alerts.yml only when enabled).",
        ),
        _panel(
            "Peor latencia / Worst latency (top 10)",
            "bargauge",
            [(f"topk(10, monitord_icmp_rtt_seconds {SITE_JOIN})", "{{target}}")],
            unit="s",
            thresholds=[(None, "green"), (0.15, "orange"), (0.2, "red")],
        ),
        _panel(
            "Peor pérdida / Worst packet loss (top 10)",
            "bargauge",
            [(f"topk(10, monitord_icmp_packet_loss_ratio {SITE_JOIN})", "{{target}}")],
            unit="percentunit",
            thresholds=[(None, "green"), (0.05, "orange"), (0.2, "red")],
        ),
        _panel(
            "Latencia / Latency (worst 5)",
            "timeseries",
            [(f"topk(5, monitord_icmp_rtt_seconds {SITE_JOIN})", "{{target}}")],
            unit="s",
            w=24,
        ),
    ]


def _network() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    t = 'target=~"$target"'
    return [SITE, _target("monitord_interface_oper_up")], [
        _panel(
            "Tráfico de entrada / Inbound traffic",
            "timeseries",
            [(f"monitord:interface_in_bytes:rate5m{{{t}}} * 8", "{{target}} {{ifname}}")],
            unit="bps",
        ),
        _panel(
            "Tráfico de salida / Outbound traffic",
            "timeseries",
            [(f"monitord:interface_out_bytes:rate5m{{{t}}} * 8", "{{target}} {{ifname}}")],
            unit="bps",
        ),
        _panel(
            "Utilización / Utilization",
            "timeseries",
            [
                (
                    f"monitord:interface_in_utilization:ratio_rate5m{{{t}}}",
                    "in {{target}} {{ifname}}",
                ),
                (
                    f"monitord:interface_out_utilization:ratio_rate5m{{{t}}}",
                    "out {{target}} {{ifname}}",
                ),
            ],
            unit="percentunit",
            description="Share of the link speed (ifHighSpeed) in use; interfaces with unknown speed are left out.",
        ),
        _panel(
            "Errores y descartes / Errors and discards",
            "timeseries",
            [
                (f"monitord:interface_errors:rate5m{{{t}}}", "errors {{target}} {{ifname}}"),
                (f"monitord:interface_discards:rate5m{{{t}}}", "discards {{target}} {{ifname}}"),
            ],
            unit="pps",
        ),
        _panel(
            "Mayores consumidores / Top talkers",
            "table",
            [
                (
                    "topk(10, (monitord:interface_in_bytes:rate5m + "
                    f"monitord:interface_out_bytes:rate5m) * 8 {SITE_JOIN})",
                    "",
                )
            ],
            unit="bps",
        ),
        _panel(
            "Interfaces habilitadas y caídas / Admin up, oper down",
            "table",
            [
                (
                    f"(monitord_interface_oper_up{{{t}}} == 0) and on (job, instance, target, ifindex)"
                    " (monitord_interface_admin_up == 1)",
                    "",
                )
            ],
        ),
        _panel(
            "Inventario de interfaces / Interfaces",
            "table",
            [(f"monitord_interface_info{{{t}}}", "")],
            w=24,
        ),
    ]


def _servers() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    t = 'target=~"$target"'
    return [SITE, _target("monitord_host_cpus")], [
        _panel(
            "CPU",
            "timeseries",
            [(f"monitord_host_cpu_utilization_ratio{{{t}}}", "{{target}}")],
            unit="percentunit",
        ),
        _panel(
            "Memoria usada / Memory used",
            "timeseries",
            [(f"monitord:host_memory_used:ratio{{{t}}}", "{{target}}")],
            unit="percentunit",
        ),
        _panel(
            "Carga / Load (1 min)",
            "timeseries",
            [(f"monitord_host_load1{{{t}}}", "{{target}}")],
        ),
        _panel(
            "Sistemas de archivos usados / Filesystems used",
            "bargauge",
            [(f"monitord:host_filesystem_used:ratio{{{t}}}", "{{target}} {{mountpoint}}")],
            unit="percentunit",
            thresholds=[(None, "green"), (0.85, "orange"), (0.9, "red")],
        ),
        _panel(
            "Días para llenarse / Days to full",
            "table",
            [(f"bottomk(10, monitord:host_filesystem_days_to_full:deriv6h{{{t}}})", "")],
            unit="d",
            description="Linear fit over 6 h; 3650 means not filling up.",
        ),
        _panel(
            "Disco: lectura y escritura / Disk I/O",
            "timeseries",
            [
                (
                    f"rate(monitord_host_disk_read_bytes_total{{{t}}}[5m])",
                    "read {{target}} {{device}}",
                ),
                (
                    f"rate(monitord_host_disk_written_bytes_total{{{t}}}[5m])",
                    "write {{target}} {{device}}",
                ),
            ],
            unit="Bps",
        ),
        _panel(
            "CPU de equipos SNMP / SNMP device CPU",
            "timeseries",
            [(f"avg by (target) (monitord_cpu_load_ratio{{{t}}})", "{{target}}")],
            unit="percentunit",
        ),
        _panel(
            "Encendido desde / Uptime",
            "table",
            [(f"monitord_host_uptime_seconds{{{t}}}", "")],
            unit="s",
        ),
    ]


def _databases() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    t = 'target=~"$target"'
    return [SITE, _target("monitord_database_info")], [
        _panel(
            "Bases arriba / Databases up",
            "stat",
            [(f'monitord_target_up{{collector=~"postgres|mysql|mssql|oracle",{t}}}', "{{target}}")],
            w=8,
            h=5,
            thresholds=[(None, "red"), (1, "green")],
        ),
        _panel(
            "Motor y versión / Engine and version",
            "table",
            [(f"monitord_database_info{{{t}}}", "")],
            w=16,
            h=5,
        ),
        _panel(
            "Tamaño / Size",
            "timeseries",
            [(f"monitord_database_size_bytes{{{t}}}", "{{target}} {{database}}")],
            unit="bytes",
        ),
        _panel(
            "Crecimiento por día / Growth per day",
            "bargauge",
            [(f"monitord:database_size_bytes:deriv6h_per_day{{{t}}}", "{{target}} {{database}}")],
            unit="bytes",
            description="Linear fit over the last 6 h, in bytes per day.",
        ),
        _panel(
            "Conexiones / Connections",
            "timeseries",
            [
                (f"monitord_database_connections{{{t}}}", "{{target}}"),
                (f"monitord_database_connections_max{{{t}}}", "max {{target}}"),
            ],
        ),
        _panel(
            "Conexiones usadas / Connections used",
            "bargauge",
            [(f"monitord:database_connections_used:ratio{{{t}}}", "{{target}}")],
            unit="percentunit",
            thresholds=[(None, "green"), (0.8, "orange"), (0.9, "red")],
        ),
        _panel(
            "Retraso de réplica / Replication lag",
            "timeseries",
            [(f"monitord_database_replication_lag_seconds{{{t}}}", "{{target}}")],
            unit="s",
            w=24,
            description="Only replicas have this series.",
        ),
    ]


def _self() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return [], [
        _panel(
            "Demonios arriba / Daemons scraped",
            "stat",
            [('up{job="monitord"}', "{{instance}}")],
            w=6,
            h=5,
            thresholds=[(None, "red"), (1, "green")],
        ),
        _panel(
            "Series", "stat", [("sum by (instance) (monitord_series)", "{{instance}}")], w=6, h=5
        ),
        _panel("Equipos / Targets", "stat", [("sum(monitord_targets)", "targets")], w=6, h=5),
        _panel(
            "Última evaluación de alertas / Alert engine last evaluation",
            "stat",
            [("time() - monitord_alert_last_evaluation_timestamp_seconds", "{{instance}}")],
            unit="s",
            w=6,
            h=5,
            thresholds=[(None, "green"), (60, "orange"), (300, "red")],
        ),
        _panel(
            "Sondeos por segundo / Polls per second",
            "timeseries",
            [("monitord:polls:rate5m", "{{instance}} {{collector}}")],
            unit="reqps",
        ),
        _panel(
            "Sondeos fallidos / Failed polls (share)",
            "timeseries",
            [("monitord:poll_errors:ratio_rate5m", "{{instance}} {{collector}}")],
            unit="percentunit",
        ),
        _panel(
            "Errores por causa / Errors by reason",
            "timeseries",
            [
                (
                    "sum by (instance, collector, reason) (rate(monitord_poll_errors_total[5m]))",
                    "{{instance}} {{collector}} {{reason}}",
                )
            ],
            unit="reqps",
        ),
        _panel(
            "Duración de sondeos / Poll duration (p95)",
            "timeseries",
            [("monitord:poll_duration_seconds:p95_5m", "{{instance}} {{collector}}")],
            unit="s",
        ),
        _panel(
            "Retraso del planificador / Scheduler lag (p95)",
            "timeseries",
            [("monitord:scheduler_lag_seconds:p95_5m", "{{instance}}")],
            unit="s",
        ),
        _panel(
            "Sondeos perdidos / Missed runs",
            "timeseries",
            [
                (
                    "sum by (instance, collector) (rate(monitord_scheduler_missed_runs_total[5m]))",
                    "{{instance}} {{collector}}",
                )
            ],
            unit="reqps",
            description="Polls not run because the previous run was still going: raise interval or shard.",
        ),
        _panel(
            "Sondeos en curso / Polls in flight",
            "timeseries",
            [("monitord_polls_in_flight", "{{instance}}")],
        ),
        _panel(
            "Duración del scrape / Scrape duration",
            "timeseries",
            [('scrape_duration_seconds{job="monitord"}', "{{instance}}")],
            unit="s",
        ),
        _panel(
            "Notificaciones / Notifications sent",
            "timeseries",
            [
                (
                    "sum by (instance, notifier) (rate(monitord_notifications_sent_total[5m]))",
                    "{{notifier}}",
                ),
                (
                    "sum by (instance, notifier) (rate(monitord_notification_failures_total[5m]))",
                    "failed {{notifier}}",
                ),
            ],
            unit="reqps",
        ),
        _panel(
            "Muestras descartadas / Samples dropped",
            "timeseries",
            [
                (
                    "sum by (instance, collector, reason) (rate(monitord_samples_dropped_total[5m]))",
                    "{{collector}} {{reason}}",
                )
            ],
            unit="reqps",
        ),
    ]


def _device() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One SNMP device: identity, health (CPU, memory, sensors, supplies), interfaces."""
    t = 'target=~"$target"'
    s = f"{{{t}}}"
    return [SITE, _target("monitord_device_info")], [
        _panel(
            "Identidad / Identity",
            "table",
            [(f"monitord_device_info{s}", "")],
            w=24,
            h=5,
            description="Vendor, OS, version, model and serial (monitord_device_info).",
        ),
        _panel(
            "CPU",
            "timeseries",
            [(f"monitord_cpu_load_ratio{s}", "{{target}} {{cpu}}")],
            unit="percentunit",
        ),
        _panel(
            "Memoria usada / Memory used",
            "timeseries",
            [
                (
                    f"monitord_memory_pool_used_bytes{s} / monitord_memory_pool_size_bytes{s}",
                    "{{target}} {{pool}}",
                ),
                (f"monitord_memory_pool_used_ratio{s}", "{{target}} {{pool}}"),
            ],
            unit="percentunit",
        ),
        _panel(
            "Temperaturas / Temperatures",
            "timeseries",
            [(f"monitord_temperature_celsius{s}", "{{target}} {{sensor}}")],
            unit="celsius",
        ),
        _panel(
            "Ventiladores y fuentes / Fans and power supplies (1 ok, 0 failed)",
            "table",
            [
                (f"monitord_fan_ok{s}", ""),
                (f"monitord_power_supply_ok{s}", ""),
            ],
        ),
        _panel(
            "Consumibles de impresora / Printer supplies",
            "bargauge",
            [(f"monitord_printer_supply_level_ratio{s}", "{{target}} {{supply}}")],
            unit="percentunit",
            thresholds=[(None, "red"), (0.1, "orange"), (0.2, "green")],
        ),
        _panel(
            "Tráfico de interfaces / Interface traffic (in)",
            "timeseries",
            [
                (
                    f"rate(monitord_interface_in_bytes_total{s}[5m]) * 8",
                    "{{target}} {{ifname}}",
                )
            ],
            unit="bps",
            w=24,
        ),
    ]


DASHBOARDS = {
    "monitord-overview": ("monitord — Resumen / Overview", _overview),
    "monitord-network": ("monitord — Red / Network", _network),
    "monitord-servers": ("monitord — Servidores / Servers", _servers),
    "monitord-databases": ("monitord — Bases de datos / Databases", _databases),
    "monitord-self": ("monitord — El propio monitord / monitord itself", _self),
    "monitord-device": ("monitord — Equipo / Device (SNMP)", _device),
}


def build(uid: str) -> dict[str, Any]:
    """The dashboard JSON model of `uid`."""
    title, make = DASHBOARDS[uid]
    variables, panels = make()
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x, row_h = x + w, max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "tags": ["monitord"],
        "timezone": "browser",
        "schemaVersion": 38,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["monitord"], "asDropdown": True, "title": "monitord"}
        ],
        "panels": panels,
    }


def render(uid: str) -> str:
    """The file text of dashboard `uid`."""
    return json.dumps(build(uid), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) every dashboard file."""
    stale = []
    for uid in DASHBOARDS:
        path = OUT / f"{uid}.json"
        text = render(uid)
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            OUT.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale dashboards (run python deploy/grafana/build_dashboards.py):", *stale)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
