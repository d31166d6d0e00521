"""The YAML examples of docs/snmp.md load: whole configs through the config loader, the
top-level `snmp:` section through `validate_settings`, fragments as one target's collector.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import collectors.snmp as snmp
from collectors import COLLECTORS
from monitord.config import parse_config_text
from monitord.secrets import expand_env
from monitord.types import Shared

DOC = Path(__file__).resolve().parents[3] / "docs" / "snmp.md"
ENV = {
    "SNMP_COMMUNITY": "community-for-docs",
    "SNMP_AUTH_KEY": "auth-key-for-docs",
    "SNMP_PRIV_KEY": "priv-key-for-docs",
}


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_doc_has_its_examples() -> None:
    assert len(yaml_blocks()) >= 4


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda b: b.strip().splitlines()[0][:30])
def test_yaml_example_is_valid(block: str) -> None:
    data = yaml.safe_load(block)
    assert isinstance(data, dict)
    section = data.get("snmp")
    if isinstance(section, dict) and {"version", "user", "community", "auth"} & set(section):
        # a fragment: one target's `collectors:` entry, indented as in a target
        assert block.startswith("      snmp:")
        block = "targets:\n  - name: fragment\n    address: 127.0.0.1\n    collectors:\n" + block
        data = yaml.safe_load(block)
    elif isinstance(section, dict):
        expanded = yaml.safe_load(expand_env(block, ENV))["snmp"]  # as the loader does
        assert snmp.validate_settings(expanded) == []
    if "targets" not in data:
        block += "targets: []\n"
    cfg = parse_config_text(block, "docs/snmp.md", COLLECTORS, Shared(), ENV)
    for secret in ENV.values():
        assert secret not in repr(cfg)
    if "targets" in data:
        assert [t.target.name for t in cfg.targets] == [t["name"] for t in data["targets"]]
        assert all(c.kind == "snmp" for t in cfg.targets for c in t.collectors)
