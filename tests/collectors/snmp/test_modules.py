"""Profiles as data: built-ins load, user YAML profiles are validated strictly, matching works."""

from __future__ import annotations

import pytest
import yaml

from collectors.snmp.collector import METRICS, evaluate_group
from collectors.snmp.modules import (
    PROFILE_METRICS,
    ProfileSet,
    load_builtin_profiles,
    parse_profiles,
)
from monitord.errors import ConfigError
from monitord.types import SampleKind


def test_builtin_profiles_load_and_use_only_declared_metrics() -> None:
    profiles = load_builtin_profiles()
    assert set(profiles) == {
        "system",
        "interfaces",
        "host_resources",
        "ucd",
        "entity",
        "lldp",
        "ups",
        "ups_apc",
        # health.yaml
        "entity_sensor",
        "cisco_entity_sensor",
        "cisco_cpm",
        "cisco_memory",
        "cisco_envmon",
        "hp_icf",
        "juniper",
        "fortigate",
        "mikrotik",
        "edgeswitch",
        "unifi_ap",
        "dell_idrac",
        "hp_cpqhealth",
        "synology",
        "qnap",
        "printer",
    }
    declared = {s.name: s for s in PROFILE_METRICS}
    used = {m.name for p in profiles.values() for g in p.groups for m in g.metrics}
    assert used == set(declared)  # every declared metric is used, nothing undeclared
    for p in profiles.values():
        for g in p.groups:
            for m in g.metrics:
                assert m.help == declared[m.name].help
                assert m.spec().labels == declared[m.name].labels


HR = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 2)
UCD = (1, 3, 6, 1, 4, 1, 2021, 4, 5)
CPM = (1, 3, 6, 1, 4, 1, 9, 9, 109, 1, 1, 1, 1, 8)
ALWAYS = {"system", "interfaces", "entity", "lldp"}


@pytest.mark.parametrize(
    ("sys_object_id", "descr", "answered", "expected"),
    [
        ((1, 3, 6, 1, 4, 1, 9, 1, 1208), "Cisco IOS Software", set(), ALWAYS),
        ((1, 3, 6, 1, 4, 1, 9, 1, 1208), "Cisco IOS Software", {CPM}, ALWAYS | {"cisco_cpm"}),
        # the Cisco MIB answered by a non-Cisco device is not even asked for
        ((1, 3, 6, 1, 4, 1, 2636, 1), "Juniper", {CPM, HR}, ALWAYS | {"host_resources"}),
        (
            (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
            "Linux nas0 3.2.101",
            {HR, UCD},
            ALWAYS | {"host_resources", "ucd"},
        ),
        (
            (1, 3, 6, 1, 4, 1, 311, 1, 1, 3, 1, 2),
            "Hardware: Intel64 - Software: Windows Version 6.3",
            {HR},
            ALWAYS | {"host_resources"},
        ),
        ((1, 3, 6, 1, 4, 1, 705, 1), "Eaton 9PX", set(), ALWAYS | {"ups"}),
        (
            (1, 3, 6, 1, 4, 1, 318, 1, 3, 27),
            "APC Web/SNMP Management Card",
            set(),
            ALWAYS | {"ups_apc"},
        ),
        ((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10), "Linux nas0", None, ALWAYS),
        (None, "", set(), ALWAYS),
    ],
    ids=[
        "cisco",
        "cisco-cpm",
        "juniper-hr",
        "net-snmp",
        "windows",
        "eaton",
        "apc",
        "unprobed",
        "unknown",
    ],
)
def test_auto_selection_by_sys_object_id_descr_and_probes(
    sys_object_id: tuple[int, ...] | None,
    descr: str,
    answered: set[tuple[int, ...]] | None,
    expected: set[str],
) -> None:
    got = ProfileSet(load_builtin_profiles()).auto(sys_object_id, descr, answered)
    assert set(got) == expected


def test_probe_oids_are_asked_only_where_the_criteria_allow() -> None:
    ps = ProfileSet(load_builtin_profiles())
    cisco = set(ps.probe_oids((1, 3, 6, 1, 4, 1, 9, 1, 1208), "Cisco IOS"))
    windows = set(ps.probe_oids((1, 3, 6, 1, 4, 1, 311, 1), "Hardware: x - Software: Windows"))
    assert CPM in cisco and HR in cisco and HR in windows
    assert CPM not in windows and UCD not in windows  # vendor trees only on that vendor


GOOD = """
cisco_cpu:
  description: Cisco CPU
  match: {sys_object_id: ["1.3.6.1.4.1.9."]}
  tables:
    - name: cpmCPUTotalTable
      columns:
        load5m: 1.3.6.1.4.1.9.9.109.1.1.1.1.8
        kind: {oid: 1.3.6.1.4.1.9.9.109.1.1.1.1.2, enum: {1: main, 2: standby}}
      filter: {kind: [1]}
      metrics:
        - {name: monitord_cpu_load_ratio, value: load5m, scale: 0.01, labels: {cpu: index}}
        - {name: monitord_cisco_cpu_info, kind: info, labels: {cpu: index, role: kind},
           help: "Cisco CPUs (CISCO-PROCESS-MIB); always 1."}
"""


def test_a_user_profile_reuses_builtin_names_and_adds_its_own() -> None:
    profiles = parse_profiles(yaml.safe_load(GOOD), reserved=METRICS)
    p = profiles["cisco_cpu"]
    assert p.matches((1, 3, 6, 1, 4, 1, 9, 1, 1), "") and not p.matches((1, 3, 6, 1, 4, 1, 11), "")
    [g] = p.groups
    load = g.metrics[0]
    assert load.kind is SampleKind.GAUGE and load.help.startswith(
        "Processor load"
    )  # inherited HELP
    col = (1, 3, 6, 1, 4, 1, 9, 9, 109, 1, 1, 1, 1)
    rows = {
        (*col, 8): {(1,): (0x42, 35), (2,): (0x42, 5)},
        (*col, 2): {(1,): (0x02, 1), (2,): (0x02, 2)},
    }
    samples = evaluate_group("r1", g, rows)
    assert [(s.name, dict(s.labels), s.value) for s in samples] == [
        ("monitord_cpu_load_ratio", {"target": "r1", "cpu": "1"}, 0.35),
        ("monitord_cisco_cpu_info", {"target": "r1", "cpu": "1", "role": "main"}, 1),
    ]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [{"name": "cpu_load", "value": "a", "help": "x"}],
                    }
                ]
            },
            "p.tables[0].metrics[0].name",
            "monitord_",
        ),
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [
                            {"name": "monitord_x", "kind": "counter", "value": "a", "help": "x"}
                        ],
                    }
                ]
            },
            "p.tables[0].metrics[0].name",
            "_total",
        ),
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [{"name": "monitord_x", "value": "b", "help": "x"}],
                    }
                ]
            },
            "p.tables[0].metrics[0].value",
            "columns",
        ),
        (
            {"tables": [{"columns": {"a": "IF-MIB::ifTable"}, "metrics": []}]},
            "p.tables[0].columns.a",
            "invalid OID",
        ),
        (
            {
                "tables": [
                    {"columns": {"a": "1.3.6.1"}, "metrics": [{"name": "monitord_x", "value": "a"}]}
                ]
            },
            "p.tables[0].metrics[0].help",
            "help text",
        ),
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [{"name": "monitord_cpu_load_ratio", "value": "a"}],
                    }
                ]
            },
            "p.tables[0].metrics[0].name",
            "already defined",
        ),
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [
                            {
                                "name": "monitord_x",
                                "value": "a",
                                "help": "h",
                                "labels": {"target": "a"},
                            }
                        ],
                    }
                ]
            },
            "p.tables[0].metrics[0].labels.target",
            "reserved",
        ),
        (
            {
                "tables": [
                    {
                        "columns": {"a": "1.3.6.1"},
                        "metrics": [
                            {
                                "name": "monitord_x",
                                "value": "a",
                                "help": "h",
                                "labels": {"x": "nope"},
                            }
                        ],
                    }
                ]
            },
            "p.tables[0].metrics[0].labels.x",
            "index[N]",
        ),
        (
            {"tables": [{"columns": {"a": "1.3.6.1"}, "refresh": "hourly", "metrics": []}]},
            "p.tables[0].refresh",
            "poll or labels",
        ),
        (
            {
                "scalars": {
                    "columns": {"a": "1.3.6.1.0"},
                    "metrics": [
                        {"name": "monitord_x", "value": "a", "help": "h", "labels": {"i": "index"}}
                    ],
                }
            },
            "p.scalars.metrics[0].labels.i",
            "index",
        ),
        (
            {"match": {"sys_descr": "(unclosed"}, "tables": []},
            "p.match.sys_descr",
            "regular expression",
        ),
        ({"walk": ["IF-MIB::ifXTable"]}, "p.walk", "unknown key"),
        ({}, "p", "scalars or tables"),
    ],
)
def test_bad_user_profiles_name_the_field(
    body: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_profiles({"p": body}, where="", reserved=METRICS)
    [issue] = info.value.issues
    assert issue.field.lstrip(".") == field, issue
    assert message in issue.message


def test_builtin_profile_names_are_reserved() -> None:
    import collectors.snmp as snmp
    from monitord.types import Shared

    shared = Shared()
    shared.settings["snmp"] = {
        "modules": {
            "ups": {
                "scalars": {
                    "columns": {"a": "1.3.6.1.0"},
                    "metrics": [{"name": "monitord_x", "value": "a", "help": "h"}],
                }
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        snmp.build({"community": "public-ish"}, shared)
    assert "is built in" in str(info.value)
