"""`probe` and `discover` (for `monitord probe snmp` / `monitord discover`), on loopback only."""

from __future__ import annotations

import pytest
import yaml

from collectors.snmp.probe import discover, probe
from tests.collectors.snmp.conftest import Recordings, run

SECRET = "gen-switch-48"  # the community is the secret here


@pytest.mark.peer
def test_probe_prints_what_would_be_collected(
    recordings: Recordings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_COMMUNITY", SECRET)
    text = run(probe("127.0.0.1", {"community": "${PROBE_COMMUNITY}", "port": recordings.sim.port}))
    assert isinstance(text, str)
    lines = text.splitlines()
    assert lines[0] == f"snmp probe of 127.0.0.1:{recordings.sim.port}: ok"
    assert "  sysname      gen-sw-48" in lines
    assert "  interfaces: 50" in lines
    row = next(line for line in lines if " Gi1/0/3 " in line)
    assert row.split()[:5] == ["10103", "Gi1/0/3", "ethernetCsmacd", "up", "125000000"]
    assert str((1 << 53) + 12345) in row
    assert "  monitord_inventory_info:" in lines
    assert SECRET not in text.replace("gen-sw-48", "")


@pytest.mark.peer
def test_probe_reports_a_failure_in_the_text(recordings: Recordings) -> None:
    text = run(
        probe(
            "127.0.0.1",
            {
                "community": "wrong",
                "port": recordings.sim.port,
                "request_timeout": "0.3s",
                "retries": 0,
            },
        )
    )
    assert "FAILED (timeout)" in text.splitlines()[0]  # type: ignore[union-attr]


@pytest.mark.peer
def test_discover_sweeps_a_loopback_range(recordings: Recordings) -> None:
    snippet = run(
        discover(
            "127.0.0.0/30",
            {"community": "not-a-community", "port": recordings.sim.port},
            snmp_timeout=0.5,
        )
    )
    assert isinstance(snippet, str)
    assert snippet.startswith(
        "# monitord discover 127.0.0.0/30: 2 addresses, 2 answered ICMP, 0 answered SNMP"
    )
    assert [t["collectors"] for t in yaml.safe_load(snippet)["targets"]] == [
        {"icmp": {}},
        {"icmp": {}},
    ]


@pytest.mark.peer
def test_discover_writes_a_config_snippet(
    recordings: Recordings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNMP_COMMUNITY", SECRET)
    snippet = run(
        discover(
            "127.0.0.0/30",
            {"community": "${SNMP_COMMUNITY}", "port": recordings.sim.port},
            snmp_timeout=0.5,
        )
    )
    assert isinstance(snippet, str) and "1 answered SNMP" in snippet.splitlines()[0]
    data = yaml.safe_load(snippet)
    first, second = data["targets"]
    assert (
        first["name"] == "gen-sw-48"
        and first["address"] == "127.0.0.1"
        and first["kind"] == "switch"
    )
    assert first["collectors"]["snmp"] == {
        "version": "2c",
        "port": recordings.sim.port,
        "community": "${SNMP_COMMUNITY}",
        "profiles": ["system", "interfaces", "entity", "lldp"],
    }
    assert second == {
        "name": "host-127.0.0.2",
        "address": "127.0.0.2",
        "kind": "other",
        "collectors": {"icmp": {}},
    }
    assert SECRET not in snippet


@pytest.mark.peer
def test_discover_sweeps_a_thousand_addresses_without_false_loss(recordings: Recordings) -> None:
    """Every 127.0.0.0/22 address answers ICMP; the shared-socket sweep must see all 1022."""
    snippet = run(
        discover(
            "127.0.0.0/22",
            {"community": "gen-switch-48", "port": recordings.sim.port, "request_timeout": "0.5s"},
        )
    )
    assert isinstance(snippet, str)
    assert snippet.splitlines()[0] == (
        "# monitord discover 127.0.0.0/22: 1022 addresses, 1022 answered ICMP, 1 answered SNMP"
    )
    targets = yaml.safe_load(snippet)["targets"]
    assert len(targets) == 1022 and len({t["name"] for t in targets}) == 1022
    assert [t["address"] for t in targets if "snmp" in t["collectors"]] == ["127.0.0.1"]
    assert targets[0]["collectors"]["snmp"]["community"] == "${SNMP_COMMUNITY}"


def test_discover_refuses_a_huge_range() -> None:
    with pytest.raises(ValueError, match="more than max_hosts"):
        run(discover("127.0.0.0/8", {"community": "xxxx"}))
