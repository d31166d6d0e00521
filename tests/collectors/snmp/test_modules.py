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
    }
    declared = {s.name: s for s in PROFILE_METRICS}
    used = {m.name for p in profiles.values() for g in p.groups for m in g.metrics}
    assert used == set(declared)  # every declared metric is used, nothing undeclared
    for p in profiles.values():
        for g in p.groups:
            for m in g.metrics:
                assert m.help == declared[m.name].help
                assert m.spec().labels == declared[m.name].labels


@pytest.mark.parametrize(
    ("sys_object_id", "descr", "expected"),
    [
        (
            (1, 3, 6, 1, 4, 1, 9, 1, 1208),
            "Cisco IOS Software",
            {"system", "interfaces", "entity", "lldp"},
        ),
        (
            (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
            "Linux nas0 3.2.101",
            {"system", "interfaces", "entity", "lldp", "host_resources", "ucd"},
        ),
        (
            (1, 3, 6, 1, 4, 1, 311, 1, 1, 3, 1, 2),
            "Hardware: Intel64 - Software: Windows Version 6.3",
            {"system", "interfaces", "entity", "lldp", "host_resources"},
        ),
        (
            (1, 3, 6, 1, 4, 1, 705, 1),
            "Eaton 9PX",
            {"system", "interfaces", "entity", "lldp", "ups"},
        ),
        (
            (1, 3, 6, 1, 4, 1, 318, 1, 3, 27),
            "APC Web/SNMP Management Card",
            {"system", "interfaces", "entity", "lldp", "ups_apc"},
        ),
        (None, "", {"system", "interfaces", "entity", "lldp"}),
    ],
    ids=["cisco", "net-snmp", "windows", "eaton", "apc", "unknown"],
)
def test_auto_selection_by_sys_object_id_and_descr(
    sys_object_id: tuple[int, ...] | None, descr: str, expected: set[str]
) -> None:
    assert set(ProfileSet(load_builtin_profiles()).auto(sys_object_id, descr)) == expected


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
