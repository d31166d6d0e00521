"""Observaciones y acciones de mejora: written for a month with `monitord report observe`,
shown in that month's report, open actions carried into the next months until closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitord.reports.model import Day, Msg
from monitord.reports.observations import actions_for, with_notes
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig
from tests.monitord.reports.month import TZ

OCT_NOTES = """
observations:
  all: ["Se cambió el proveedor del canal de internet el 14 de octubre."]
  network: ["El switch del piso 3 presentó fallas intermitentes."]
actions:
  - {id: AM-01, text: Reemplazar el switch del piso 3, responsible: Profesional de redes,
     due: 2026-11-30, reports: [network]}
  - {id: AM-02, text: Documentar el plan de copias, due: 2026-10-31}
"""
NOV_NOTES = """
actions:
  - {id: AM-02, text: Documentar el plan de copias, status: closed, closed_on: 2026-11-05}
"""


def _observe(tmp_path: Path, month: str, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(f"daemon: {{data_dir: {tmp_path / 'var'}}}\n")
    src = tmp_path / f"notes-{month}.yaml"
    src.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", "observe", "-c", str(cfg),
         "--month", month, "--file", str(src)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_observe_then_carry_forward_until_closed(tmp_path: Path) -> None:
    data = tmp_path / "var"
    res = _observe(tmp_path, "2026-10", OCT_NOTES)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == data / "observations" / "2026-10.yaml"
    assert _observe(tmp_path, "2026-11", NOV_NOTES).returncode == 0
    oct_, nov, dec = (Period(2026, m, TZ) for m in (10, 11, 12))
    cfg = with_notes(ReportsConfig(), data, oct_)
    assert cfg.observations["network"] == [
        "Se cambió el proveedor del canal de internet el 14 de octubre.",
        "El switch del piso 3 presentó fallas intermitentes.",
    ]
    assert cfg.observations["security"] == [
        "Se cambió el proveedor del canal de internet el 14 de octubre."
    ]
    assert [(a.id, a.status, a.since) for a in cfg.actions] == [
        ("AM-01", "open", "2026-10"),
        ("AM-02", "open", "2026-10"),
    ]
    # November: AM-01 still open (carried), AM-02 closed this month (shown closed)
    assert [(a.id, a.status, a.since) for a in actions_for(data, nov)] == [
        ("AM-01", "open", "2026-10"),
        ("AM-02", "closed", "2026-10"),
    ]
    # December: only the open one; no observations of its own
    dcfg = with_notes(ReportsConfig(), data, dec)
    assert [a.id for a in dcfg.actions] == ["AM-01"] and dcfg.observations == {}


def test_actions_table_in_the_report(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from monitord.reports.network import build_network
    from monitord.reports.security import build_security

    assert _observe(tmp_path, "2026-10", OCT_NOTES).returncode == 0
    cfg = with_notes(ctx.config, tmp_path / "var", ctx.period)
    net = build_network(replace(ctx, config=cfg))
    assert net.actions is not None
    assert net.actions.rows[0] == (
        "AM-01", "Reemplazar el switch del piso 3", "Profesional de redes",
        Day(Period(2026, 11, TZ).start_dt.date().replace(day=30)), "2026-10", Msg("actions.open"),
    )  # fmt: skip
    sec = build_security(replace(ctx, config=cfg))
    assert sec.actions is not None and [r[0] for r in sec.actions.rows] == ["AM-02"]


def test_a_bad_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    res = _observe(tmp_path, "2026-10", "observations: {redes: [x]}\n")
    assert res.returncode == 2
    assert "unknown report kind" in res.stderr and "redes" in res.stderr
