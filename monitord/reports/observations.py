"""Observaciones y acciones de mejora: the office's own text for a month, and its actions
carried into the next months until closed.

One YAML file per month under the data directory, `<data_dir>/observations/YYYY-MM.yaml`,
written by hand or with `monitord report observe --month YYYY-MM --file F` (which checks it
and copies it there):

    observations:
      all: ["Se cambió el proveedor del canal de internet el 14 de octubre."]
      network: ["El switch del piso 3 presentó fallas intermitentes."]
    actions:
      - id: AM-2026-07
        text: Reemplazar el switch del piso 3
        responsible: Profesional de infraestructura
        due: 2026-11-30
        reports: [network]          # empty: every report
        status: open                # open | closed; a later month's file may close it
        closed_on: 2026-11-20

An action appears in the report of the month it was written and in every later month's
report while open; the month that closes it shows it closed, the next ones no longer do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from pydantic import ValidationError, field_validator

from monitord.configtypes import StrictModel
from monitord.errors import ConfigError
from monitord.reports.period import Period
from monitord.reports.settings import ALL_KINDS, Action, ReportsConfig

__all__ = [
    "MonthNotes",
    "actions_for",
    "load_month",
    "notes_path",
    "observe",
    "with_notes",
]


class MonthNotes(StrictModel):
    """One month's file."""

    observations: dict[str, list[str]] = {}  # report kind, or "all"
    actions: list[Action] = []

    @field_validator("observations")
    @classmethod
    def _kinds(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - {*ALL_KINDS, "all"})
        if unknown:
            raise ValueError(
                f"unknown report kind(s) {unknown} (known: all, {', '.join(ALL_KINDS)})"
            )
        return v


def notes_path(data_dir: Path, label: str) -> Path:
    """`<data_dir>/observations/YYYY-MM.yaml`."""
    return data_dir / "observations" / f"{label}.yaml"


def load_month(path: Path) -> MonthNotes:
    """Read and check one month's file; ConfigError with the file and the problem."""
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        return MonthNotes.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {where}") from None


def actions_for(data_dir: Path, period: Period) -> list[Action]:
    """This month's actions and the open ones carried from earlier months, in order.

    The newest version of an action (the latest file up to this month) decides: open, it
    is shown; closed this month (by `closed_on`, or by this month's file), it is shown
    closed; closed earlier, it is gone.
    """
    folder = data_dir / "observations"
    if not folder.is_dir():
        return []
    latest: dict[str, tuple[Action, str]] = {}
    first: dict[str, str] = {}
    for path in sorted(folder.glob("????-??.yaml")):
        label = path.stem
        if label > period.label:
            break
        for a in load_month(path).actions:
            first.setdefault(a.id, label)
            latest[a.id] = (a, label)
    out = []
    for aid, (a, label) in latest.items():
        if a.status == "closed":
            closed_now = (
                a.closed_on >= period.start_dt.date()
                if a.closed_on is not None
                else label == period.label
            )
            if not closed_now:
                continue
        out.append(a.model_copy(update={"since": first[aid]}))
    return out


def with_notes(config: ReportsConfig, data_dir: Path, period: Period) -> ReportsConfig:
    """`config` with the month's observations and actions from the data directory."""
    path = notes_path(data_dir, period.label)
    obs = {k: list(v) for k, v in config.observations.items()}
    if path.exists():
        for kind, texts in load_month(path).observations.items():
            kinds = ALL_KINDS if kind == "all" else (kind,)
            for k in kinds:
                obs.setdefault(k, []).extend(texts)
    actions = actions_for(data_dir, period)
    if not actions and obs == config.observations:
        return config
    return config.model_copy(update={"observations": obs, "actions": actions})


def observe(data_dir: Path, label: str, source: Path) -> Path:
    """Check `source` and store it as the month's file; return where it went."""
    load_month(source)
    target = notes_path(data_dir, label)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
