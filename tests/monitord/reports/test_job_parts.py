"""The report job shares the parts of a large inventory PDF out among its worker processes.

A history of 130 devices (more than the 100 hojas de vida of one PDF file) written with
`write_batch`; `write_reports(jobs=2)` builds the inventory once and hands its PDF parts
to the worker processes: two PDF parts, each written once, the second holding exactly
the hojas de vida the first does not; the HTML and the CSV are written once.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

from exporters.reports.files import write_files
from monitord.history import Batch, PollAcc, write_batch
from monitord.history.db import History
from monitord.reports.job import write_reports
from monitord.reports.model import RECORDS_PER_PDF
from monitord.reports.period import Period
from monitord.types import Target, TargetKind
from tests.monitord.reports.month import TZ

OCT = Period(2026, 10, TZ)
DEVICES = 130


def _history(db: Path) -> list[str]:
    h = History(db)
    names = [f"sw-{i:03d}" for i in range(DEVICES)]
    start = datetime(2026, 10, 1, tzinfo=TZ).timestamp()
    b = Batch()
    b.targets = {n: (Target(n, "127.0.0.1", TargetKind.SWITCH, "centro"), start) for n in names}
    for n in names:
        for hr in range(24):
            b.polls[((n, "snmp", "poll", ""), int(start) + hr * 3600)] = PollAcc(60, 60, 60.0)
    write_batch(h, b, TZ, started=OCT.start, last=start + 86400)
    for k, n in enumerate(names):
        h.add_inventory(n, start + 60, {"vendor": "Cisco", "serial": f"FOC{k:07d}"})
    h.close()
    return names


def test_inventory_parts_are_shared_out_and_every_record_is_written_once(
    tmp_path: Path,
) -> None:
    assert DEVICES > RECORDS_PER_PDF
    db = tmp_path / "monitord.db"
    names = _history(db)
    out = tmp_path / "out"
    files = write_reports(
        db, OCT, out, render=write_files, kinds=["security", "inventory"],
        formats=("html", "pdf", "csv"), jobs=2,
    )  # fmt: skip
    counts = Counter(f.name for f in files)
    assert all(c == 1 for c in counts.values()), counts
    pdfs = sorted(f for f in files if f.suffix == ".pdf" and "inventario" in f.name)
    assert [p.name for p in pdfs] == ["2026-10_inventario_1-2.pdf", "2026-10_inventario_2-2.pdf"]
    assert sorted(f.name for f in files if f.suffix == ".html") == [
        "2026-10_inventario.html",
        "2026-10_seguridad.html",
    ]
    per_part = []
    for p in pdfs:
        text = subprocess.run(
            ["pdftotext", "-layout", str(p), "-"], capture_output=True, text=True, check=True
        ).stdout
        # the device names of the hojas de vida (their serial numbers, FOC + the index)
        per_part.append({f"sw-{int(s[3:]):03d}" for s in text.split() if s.startswith("FOC")})
    # part 1: the summary tables (every device) and the first 100 hojas; part 2: the rest
    assert per_part[0] == set(names)
    assert per_part[1] == set(names[RECORDS_PER_PDF:])
