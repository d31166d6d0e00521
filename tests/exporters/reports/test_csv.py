"""CSV per table: UTF-8 with BOM, ';' and decimal ',' for Excel es-CO; values parse back."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exporters.reports.csv import write_csv
from monitord.reports.common import ReportContext
from monitord.reports.job import build_report
from tests.monitord.reports.month import Month


def test_network_csv_files_for_excel_es_co(
    ctx: ReportContext, month: Month, tmp_path: Path
) -> None:
    paths = write_csv(build_report("network", ctx), tmp_path, "es")
    names = {p.name for p in paths}
    assert "2026-10_red_disponibilidad_por_dispositivo.csv" in names
    assert "2026-10_red_incidentes.csv" in names
    p = tmp_path / "2026-10_red_disponibilidad_por_dispositivo.csv"
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:5] == [
        "Dispositivo",
        "Sede",
        "Tipo",
        "Disponibilidad (%)",
        "Tiempo fuera (min)",
    ]
    sw1 = next(r for r in rows if r[0] == "sw-1")
    expected = (44640 - 120 - 130) / (44640 - 120) * 100
    assert float(sw1[3].replace(",", ".")) == pytest.approx(expected, abs=1e-4)
    assert sw1[4] == "130,00" and sw1[7] == "Verde"
    inc = list(
        csv.reader(
            (tmp_path / "2026-10_red_incidentes.csv").read_text("utf-8-sig").splitlines(),
            delimiter=";",
        )
    )
    assert inc[1][:3] == ["03/10/2026 10:00", "03/10/2026 10:10", "10,00"]
    wan = list(
        csv.reader(
            (tmp_path / "2026-10_red_canales_wan_e_internet.csv")
            .read_text("utf-8-sig")
            .splitlines(),
            delimiter=";",
        )
    )
    assert wan[0][3] == "Capacidad (b/s)" and wan[1][3] == "100000000"
    assert int(wan[1][4]) == round(month.wan_bytes_in / month.wan_secs * 8)


def test_inventory_csv_has_full_register_and_software_but_no_secrets(
    ctx: ReportContext, tmp_path: Path
) -> None:
    paths = write_csv(build_report("inventory", ctx), tmp_path, "es")
    names = {p.name for p in paths}
    assert {
        "2026-10_inventario_registro_de_activos.csv",
        "2026-10_inventario_software_instalado.csv",
    } <= names
    assert not any("hoja_de_vida" in n for n in names)  # per-device tables are not exported
    text = (tmp_path / "2026-10_inventario_software_instalado.csv").read_text("utf-8-sig")
    assert "srv-1;postgresql;15.4" in text
    assert all("hunter2" not in p.read_text("utf-8-sig") for p in paths)


def test_english_csv_uses_comma_and_point(ctx: ReportContext, tmp_path: Path) -> None:
    paths = write_csv(build_report("network", ctx), tmp_path, "en")
    p = next(p for p in paths if p.name.endswith("availability_by_device.csv"))
    rows = list(csv.reader(p.read_text("utf-8-sig").splitlines()))
    assert rows[0][3] == "Availability (%)"
    assert next(r for r in rows if r[0] == "sw-1")[4] == "130.00"
