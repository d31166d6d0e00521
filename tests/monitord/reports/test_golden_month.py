"""The golden month (golden_month.py) through `monitord report`: all five reports in HTML,
PDF and CSV, every figure against a hand computation written here; no word broken and no
table past the right margin in any PDF.

Arithmetic basics used below: October has 31 x 1440 = 44 640 minutes (ICMP polls, one a
minute, per target); 31 x 288 = 8 928 five-minute readings, whose first is the counters'
base, so 8 927 increases; 31 x 24 = 744 hourly polls; the findings job ran every 6 h:
31 x 4 = 124 runs, the last on 31 Oct 18:00:17.
"""

from __future__ import annotations

import csv
import html as htmlmod
import html.parser
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from monitord.cli import main
from tests.monitord.reports.golden_month import GoldenMonth, build_golden_month

A4_WIDTH_PT = 595.28
RIGHT_MARGIN_PT = 15 / 25.4 * 72
STEMS = ("red", "servidores", "seguridad", "inventario", "indicadores")


@pytest.fixture(scope="module")
def gm(tmp_path_factory: pytest.TempPathFactory) -> GoldenMonth:
    return build_golden_month(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def out(gm: GoldenMonth) -> Path:
    """`monitord report` for October, all kinds and formats, Spanish (the config's)."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read the PDFs back")
    base = gm.data_dir / "out"
    rc = main(["report", "-c", str(gm.config), "--month", "2026-10", "--out", str(base),
               "--jobs", "2"])  # fmt: skip
    assert rc == 0
    return base / "2026-10"


# --- readers -----------------------------------------------------------------------


def read_csv(out: Path, name: str) -> list[list[str]]:
    """Rows of `csv/2026-10_<name>.csv` (header first)."""
    with (out / "csv" / f"2026-10_{name}.csv").open(encoding="utf-8-sig", newline="") as f:
        return [row for row in csv.reader(f, delimiter=";")]


class _Tables(html.parser.HTMLParser):
    """The HTML's data tables in order, as (title, rows); a table's continued chunks
    (class "cont", after a page's worth of rows) are merged into it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._title = ""
        self._h4: str | None = None
        self._rows: list[list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: str | None = None
        self._head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "h4" and "tt" in cls:
            self._h4 = ""
        elif tag == "table" and "data" in cls:
            if "cont" not in cls.split():
                self.tables.append((self._title, []))
            self._rows = self.tables[-1][1]
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self._rows is not None and not self._head:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h4" and self._h4 is not None:
            self._title, self._h4 = " ".join(self._h4.split()), None
        elif tag == "thead":
            self._head = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(" ".join(self._cell.replace("\u2060", "").split()))
            self._cell = None
        elif tag == "tr" and self._rows is not None and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._h4 is not None:
            self._h4 += data
        if self._cell is not None:
            self._cell += data


def _cell(cell: str) -> str:
    """A cell as a pattern: its words in order; the text may glue a right-aligned "6 h"."""
    return r"\s*".join(re.escape(w) for w in cell.split())


def html_list(out: Path, stem: str) -> list[tuple[str, list[list[str]]]]:
    """The report's HTML tables in document order."""
    p = _Tables()
    p.feed((out / f"2026-10_{stem}.html").read_text(encoding="utf-8"))
    return p.tables


def html_tables(out: Path, stem: str) -> dict[str, list[list[str]]]:
    """The report's HTML tables by title (the first of a title)."""
    out_: dict[str, list[list[str]]] = {}
    for title, rows in html_list(out, stem):
        out_.setdefault(title, rows)
    return out_


def assert_pdf_rows(out: Path, stem: str, rows: list[list[str]]) -> None:
    """Each row is one line of the PDF's `pdftotext -layout` text, its cells in order
    (rows whose cells do not wrap)."""
    lines = [
        " ".join(ln.replace("\u2060", "").split())
        for p in sorted(out.glob(f"2026-10_{stem}*.pdf"))
        for ln in pdf_text(p, "-layout").splitlines()
    ]
    for row in rows:
        assert any(
            re.search(r"(?<!\S)" + r"\s+".join(_cell(c) for c in row) + r"(?!\S)", ln)
            for ln in lines
        ), f"{stem}: no line of the PDF reads {row}"


def pdf_text(pdf: Path, *extra: str) -> str:
    return subprocess.run(
        ["pdftotext", *extra, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def flat(text: str) -> str:
    return " ".join(text.replace("\u2060", "").split())


def assert_pdf_words(out: Path, stem: str) -> None:
    """Every word of every HTML table cell is a whole word of the PDF; nothing past the
    right margin; no hyphenation."""
    pdfs = sorted(out.glob(f"2026-10_{stem}*.pdf"))
    assert pdfs
    # every word of every cell, as often as the tables hold it (a wrapped cell's lines may
    # interleave with its neighbours' in the text, so words, not whole cells)
    words: Counter[str] = Counter(
        w for _t, rows in html_list(out, stem) for row in rows for cell in row for w in cell.split()
    )
    assert sum(words.values()) > 50
    # the words as the PDF places them (-bbox: split where the glyphs are apart; the plain
    # text glues a right-aligned "6 h" into "6h")
    found: Counter[str] = Counter()
    for p in pdfs:
        found.update(
            htmlmod.unescape(w).replace("\u2060", "")
            for w in re.findall(r"<word [^>]*>([^<]*)</word>", pdf_text(p, "-bbox"))
        )
    missing = {w: (found[w], n) for w, n in words.items() if found[w] < n}
    assert not missing, f"{stem}: words broken or missing in the PDF (found, wanted): {missing}"
    for p in pdfs:
        bbox = pdf_text(p, "-bbox")
        right = [float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox)]
        assert right and max(right) <= A4_WIDTH_PT - RIGHT_MARGIN_PT + 1.0, p.name
        assert "\u2010" not in bbox and "\u00ad" not in bbox


# --- network -----------------------------------------------------------------------


def test_network_availability_incidents_and_alerts(out: Path) -> None:
    # core-rtr: 20 of 44 640 minutes down -> 44 620 / 44 640 = 0.999551971 -> 99,9552
    # sw-1: the 120-minute window is out of its monitored time (44 640 - 120 = 44 520);
    #   down outside it 10 + 90 = 100 min (the 60 inside do not count):
    #   44 420 / 44 520 = 0.997753818 -> 99,7754; incidents 2 (the 20 Oct one is maintenance)
    # sw-2: 15 min while its parent was down: counted in its own availability (what its
    #   users saw; availability.py) but not as its incident: 44 625 / 44 640 = 0.999663978
    # fw-1 (tcp, hourly) and win-gw (snmp) never failed: 100
    assert read_csv(out, "red_disponibilidad_por_dispositivo")[1:] == [
        ["core-rtr", "centro", "Enrutador", "99,9552", "20,00", "1", "todo el mes", "100,00", "100,00", "Verde"],
        ["fw-1", "centro", "Firewall", "100,0000", "0,00", "0", "todo el mes", "100,00", "100,00", "Verde"],
        ["sw-1", "centro", "Switch", "99,7754", "100,00", "2", "todo el mes", "100,00", "100,00", "Verde"],
        ["sw-2", "norte", "Switch", "99,9664", "15,00", "0", "todo el mes", "100,00", "100,00", "Verde"],
        ["win-gw", "norte", "Enrutador", "100,0000", "0,00", "0", "todo el mes", "100,00", "100,00", "Verde"],
    ]  # fmt: skip
    # per site, the mean of its devices: centro (0.999551971 + 1 + 0.997753818) / 3 =
    # 0.999101930 -> 99,9102; norte (0.999663978 + 1) / 2 = 0.999831989 -> 99,9832
    assert read_csv(out, "red_disponibilidad_por_sede")[1:] == [
        ["centro", "3", "99,9102", "Verde"],
        ["norte", "2", "99,9832", "Verde"],
    ]
    # incidents to the second (polls at :17); alerts delivered per incident: 3 Oct by
    # e-mail and webhook = 2 (the webhook's resend is the same notification, "resolved" is
    # no alert); 25 Oct's never left (SMTP down): 0, listed as undelivered
    assert read_csv(out, "red_incidentes")[1:] == [
        ["03/10/2026 10:00:17", "03/10/2026 10:10:17", "10,00", "sw-1", "centro", "Falla propia", "2", "No"],
        ["08/10/2026 09:00:17", "08/10/2026 09:20:17", "20,00", "core-rtr", "centro", "Falla propia", "0", "No"],
        ["08/10/2026 09:01:17", "08/10/2026 09:16:17", "15,00", "sw-2", "norte", "Afectado por core-rtr", "0", "No"],
        ["20/10/2026 01:00:17", "20/10/2026 02:00:17", "60,00", "sw-1", "centro", "Falla propia", "0", "Sí"],
        ["25/10/2026 02:00:17", "25/10/2026 03:30:17", "90,00", "sw-1", "centro", "Falla propia", "0", "No"],
    ]  # fmt: skip
    assert read_csv(out, "red_notificaciones_de_alerta_no_entregadas")[1:] == [
        ["25/10/2026 02:02:17", "sw-1", "TargetDown", "correo",
         "destino no disponible: reintentos agotados", "25/10/2026 02:02:18"],
    ]  # fmt: skip
    assert read_csv(out, "red_ventanas_de_mantenimiento")[1:] == [
        ["20/10/2026 00:30:00", "20/10/2026 02:30:00", "120,00", "Cambio de UPS", "sw-1", "—"]
    ]  # the configured window names no author (a silence names who declared it)
    # loss = failed polls / 44 640: core-rtr 20 -> 0,045 %; sw-1 10 + 60 + 90 = 160 ->
    # 0,358 %; sw-2 15 -> 0,034 %; RTT a constant 2 ms
    assert read_csv(out, "red_latencia_y_perdida")[1:] == [
        ["core-rtr", "2,00", "2,00", "2,00", "0,045", "0,000", "100,000"],
        ["sw-1", "2,00", "2,00", "2,00", "0,358", "0,000", "100,000"],
        ["sw-2", "2,00", "2,00", "2,00", "0,034", "0,000", "100,000"],
    ]
    # completeness: 3 ICMP targets x 44 640; 2 SNMP targets x 8 928; fw-1 744 hourly; all
    # monitored the whole month, so the month's figure equals the one since they began
    assert read_csv(out, "red_completitud_por_recolector")[1:] == [
        ["icmp", "133920", "133920", "100,000", "100,000"],
        ["snmp", "17856", "17856", "100,000", "100,000"],
        ["tcp", "744", "744", "100,000", "100,000"],
    ]
    assert read_csv(out, "red_intervalos_sin_monitoreo")[1:] == []
    h = html_tables(out, "red")
    assert h["Disponibilidad por dispositivo"][0][3:6] == ["99,955 %", "20 min", "1"]
    assert h["Disponibilidad por dispositivo"][2][3:6] == ["99,775 %", "1 h 40 min", "2"]
    assert [r[:3] for r in h["Incidentes"]] == [
        ["03/10/2026 10:00:17", "03/10/2026 10:10:17", "10 min"],
        ["08/10/2026 09:00:17", "08/10/2026 09:20:17", "20 min"],
        ["08/10/2026 09:01:17", "08/10/2026 09:16:17", "15 min"],
        ["20/10/2026 01:00:17", "20/10/2026 02:00:17", "1 h"],
        ["25/10/2026 02:00:17", "25/10/2026 03:30:17", "1 h 30 min"],
    ]
    assert [r[6] for r in h["Incidentes"]] == ["2", "0", "0", "0", "0"]
    assert_pdf_rows(out, "red", [
        ["core-rtr", "centro", "Enrutador", "99,955 %", "20 min", "1", "todo el mes"],
        ["sw-1", "centro", "Switch", "99,775 %", "1 h 40 min", "2", "todo el mes"],
        ["sw-2", "norte", "Switch", "99,966 %", "15 min", "0", "todo el mes"],
        ["centro", "3", "99,910 %"],
        ["norte", "2", "99,983 %"],
        ["core-rtr", "2,00 ms", "2,00 ms", "2,00 ms", "0,04 %", "0,00 %", "100,00 %"],
        ["sw-1", "2,00 ms", "2,00 ms", "2,00 ms", "0,36 %", "0,00 %", "100,00 %"],
    ])  # fmt: skip


def test_network_wan_against_contracted_bandwidth(out: Path) -> None:
    # wan0: 8 927 five-minute increases; a slot is busy (2 MB/s in) when its reading falls
    # 08:00-17:59 local: 10 h x 12 = 120 a day, 31 x 120 = 3 720; quiet (0.5 MB/s) the
    # other 8 927 - 3 720 = 5 207. In = 3 720 x 2e6 x 300 + 5 207 x 0.5e6 x 300 =
    # 2.232e12 + 0.78105e12 = 3 013 050 000 000 B over 8 927 x 300 = 2 678 100 s:
    # mean 1 125 070 B/s = 9 000 560 b/s; out half: 4 500 280 b/s. Peaks 16 / 8 Mb/s.
    # p95 by nearest rank: 5 207 of 8 927 (58 %) are quiet, so p95 is the busy rate,
    # 16 Mb/s in, 8 Mb/s out. Contracted 20 Mb/s (ETB): 16 / 20 = 80,00 % (the worst).
    assert read_csv(out, "red_canales_wan_e_internet")[1:] == [
        ["core-rtr", "wan0", "Canal internet ISP", "ETB", "20000000", "contratada", "9000560",
         "16000000", "4500280", "8000000", "16000000", "8000000", "80,00"],
    ]  # fmt: skip
    # 80 % of the contracted bandwidth reaches the 80 % warning (16 % of the 100 Mb/s port
    # would not)
    assert read_csv(out, "red_advertencias_de_capacidad")[1:] == [
        ["core-rtr", "wan0", "80,00",
         "Percentil 95 de tasas de 5 minutos frente a la capacidad contratada"],
    ]  # fmt: skip
    # top utilization against the port: wan0 1 125 070 / 12.5e6 = 9,00 %, peak 2e6 /
    # 12.5e6 = 16,00 %; out 3 013 050 000 000 / 2 = 1 506 525 000 000 B. The two "WAN
    # Miniport (IP)" of win-gw stay two rows: 8 927 x 300 x 3 000 = 8 034 300 000 B
    # (ifIndex 11) and x 1 000 = 2 678 100 000 B (ifIndex 10); 3 000 / 125e6 = 0,00 %
    assert read_csv(out, "red_interfaces_de_mayor_utilizacion")[1:] == [
        ["core-rtr", "wan0", "Canal internet ISP", "100000000", "9,00", "16,00",
         "3013050000000", "1506525000000"],
        ["win-gw", "WAN Miniport (IP) (ifIndex 11)", "—", "1000000000", "0,00", "0,00",
         "8034300000", "0"],
        ["win-gw", "WAN Miniport (IP) (ifIndex 10)", "—", "1000000000", "0,00", "0,00",
         "2678100000", "0"],
    ]  # fmt: skip
    # growth: in + out this month, no September traffic to compare with
    assert read_csv(out, "red_crecimiento_del_trafico")[1:] == [
        ["core-rtr", "wan0", "", "4519575000000", ""],
        ["win-gw", "WAN Miniport (IP) (ifIndex 11)", "", "8034300000", ""],
        ["win-gw", "WAN Miniport (IP) (ifIndex 10)", "", "2678100000", ""],
    ]
    h = html_tables(out, "red")
    assert h["Canales WAN e internet: operador y capacidad"] == [
        ["core-rtr", "wan0", "Canal internet ISP", "ETB", "20,0 Mb/s", "contratada"]
    ]
    assert h["Canales WAN e internet: tráfico y utilización"] == [
        ["core-rtr", "wan0", "9,0 Mb/s", "16,0 Mb/s", "4,5 Mb/s", "8,0 Mb/s", "16,0 Mb/s",
         "8,0 Mb/s", "80,0 %"],
    ]  # fmt: skip
    assert h["Advertencias de capacidad"][0][:3] == ["core-rtr", "wan0", "80,0 %"]
    assert_pdf_rows(out, "red", [
        ["core-rtr", "wan0", "Canal internet ISP", "ETB", "20,0 Mb/s", "contratada"],
        ["core-rtr", "wan0", "9,0 Mb/s", "16,0 Mb/s", "4,5 Mb/s", "8,0 Mb/s", "16,0 Mb/s",
         "8,0 Mb/s", "80,0 %"],
        ["core-rtr", "wan0", "Canal internet ISP", "100,0 Mb/s", "9,0 %", "16,0 %", "3,0 TB",
         "1,5 TB"],
    ])  # fmt: skip


# --- servers -----------------------------------------------------------------------


def test_servers_services_databases_and_backups(out: Path) -> None:
    # uptime at the last reading (31 Oct 23:55:17): 1e6 + 31 d x 86 400 - 283 s =
    # 3 678 117 s = 61 301,95 min
    assert read_csv(out, "servidores_disponibilidad_de_servidores")[1:] == [
        ["srv-1", "centro", "100,0000", "0", "0,00", "0", "61301,95", "todo el mes", "100,00",
         "100,00", "Verde"]
    ]  # fmt: skip
    # nginx stopped in 72 of 8 928 readings: 8 856 / 8 928 = 0.991935 -> 99,1935;
    # 72 x 5 min = 360 min down; the database engine's polls all answered; the portal (a
    # website target) did not answer 15 Oct 14:00:17-16:00:17: 120 of 44 640 min,
    # 44 520 / 44 640 = 0.997311828 -> 99,7312, 1 incident, 744 hourly polls
    assert read_csv(out, "servidores_servicios_criticos")[1:] == [
        ["srv-1", "nginx", "Servicio del sistema", "99,1935", "—", "360,00", "8928"],
        ["srv-1", "postgresql", "Servicio del sistema", "100,0000", "—", "0,00", "8928"],
        ["srv-1", "Motor de base de datos (postgres)", "Base de datos", "100,0000", "0", "0,00",
         "8928"],
        ["portal", "Portal web (chequeo HTTP)", "Portal web", "99,7312", "1", "120,00", "744"],
    ]  # fmt: skip
    assert read_csv(out, "servidores_servidores_de_bases_de_datos")[1:] == [
        ["srv-1", "postgresql", "15.4", "20", "100", "20,00"]
    ]
    # 10 GB -> 12 GB: (12 - 10) / 10 = 20,00 %
    assert read_csv(out, "servidores_tamano_de_bases_de_datos")[1:] == [
        ["srv-1", "app", "10000000000", "12000000000", "2000000000", "20,00", "12000000000"]
    ]
    # last copy 20 Oct 02:00; at the close (1 Nov 00:00) 11 d 22 h = 286 h = 17 160 min
    assert read_csv(out, "servidores_copias_de_seguridad")[1:] == [
        ["srv-1", "db-dump", "20/10/2026 02:00", "17160,00", "", "Vencida"]
    ]
    # 40 GB of 100 GB all month: no growth, no projection
    assert read_csv(out, "servidores_sistemas_de_archivos")[1:] == [
        ["srv-1", "/", "100000000000", "40000000000", "40,00", "0", "Sin crecimiento",
         "31,0 días de lecturas; 0 B por día", "Verde"],
    ]  # fmt: skip
    h = html_tables(out, "servidores")
    assert h["Servicios críticos"][0] == [
        "srv-1", "nginx", "Servicio del sistema", "99,194 %", "—", "6 h", "8.928"
    ]  # fmt: skip
    assert h["Tamaño de bases de datos"] == [
        ["srv-1", "app", "10,0 GB", "12,0 GB", "2,0 GB", "20,0 %", "12,0 GB"]
    ]
    assert h["Copias de seguridad"] == [
        ["srv-1", "db-dump", "20/10/2026 02:00", "11 d 22 h", "—", "Vencida"]
    ]
    assert_pdf_rows(out, "servidores", [
        ["srv-1", "nginx", "Servicio del sistema", "99,194 %", "—", "6 h", "8.928"],
        ["srv-1", "postgresql", "15.4", "20", "100", "20,0 %"],
        ["srv-1", "app", "10,0 GB", "12,0 GB", "2,0 GB", "20,0 %", "12,0 GB"],
        ["srv-1", "db-dump", "20/10/2026 02:00", "11 d 22 h", "—", "Vencida"],
    ])  # fmt: skip


# --- security ----------------------------------------------------------------------

CERT = "El certificado del puerto 443 (HTTPS) vence el 06/11/2026 00:00, en 5 días."
PORT = "Puerto 22 (SSH) abierto; la política exige que esté cerrado."
LOGINS = "288 intentos fallidos de autenticación por día, por encima del umbral."
BACKUP = "La copia «db-dump» tiene 280,0 horas de antigüedad; está vencida según la política."


def test_security_findings_certificates_logins_and_backups(out: Path) -> None:
    # certificate: 6 Nov 00:00 is 5,0 days after the close; fewer than 7 -> red. Its
    # finding opens at the first run with fewer than 30 days left: 7 Oct 00:00:17
    assert read_csv(out, "seguridad_inventario_de_certificados_tls")[1:] == [
        ["portal", "CA Prueba", "06/11/2026 00:00", "5,0", "TLSv1.3", "Sí", "Sí", "Rojo"]
    ]
    last = "31/10/2026 18:00"  # the month's last findings run
    assert read_csv(out, "seguridad_hallazgos_tls")[1:] == [
        ["portal", CERT, "Alta", "Certificados web", "8.24", "07/10/2026 00:00", last, "Abierto"]
    ]
    assert read_csv(out, "seguridad_hallazgos_de_exposicion")[1:] == [
        ["fw-1", PORT, "Alta", "Puertos de red", "8.20", "10/10/2026 00:00", last, "Abierto"]
    ]
    # 1 failed login per 5-min reading = 288 a day; first seen at 06:00, the first run with
    # a rate (the 00:00:17 reading is the counter's base)
    assert read_csv(out, "seguridad_hallazgos_de_autenticacion")[1:] == [
        ["srv-1", LOGINS, "Media", "Autenticación", "8.5", "01/10/2026 06:00", last, "Abierto"]
    ]
    # 8 927 increases of 1; 8 927 / 31 = 287,97 -> 288,0 a day; at most 1 in one poll
    assert read_csv(out, "seguridad_intentos_fallidos_de_autenticacion_por_servidor")[1:] == [
        ["srv-1", "8927", "288,0", "1"]
    ]
    # sw-1's syslog: 4 + 2 + 1 = 7 messages from 5 Oct 09:30:00 to 27 Oct 07:45:00
    assert read_csv(out, "seguridad_intentos_fallidos_de_autenticacion_informados_por_los_equipos")[
        1:
    ] == [["sw-1", "7", "05/10/2026 09:30:00", "27/10/2026 07:45:00", "admin, root"]]
    # stale: over 26 h old from 21 Oct 04:00, first run after 21 Oct 06:00:17; at the last
    # run 31 Oct 18:00:17 - 20 Oct 02:00 = 11 d 16 h 0 min 17 s = 280,0 h
    assert read_csv(out, "seguridad_hallazgos_de_copias_de_seguridad")[1:] == [
        ["srv-1", BACKUP, "Alta", "Copias de seguridad", "8.13", "21/10/2026 06:00", last,
         "Abierto"],
    ]  # fmt: skip
    assert read_csv(out, "seguridad_copias_de_seguridad_frente_a_la_politica")[1:] == [
        ["srv-1", "db-dump", "20/10/2026 02:00", "17160,00", "Vencida"]
    ]
    # open at the close: certificate, port, backup (high) and logins (medium)
    assert read_csv(out, "seguridad_hallazgos_por_severidad")[1:] == [
        ["Crítica", "0"], ["Alta", "3"], ["Media", "1"], ["Baja", "0"], ["Informativa", "0"]
    ]  # fmt: skip
    checks = read_csv(out, "seguridad_chequeos_ejecutados")[1:]
    assert len(checks) == 12 and {r[3] for r in checks} == {"124"}
    assert [r[0] for r in checks if r[5] == "No"] == [
        "Intentos fallidos de autenticación", "Copias al día", "Puertos prohibidos cerrados",
        "Vigencia de certificados",
    ]  # fmt: skip
    assert read_csv(out, "seguridad_acciones_de_mejora")[1:] == [
        ["AM-2026-10", "Cerrar el puerto 22 del firewall", "Jefe de sistemas", "15/11/2026",
         "2026-10", "Abierta"],
    ]  # fmt: skip
    h = html_tables(out, "seguridad")
    assert h["Inventario de certificados TLS"] == [
        ["portal", "CA Prueba", "06/11/2026 00:00", "5,0", "TLSv1.3", "Sí", "Sí", "Rojo"]
    ]
    assert h["Intentos fallidos de autenticación por servidor"] == [
        ["srv-1", "8.927", "288,0", "1"]
    ]
    assert h["Copias de seguridad frente a la política"] == [
        ["srv-1", "db-dump", "20/10/2026 02:00", "11 d 22 h", "Vencida"]
    ]
    assert_pdf_rows(out, "seguridad", [
        ["portal", "CA Prueba", "06/11/2026 00:00", "5,0", "TLSv1.3", "Sí", "Sí"],
        ["srv-1", "8.927", "288,0", "1"],
        ["sw-1", "7", "05/10/2026 09:30:00", "27/10/2026 07:45:00", "admin, root"],
        ["srv-1", "db-dump", "20/10/2026 02:00", "11 d 22 h", "Vencida"],
        ["Alta", "3"],
        ["Media", "1"],
    ])  # fmt: skip
    page = flat((out / "2026-10_seguridad.html").read_text(encoding="utf-8"))
    for text in (
        "Se cambió el proveedor del canal de internet el 14 de octubre.",
        "El puerto 22 del firewall se abrió para un soporte remoto.",
    ):
        assert text in page


# --- indicators and inventory ------------------------------------------------------


def test_indicators(out: Path) -> None:
    # IND-01: mean of the 5 network devices (0.999551971 + 1 + 0.997753818 + 0.999663978
    #   + 1) / 5 = 4.996969767 / 5 = 0.999393953 -> 99,939
    # IND-03: the portal, 0.997311828 -> 99,731
    # IND-04: own-cause incidents outside maintenance, every device: sw-1 3 Oct, core-rtr,
    #   sw-1 25 Oct, portal 15 Oct = 4
    # IND-05 MTTR: (10 + 20 + 90 + 120) / 4 = 60 min = 1,00 h
    # IND-06 MTBF: time in service of the 7 devices: 7 x 44 640 min, less 17 s for each of
    #   win-gw, portal and fw-1 (first polled 1 Oct 00:00:17: not monitored before), less
    #   120 maintenance and 255 down (10 + 20 + 15 + 90 + 120): 312 105 min - 51 s =
    #   18 726 249 s = 5 201,7358 h; / 4 = 1 300,434 h
    # IND-07: 0 of 1 backups on time; IND-08: 1 of 1 filesystems under 85 %;
    # IND-09: 0 of 1 certificates with more than 30 days left; IND-10: 4 open findings
    assert read_csv(out, "indicadores_indicadores")[1:] == [
        ["IND-01", "Disponibilidad de la red", "99,939", "≥ 99,5 %", "Verde"],
        ["IND-02", "Disponibilidad de servidores críticos", "100,000", "≥ 99,7 %", "Verde"],
        ["IND-03", "Disponibilidad del portal web", "99,731", "≥ 99,5 %", "Verde"],
        ["IND-04", "Incidentes", "4", "—", "No aplica"],
        ["IND-05", "MTTR", "1,00", "≤ 4,0 horas", "Verde"],
        ["IND-06", "MTBF", "1300,43", "—", "No aplica"],
        ["IND-07", "Copias de seguridad al día", "0,000", "≥ 100,0 %", "Rojo"],
        ["IND-08", "Almacenamiento bajo umbral", "100,000", "≥ 90,0 %", "Verde"],
        ["IND-09", "Certificados vigentes", "0,000", "≥ 100,0 %", "Rojo"],
        ["IND-10", "Hallazgos de seguridad abiertos", "4", "Tendencia a la baja", "No aplica"],
    ]
    h = html_tables(out, "indicadores")
    assert [r[2] for r in h["Indicadores"]] == [
        "99,94 %", "100,00 %", "99,73 %", "4", "1,00 h", "1.300,43 h", "0,00 %", "100,00 %",
        "0,00 %", "4",
    ]  # fmt: skip
    sheet = [r for t, rows in html_list(out, "indicadores") if t == "Ficha del indicador"
             for r in rows]  # fmt: skip
    # numerators and denominators: IND-01 499,70 / 5; IND-05 4,00 h / 4; IND-06 5 201,74 / 4
    nums = [r[1] for r in sheet if r[0] == "Numerador (mes)"]
    dens = [r[1] for r in sheet if r[0] == "Denominador (mes)"]
    assert (nums[0], dens[0]) == ("499,70", "5")
    assert (nums[4], dens[4]) == ("4,00", "4")
    assert (nums[5], dens[5]) == ("5.201,74", "4")
    # September: monitoring ran from 30 Sep 23:59:17, 43 s of 2 592 000 (0,002 %), under the
    # 10 % a month needs: "datos insuficientes" and no light (its 43 s of ICMP, all up,
    # would read 100 % Verde); the months before were never monitored: "sin datos"
    hist = read_csv(out, "indicadores_historico_de_indicadores")[1:]
    assert len(hist) == 120
    assert {r[3] for r in hist if r[2] == "2026-09"} == {"Datos insuficientes"}
    assert {r[3] for r in hist if r[2] < "2026-09"} == {"Sin datos"}
    trends = [rows for t, rows in html_list(out, "indicadores") if t == "Tendencia"]
    assert len(trends) == 10
    assert {tuple(rows[10]) for rows in trends} == {("2026-09", "Datos insuficientes", "—")}
    assert trends[0][11] == ["2026-10", "99,94 %", "Verde"]
    note = "Meses con datos insuficientes: 2026-09. Se muestra sin valor ni semáforo: el monitoreo "
    note += "funcionó menos del 10\u00a0% del mes, muy poco para representarlo."
    assert flat(note) in flat(_read(out / "2026-10_indicadores.html"))
    assert flat(note) in flat(pdf_text(out / "2026-10_indicadores.pdf"))
    assert_pdf_rows(out, "indicadores", [
        ["2026-09", "Datos insuficientes", "—"],
        ["IND-01", "Disponibilidad de la red", "99,94 %", "≥ 99,5 %", "Verde"],
        ["IND-04", "Incidentes", "4", "—", "No aplica"],
        ["IND-05", "MTTR", "1,00 h", "≤ 4,0 horas", "Verde"],
        ["IND-06", "MTBF", "1.300,43 h", "—", "No aplica"],
        ["IND-09", "Certificados vigentes", "0,00 %", "≥ 100,0 %", "Rojo"],
    ])  # fmt: skip


def test_inventory(out: Path) -> None:
    rows = read_csv(out, "inventario_registro_de_activos")
    assert rows[0][:3] == ["Dispositivo", "Tipo", "Sede"]
    by = {r[0]: r for r in rows[1:]}
    assert sorted(by) == ["core-rtr", "fw-1", "srv-1", "sw-1", "sw-2", "win-gw"]
    assert by["core-rtr"][4:8] == ["Cisco", "ISR4331", "FDO1234", "127.0.0.1"]
    assert by["srv-1"][8] == "00:11:22:33:44:55" and by["srv-1"][14] == "sda 500 GB"
    # first and last poll: ICMP from 30 Sep 23:59:17 to 31 Oct 23:59:17; win-gw's SNMP
    # every 5 min from 1 Oct 00:00:17 to 31 Oct 23:55:17
    assert by["sw-1"][16:18] == ["30/09/2026 23:59", "31/10/2026 23:59"]
    assert by["win-gw"][16:18] == ["01/10/2026 00:00", "31/10/2026 23:55"]
    assert read_csv(out, "inventario_software_instalado")[1:] == [["srv-1", "nginx", "1.22"]]
    # each hoja de vida lists its device's outages of the month (core-rtr, sw-1, sw-2)
    assert [rows for t, rows in html_list(out, "inventario") if t == "Incidentes del mes"] == [
        [["08/10/2026 09:00:17", "08/10/2026 09:20:17", "20 min", "Falla propia", "No"]],
        [["03/10/2026 10:00:17", "03/10/2026 10:10:17", "10 min", "Falla propia", "No"],
         ["20/10/2026 01:00:17", "20/10/2026 02:00:17", "1 h", "Falla propia", "Sí"],
         ["25/10/2026 02:00:17", "25/10/2026 03:30:17", "1 h 30 min", "Falla propia", "No"]],
        [["08/10/2026 09:01:17", "08/10/2026 09:16:17", "15 min", "Afectado por core-rtr", "No"]],
    ]  # fmt: skip


# --- the summaries ----------------------------------------------------------------

SUMMARIES = {
    # own-cause incidents 10 + 20 + 90 min = 2 h; MTTR 120 / 3 = 40 min; 5 network devices
    # in centro and norte; IND-01 99,94 %
    "red": [
        "La disponibilidad global de la red fue 99,94 %, por encima de la meta de 99,50 %; "
        "se registraron 3 incidentes con un tiempo total fuera de servicio de 2 h.",
        "El tiempo medio de restauración (MTTR) fue 40 min.",
        "Se monitorearon 5 dispositivos en 2 sedes, con una cobertura de datos del 100,00 %.",
    ],
    "servidores": [
        "Se monitoreó 1 servidor con una disponibilidad promedio de 100,00 % (meta 99,70 %) "
        "y 0 incidentes."
    ],
    # 12 checks ran, 4 have an open finding: 8 / 12 = 66,7 % comply
    "seguridad": [
        "Hay 4 hallazgos abiertos al cierre del mes (3 críticos o altos); 66,7 % de los 12 "
        "chequeos ejecutados cumplen la política."
    ],
    # 6 devices; snapshots of core-rtr and srv-1
    "inventario": ["Se registran 6 equipos; 2 tienen instantánea de inventario."],
    # with a target: IND-01, 02, 03, 05, 07, 08, 09; met: 01, 02, 03, 05, 08
    "indicadores": ["5 de 7 indicadores con meta cumplen su meta en el periodo."],
}


@pytest.mark.parametrize("stem", STEMS)
def test_summary_sentences_in_html_and_pdf(out: Path, stem: str) -> None:
    page = flat(htmlmod.unescape(re.sub(r"<[^>]+>", " ", _read(out / f"2026-10_{stem}.html"))))
    pdf = flat(" ".join(pdf_text(p) for p in sorted(out.glob(f"2026-10_{stem}*.pdf"))))
    # the office's observation for every report of the month (notes file, "all")
    for sentence in [
        *SUMMARIES[stem],
        "Se cambió el proveedor del canal de internet el 14 de octubre.",
    ]:
        assert sentence in page
        assert sentence in pdf


def _read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def test_figures_glued_to_units_in_documents_and_plain_in_csv(out: Path) -> None:
    """HTML/PDF: a number and its % or unit are joined by a NO-BREAK SPACE (a line never
    starts with "%"); CSV: the values stay as machine-readable as before, no NBSP."""
    for stem in STEMS:
        page = _read(out / f"2026-10_{stem}.html")
        assert not re.search(r"\d (%|ms|min|h|d|días|GB|MB|Mb/s|kb/s)(?![\w/])", page), stem
    assert "99,955\u00a0%" in _read(out / "2026-10_red.html")
    csvs = sorted((out / "csv").glob("*.csv"))
    assert len(csvs) > 10
    for p in csvs:
        assert "\u00a0" not in p.read_text(encoding="utf-8-sig"), p.name


# --- every report: PDF text against the HTML tables; layout ------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_pdf_holds_every_table_cell_whole_and_within_the_margin(out: Path, stem: str) -> None:
    """Every table cell of the HTML appears in the PDF text with its words whole, as many
    times as the tables hold it (a word split by a line break or a hyphen, or a table cut
    at the margin, fails); no word ends right of the page's right margin."""
    assert_pdf_words(out, stem)


def test_english_network_report(gm: GoldenMonth, out: Path) -> None:
    """The same month in English: the same figures with English separators and words."""
    base = gm.data_dir / "out-en"
    rc = main(["report", "-c", str(gm.config), "--month", "2026-10", "--out", str(base),
               "--kind", "network,security,kpi", "--lang", "en", "--jobs", "2"])  # fmt: skip
    assert rc == 0
    files = sorted(p.name for p in (base / "2026-10" / "csv").iterdir())
    inc = next(f for f in files if f.endswith("_incidents.csv"))
    with (base / "2026-10" / "csv" / inc).open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[1][:4] == ["2026-10-03 10:00:17", "2026-10-03 10:10:17", "10.00", "sw-1"]
    assert rows[3][:7] == ["2026-10-08 09:01:17", "2026-10-08 09:16:17", "15.00", "sw-2", "norte",
                           "Affected by core-rtr", "0"]  # fmt: skip
    html = html_tables(base / "2026-10", "network")
    assert html["Availability by device"][0][3:6] == ["99.955%", "20 min", "1"]
    assert html["WAN and internet links: traffic and utilization"][0][2:] == [
        "9.0 Mb/s", "16.0 Mb/s", "4.5 Mb/s", "8.0 Mb/s", "16.0 Mb/s", "8.0 Mb/s", "80.0%"
    ]  # fmt: skip
    for stem in ("network", "security", "indicators"):
        assert_pdf_words(base / "2026-10", stem)
    trends = [r for t, rows in html_list(base / "2026-10", "indicators") if t == "Trend"
              for r in rows]  # fmt: skip
    assert trends.count(["2026-09", "Insufficient data", "—"]) == 10
    assert_pdf_rows(base / "2026-10", "indicators", [["2026-09", "Insufficient data", "—"]])
    kpi = html_tables(base / "2026-10", "indicators")["Indicators"]
    # English writes a percentage without the space, the target too
    assert kpi[0][:5] == ["IND-01", "Network availability", "99.94%", "≥ 99.5%", "Green"]
    assert kpi[5][:3] == ["IND-06", "MTBF", "1,300.43 h"]
    assert_pdf_rows(base / "2026-10", "network", [
        ["core-rtr", "centro", "Router", "99.955%", "20 min", "1"],
        ["core-rtr", "wan0", "9.0 Mb/s", "16.0 Mb/s", "4.5 Mb/s", "8.0 Mb/s", "16.0 Mb/s",
         "8.0 Mb/s", "80.0%"],
    ])  # fmt: skip
