"""The largest tables of real database servers reach the servers report (HTML, PDF, CSV).

PostgreSQL and MariaDB on loopback (tests/peers): tables of known size are created, the
daemon's `history-tables` job (`HistoryService.fetch_table_sizes`, through the
`FetchesTableSizes` capability of the postgres and mysql collectors) lists them on 1
October; the largest table then grows and the job lists them again on 31 October. The
servers report of October shows each table with the size the server itself states
(pg_total_relation_size, information_schema DATA_LENGTH + INDEX_LENGTH) at the last
reading, and the growth since the first.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from collectors import mysql, postgres
from exporters.reports.files import write_files
from exporters.reports.text import Formatter
from monitord.config import parse_config_text
from monitord.history.service import HistoryService
from monitord.reports.job import write_reports
from monitord.reports.model import Bytes
from monitord.reports.period import Period
from monitord.state import State
from monitord.types import Shared
from tests.conftest import FakeClock
from tests.peers.mariadb import MariaDbServer
from tests.peers.mariadb import any_server as any_mariadb
from tests.peers.mariadb import scratch_database as my_scratch
from tests.peers.postgres import PgServer
from tests.peers.postgres import any_server as any_postgres
from tests.peers.postgres import scratch_database as pg_scratch

pytestmark = pytest.mark.peer

TZ = "America/Bogota"
OCT = Period.parse("2026-10", TZ)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with any_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def my() -> Iterator[MariaDbServer]:
    with any_mariadb() as server:
        yield server


@pytest.fixture
def pg_db(pg: PgServer) -> Iterator[str]:
    with pg_scratch(pg) as name:
        yield name


@pytest.fixture
def my_db(my: MariaDbServer) -> Iterator[str]:
    with my_scratch(my) as name:
        yield name


def _pg_fill(pg: PgServer, db: str, table: str, first: int, last: int) -> None:
    pg.execute(
        f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(%s::int, %s::int) g",
        (first, last),
        dbname=db,
    )
    pg.execute(f"ANALYZE {table}", dbname=db)


def _my_fill(my: MariaDbServer, db: str, table: str, first: int, last: int) -> None:
    my.execute(
        f"INSERT INTO `{db}`.`{table}` SELECT seq, REPEAT(MD5(seq), 3) "
        f"FROM `{db}`.seq_{first}_to_{last}"
    )
    my.execute(f"ANALYZE TABLE `{db}`.`{table}`")


def _pg_sizes(pg: PgServer, db: str) -> dict[str, int]:
    rows = pg.execute(
        "SELECT schemaname || '.' || relname, pg_total_relation_size(relid) "
        "FROM pg_stat_user_tables",
        dbname=db,
    )
    return {str(t): int(b) for t, b in rows}


def _my_sizes(my: MariaDbServer, db: str) -> dict[str, int]:
    rows = my.execute(
        "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s",
        (db,),
    )
    return {str(t): int(b) for t, b in rows}


def test_largest_tables_of_postgres_and_mariadb_in_the_servers_report(
    tmp_path: Path, pg: PgServer, my: MariaDbServer, pg_db: str, my_db: str
) -> None:
    pg.execute("CREATE SCHEMA gis", dbname=pg_db)
    for table, rows in (("gis.parcels", 30_000), ("public.small", 500)):
        pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body text)", dbname=pg_db)
        _pg_fill(pg, pg_db, table, 1, rows)
    for table, rows in (("ledger", 20_000), ("tiny", 100)):
        my.execute(
            f"CREATE TABLE `{my_db}`.`{table}` (id INT PRIMARY KEY, body VARCHAR(200)) "
            "ENGINE=InnoDB"
        )
        _my_fill(my, my_db, table, 1, rows)
    my_auth = f"user: {my.user}" + (f", password: {my.password}" if my.password else "")
    text = f"""
daemon: {{data_dir: "{tmp_path / "var"}", timezone: {TZ}}}
targets:
  - name: db-pg
    address: {pg.host}
    kind: database
    collectors:
      postgres: {{port: {pg.port}, user: {pg.superuser}, databases: [{pg_db}], top_tables: 5}}
  - name: db-my
    address: 127.0.0.1
    kind: database
    collectors:
      mysql: {{host: 127.0.0.1, port: {my.port}, {my_auth}, databases: [{my_db}]}}
"""
    env = {"PGPASSWORD": pg.password} if pg.password else {}
    registry = {"postgres": postgres.build, "mysql": mysql.build}
    shared = Shared()
    cfg = parse_config_text(text, "t.yaml", registry, shared, env)
    clock = FakeClock(wall=datetime.fromisoformat("2026-10-01T10:00:00-05:00").timestamp())
    hist = HistoryService(cfg, State(clock).snapshot, clock)  # type: ignore[arg-type]
    import asyncio

    async def fetch() -> int:
        return await hist.fetch_table_sizes()

    try:
        assert asyncio.run(fetch()) == 2  # both servers listed on 1 October
        pg_first, my_first = _pg_sizes(pg, pg_db), _my_sizes(my, my_db)
        clock.advance(600)
        assert asyncio.run(fetch()) == 0  # not due again before `tables_every` (a day)
        _pg_fill(pg, pg_db, "gis.parcels", 30_001, 60_000)  # the month's growth
        _my_fill(my, my_db, "ledger", 20_001, 50_000)
        clock.advance(30 * 86400 - 600)  # 31 October, 10:00
        assert asyncio.run(fetch()) == 2
        pg_last, my_last = _pg_sizes(pg, pg_db), _my_sizes(my, my_db)
    finally:
        hist.history.close()
        asyncio.run(shared.aclose())
    assert pg_last["gis.parcels"] > pg_first["gis.parcels"]
    assert my_last["ledger"] > my_first["ledger"]

    out = tmp_path / "reports"
    files = write_reports(
        hist.settings.db, OCT, out, render=write_files, kinds=["servers"], lang="es",
        config=cfg.reports,
    )  # fmt: skip
    # CSV: every table, exact bytes at the first and last reading, growth
    (table_csv,) = [f for f in files if f.name.endswith("_tablas_mas_grandes.csv")]
    with table_csv.open(encoding="utf-8-sig") as f:
        rows = {(r["Servidor"], r["Tabla"]): r for r in csv.DictReader(f, delimiter=";")}
    expected = {
        ("db-pg", "gis.parcels"): (pg_first["gis.parcels"], pg_last["gis.parcels"]),
        ("db-pg", "public.small"): (pg_first["public.small"], pg_last["public.small"]),
        ("db-my", "ledger"): (my_first["ledger"], my_last["ledger"]),
        ("db-my", "tiny"): (my_first["tiny"], my_last["tiny"]),
    }
    assert set(rows) == set(expected)
    for key, (first, last) in expected.items():
        r = rows[key]
        assert r["Base de datos"] == (pg_db if key[0] == "db-pg" else my_db)
        assert int(r["Tamaño inicial (B)"]) == first, key
        assert int(r["Tamaño final (B)"]) == last, key
        assert int(r["Crecimiento (B)"]) == last - first, key
    growth = (pg_last["gis.parcels"] - pg_first["gis.parcels"]) / pg_first["gis.parcels"]
    assert float(rows[("db-pg", "gis.parcels")]["Crecimiento (%)"].replace(",", ".")) == (
        pytest.approx(growth * 100, abs=0.01)
    )
    # HTML and PDF: the same tables with their sizes as the document prints them
    es = Formatter("es", TZ)
    html = next(f for f in files if f.suffix == ".html").read_text("utf-8")
    pdf = next(f for f in files if f.suffix == ".pdf")
    pdf_text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Tablas más grandes" in html and "Tablas más grandes" in pdf_text
    for (server, table), (_, last) in expected.items():
        size = es.text(Bytes(last))  # "5,5\u00a0MB": number and unit joined by a no-break space
        # pdftotext renders that space as a space, a no-break space or nothing (narrow cell)
        bare = size.replace("\u00a0", "")
        line = next(
            (
                ln
                for ln in pdf_text.splitlines()
                if server in ln
                and table in ln
                and bare in ln.replace(" ", "").replace("\u00a0", "")
            ),
            None,
        )
        assert line is not None, (server, table, size)
        assert size in html
