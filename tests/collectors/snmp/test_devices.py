"""Every real recording ($MONITORD_DEVICES): identity and health series equal the recorded values.

Each health sample is traced back to the recorded OID it comes from (value column +
row index, the table below restates the MIBs independently of health.yaml) and must
equal the raw value in base units; where LibreNMS's expected JSON has the same
object (same OID), its processed value must agree too. Skipped without the corpus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from monitord.types import Sample, Target
from tests.collectors.snmp.conftest import Recordings, by_series, device_files, poll_many, run
from tests.peers.snmprec_gen import read_snmprec

Rec = Mapping[tuple[int, ...], tuple[int, object]]

# What each device is, as the recording says it (sysDescr, vendor MIB, ENTITY-MIB chassis).
IDENTITY: dict[str, tuple[str, str, str, str, str]] = {
    "apc_smt750x-nmc2": ("APC", "AOS", "v7.0.8", "Smart-UPS X 750", "AS1907242163"),
    "arubaos-cx_10.07": ("HPE Aruba", "AOS-CX", "ML.10.07.0005", "JL727A", "AB12CD3456"),
    "cisco-catalyst-3560": ("Cisco", "IOS", "12.2(55)SE3", "WS-C3560G-48TS-E", "FOC1408Z61U"),
    "drac_r640": ("Dell", "iDRAC", "5.10.10.00", "PowerEdge R640", "1234ABC"),
    "dsm_ds214se-dsm7": ("Synology", "DSM", "7.1-42962", "DS214se", "<private>"),
    "eaton-mgeups_9pxle": (
        "Eaton",
        "Eaton NMC",
        "01.16.4638",
        "Eaton 9PX 1000i RT 2U",
        "GA10J05109",
    ),
    "edgeos": ("Ubiquiti", "EdgeOS", "1.8.0", "", ""),
    "edgeswitch_es-24-250w": (
        "Ubiquiti",
        "EdgeSwitch",
        "1.8.0.5106045",
        "UBNT-ES24",
        "F03E34F342C3",
    ),
    "fortigate_60f": (
        "Fortinet",
        "FortiOS",
        "v7.2.6,build1575,230926 (GA.F)",
        "FortiGate 60F",
        "FGT60FTK00000000",
    ),
    "ios_2960x": ("Cisco", "IOS", "15.0(2a)EX5", "WS-C2960X-48FPS-L", "FCW1929B68S"),
    "ios_nac": ("Cisco", "IOS", "15.0(2)SE8", "", ""),
    "iosxe_c1100tgx": ("Cisco", "IOS-XE", "26.01.20260120:071730", "C1100TGX-1N24P32A", ""),
    "iosxe_c3850": ("Cisco", "IOS-XE", "16.9.6", "WS-C3850-48T-S", "FCW2022C1ZM"),
    "iosxe_isr4321": ("Cisco", "IOS-XE", "17.6.4", "ISR4321/K9", "FDO2249A154"),
    "jetdirect_m252dw": ("HP", "JetDirect", "", "HP Color LaserJet Pro M252dw", "VNB3J99999"),
    "junos_rpm": (
        "Juniper",
        "Junos",
        "12.1X46-D86",
        "Juniper SRX240H Internet Router",
        "AG3213AK0210",
    ),
    "linux-full-walk": ("net-snmp", "Linux", "2.6.21.5-smp", "", ""),
    "linux_powermon": ("net-snmp", "Linux", "4.18.0-259.el8.x86_64", "", ""),
    "procurve_2520": ("HP", "ProCurve", "KA.15.03.3004", "J9850A 5406Rzl2", ""),
    "routeros_rb750gr3": ("MikroTik", "RouterOS", "7.20.4", "RB750Gr3", "6F3A071688EA"),
    "vmware-esxi": ("VMware", "ESXi", "7.0.0", "ProLiant DL380p Gen8", "CZ162913BZ"),
    "windows_svr_2019_1809": ("Microsoft", "Windows", "6.3 build 17763", "", ""),
}

# The health series each device must have (count), and which it must not.
HEALTH: dict[str, dict[str, int]] = {
    "arubaos-cx_10.07": {"cpu": 4, "temperature_celsius": 1, "fan_speed_rpm": 3, "power_watts": 1},
    "cisco-catalyst-3560": {"cpu": 1, "memory_pool_used_bytes": 3, "fan_ok": 1},
    "drac_r640": {"temperature_celsius": 4, "temperature_high_celsius": 4, "fan_speed_rpm": 14},
    "dsm_ds214se-dsm7": {"cpu": 1, "temperature_celsius": 3, "fan_ok": 2, "power_supply_ok": 1},
    "edgeswitch_es-24-250w": {"cpu": 1, "temperature_celsius": 8, "fan_ok": 4},
    "fortigate_60f": {"cpu": 10, "temperature_celsius": 4, "firewall_sessions": 1},
    "ios_2960x": {
        "cpu": 1,
        "memory_pool_used_bytes": 3,
        "temperature_celsius": 5,
        "fan_ok": 3,
        "power_supply_ok": 3,
    },
    "iosxe_c1100tgx": {
        "cpu": 1,
        "memory_pool_used_bytes": 2,
        "temperature_celsius": 4,
        "fan_speed_rpm": 3,
    },
    "iosxe_c3850": {"cpu": 2, "temperature_celsius": 6, "fan_ok": 6, "power_supply_ok": 2},
    "iosxe_isr4321": {"temperature_celsius": 4, "fan_speed_rpm": 1},
    "jetdirect_m252dw": {"printer_supply_level_ratio": 4},
    "junos_rpm": {"cpu": 2, "memory_pool_used_ratio": 2, "temperature_celsius": 1},
    "linux_powermon": {"cpu": 24},
    "procurve_2520": {"cpu": 1, "fan_ok": 7, "power_supply_ok": 2, "temperature_celsius": 3},
    "routeros_rb750gr3": {"cpu": 4, "temperature_celsius": 1, "voltage_volts": 1},
    "vmware-esxi": {"cpu": 32},
    "windows_svr_2019_1809": {"cpu": 4},
}


def _o(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


# metric → [(value column OID, scale)], "ent" = ENTITY-SENSOR arithmetic on that table
SOURCES: dict[str, list[tuple[tuple[int, ...], object]]] = {
    "monitord_temperature_celsius": [
        (_o("1.3.6.1.4.1.9.9.13.1.3.1.3"), 1),
        (_o("1.3.6.1.4.1.674.10892.5.4.700.20.1.6"), 0.1),
        (_o("1.3.6.1.4.1.12356.101.4.3.2.1.3"), 1),
        (_o("1.3.6.1.4.1.14988.1.1.3.100.1.3"), 1),
        (_o("1.3.6.1.4.1.4413.1.1.43.1.8.1.5"), 1),
        (_o("1.3.6.1.4.1.6574.2.1.1.6"), 1),
        (_o("1.3.6.1.4.1.2636.3.1.13.1.7"), 1),
        (_o("1.3.6.1.4.1.11.2.14.11.5.1.55.1.1.1.4"), 1),
        (_o("1.3.6.1.2.1.99.1.1.1.4"), "ent"),
        (_o("1.3.6.1.4.1.9.9.91.1.1.1.1.4"), "ent"),
    ],
    "monitord_temperature_high_celsius": [
        (_o("1.3.6.1.4.1.9.9.13.1.3.1.4"), 1),
        (_o("1.3.6.1.4.1.674.10892.5.4.700.20.1.10"), 0.1),
    ],
    "monitord_fan_speed_rpm": [
        (_o("1.3.6.1.4.1.674.10892.5.4.700.12.1.6"), 1),
        (_o("1.3.6.1.4.1.4413.1.1.43.1.6.1.4"), 1),
        (_o("1.3.6.1.2.1.99.1.1.1.4"), "ent"),
        (_o("1.3.6.1.4.1.9.9.91.1.1.1.1.4"), "ent"),
    ],
    "monitord_voltage_volts": [
        (_o("1.3.6.1.4.1.674.10892.5.4.600.20.1.6"), 0.001),
        (_o("1.3.6.1.4.1.14988.1.1.3.100.1.3"), 0.1),
        (_o("1.3.6.1.2.1.99.1.1.1.4"), "ent"),
        (_o("1.3.6.1.4.1.9.9.91.1.1.1.1.4"), "ent"),
    ],
    "monitord_power_watts": [
        (_o("1.3.6.1.2.1.99.1.1.1.4"), "ent"),
        (_o("1.3.6.1.4.1.9.9.91.1.1.1.1.4"), "ent"),
    ],
    "monitord_current_amperes": [
        (_o("1.3.6.1.2.1.99.1.1.1.4"), "ent"),
        (_o("1.3.6.1.4.1.9.9.91.1.1.1.1.4"), "ent"),
    ],
    "monitord_memory_pool_used_bytes": [
        (_o("1.3.6.1.4.1.9.9.48.1.1.1.5"), 1),
        (_o("1.3.6.1.4.1.9.9.221.1.1.1.1.18"), 1),
    ],
}


def _lnms(stem: str) -> dict[str, float]:
    """LibreNMS's processed values by OID (sensors, processors, printer supplies)."""
    folder = device_files()[0].parent
    path = folder / "expected" / f"{stem}.json"
    out: dict[str, float] = {}
    if not path.exists():
        return out
    data = json.loads(path.read_text())
    for s in ((data.get("sensors") or {}).get("discovery") or {}).get("sensors", []):
        if s["sensor_current"] is not None:
            out[s["sensor_oid"].lstrip(".")] = float(s["sensor_current"])
    for p in ((data.get("processors") or {}).get("discovery") or {}).get("processors", []):
        out[p["processor_oid"].lstrip(".")] = float(p["processor_usage"])
    supplies = ((data.get("printer-supplies") or {}).get("discovery") or {}).get(
        "printer_supplies", []
    )
    for p in supplies:
        out[p["supply_oid"].lstrip(".")] = float(p["supply_current"]) / float(p["supply_capacity"])
    return out


def _recorded(rec: Rec, metric: str, index: str) -> list[tuple[str, float]]:
    """(source OID, value in base units) for every source of `metric` with that row index."""
    out: list[tuple[str, float]] = []
    idx = _o(index)
    for col, scale in SOURCES.get(metric, []):
        vb = rec.get(col + idx)
        if vb is None:
            continue
        raw = vb[1]
        number = float(raw.decode()) if isinstance(raw, bytes) else float(raw)  # type: ignore[arg-type]
        if scale == "ent":
            sc = rec.get((*col[:-1], 2, *idx))
            pr = rec.get((*col[:-1], 3, *idx))
            exp = 3 * (int(sc[1]) - 9) if sc else 0  # type: ignore[call-overload]
            exp -= int(pr[1]) if pr else 0  # type: ignore[call-overload]
            value = number * 10**exp if exp >= 0 else number / 10**-exp
        else:
            value = number * scale if scale != 0.1 else number / 10  # type: ignore[operator]
            if scale == 0.001:
                value = number / 1000
        out.append((".".join(map(str, col + idx)), value))
    return out


CASES = [f.stem for f in device_files()]


@pytest.mark.peer
@pytest.mark.parametrize("stem", CASES)
def test_device_identity_and_health_equal_the_recording(recordings: Recordings, stem: str) -> None:
    community = f"dev-{stem}"
    rec = read_snmprec(recordings.files[community])
    opts = {
        "community": community,
        "port": recordings.sim.port,
        "walk_budget": "60s",
        "request_timeout": "5s",
    }
    silent = stem == "windows_svr_2019_1809"  # its agent goes silent past ifXTable (README)
    if silent:
        # the first poll's entity walk fails and is retried once on the next poll (a table is
        # skipped only after stalling at the same OIDs twice in a row), so the probes wait for
        # the label refresh of the third poll (label_refresh 1), which skips the silent table
        opts["label_refresh"] = 1
    *_, p = run(poll_many(opts, Target(stem, "127.0.0.1"), times=3 if silent else 1))
    assert p.error is None, p.error
    samples: list[Sample] = p.samples
    by_series(samples)  # no duplicate series
    [info] = [s for s in samples if s.name == "monitord_device_info"]
    got = tuple(info.labels[k] for k in ("vendor", "os", "version", "model", "serial"))
    assert got == IDENTITY[stem]
    lnms_os = _lnms_os(stem)
    if lnms_os.get("serial") not in (None, "", "<private>"):
        assert info.labels["serial"] == lnms_os["serial"]

    counts: dict[str, int] = {}
    for s in samples:
        short = s.name.removeprefix("monitord_").replace("cpu_load_ratio", "cpu")
        counts[short] = counts.get(short, 0) + 1
    for short, n in HEALTH.get(stem, {}).items():
        assert counts.get(short, 0) == n, (short, counts.get(short, 0), n)

    lnms = _lnms(stem)
    agreed = 0
    for s in samples:
        idx = s.labels.get("sensor_index") or s.labels.get("pool_index")
        if idx is None or s.name not in SOURCES or not idx.replace(".", "").isdigit():
            continue  # scalar sources (no row index) are checked by the counts above
        sources = _recorded(rec, s.name, idx)
        assert sources, f"{s.name}{dict(s.labels)} has no recorded source"
        assert any(abs(v - s.value) < 1e-9 for _, v in sources), (s, sources)
        for oid, _ in sources:
            if oid in lnms and s.name != "monitord_memory_pool_used_bytes":
                assert abs(lnms[oid] - s.value) < 1e-6, (s, oid, lnms[oid])
                agreed += 1
    for s in samples:  # processors and printer supplies, against LibreNMS by OID
        if s.name == "monitord_printer_supply_level_ratio":
            oid = "1.3.6.1.2.1.43.11.1.1.9." + s.labels["supply_index"]
            assert abs(lnms[oid] - s.value) < 1e-9
            agreed += 1
    if stem in ("ios_2960x", "drac_r640", "fortigate_60f", "edgeswitch_es-24-250w"):
        assert agreed >= 4, agreed


def _lnms_os(stem: str) -> dict[str, object]:
    path = device_files()[0].parent / "expected" / f"{stem}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return dict(data["os"]["discovery"]["devices"][0])
