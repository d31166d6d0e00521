"""No kind-keyed tables in the core: collectors declare, the core reads the declaration.

A core module (any `monitord/` module except the wiring) that writes a registered
collector's kind as a string literal is keying behaviour on a kind: a new collector
would need a core edit. What a kind used to decide is declared on the collector class
(`concurrency`, `reach`: `monitord.types.Collector`) or on its specs (roles).

The scan is over the syntax tree (string constants, docstrings excluded), like the
layering test; `NOT_A_KIND` lists the literals that equal a kind but name something
else, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from collectors import COLLECTORS
from tests.conftest import REPO
from tests.contract.declared import collector_class

WIRING = frozenset({"monitord/daemon.py", "monitord/cli.py", "monitord/__main__.py"})

# (module, literal): why this literal is not a collector kind
NOT_A_KIND: dict[tuple[str, str], str] = {
    ("monitord/config.py", "snmp"): "the top-level `snmp:` config section handed to collectors",
    ("monitord/events/config.py", "tcp"): "the syslog receiver's `tcp` listen field",
    ("monitord/reports/security.py", "snmp"): "a check area (`snmp.*` checks), not a kind",
    ("monitord/reports/security.py", "discovery"): "a check area (`discovery.*` checks)",
}


def kind_literals(path: Path, kinds: frozenset[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant in `path` equal to one of `kinds`."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in kinds
        and id(node) not in docstrings
    )


def core_kind_literals(root: Path) -> list[str]:
    """`module:line: 'kind'` for each kind literal in the core under `root`."""
    kinds = frozenset(COLLECTORS)
    out = []
    for path in sorted((root / "monitord").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in WIRING:
            continue
        for line, value in kind_literals(path, kinds):
            if (rel, value) not in NOT_A_KIND:
                out.append(f"{rel}:{line}: {value!r}")
    return out


def test_no_core_module_names_a_collector_kind() -> None:
    assert core_kind_literals(REPO) == []


def test_the_scan_finds_a_kind_table(tmp_path: Path) -> None:
    """The former runner table, written back into a core module, is caught; a docstring
    naming a kind is not."""
    mod = tmp_path / "monitord" / "runner.py"
    mod.parent.mkdir()
    mod.write_text(
        '"""Runs polls (icmp, snmp...)."""\n'
        'DEFAULT_CONCURRENCY = {"icmp": 1024, "snmp": 64}\n'
        'def f(c):\n    """snmp"""\n    return c == "postgres"\n',
        "utf-8",
    )
    assert core_kind_literals(tmp_path) == [
        "monitord/runner.py:2: 'icmp'",
        "monitord/runner.py:2: 'snmp'",
        "monitord/runner.py:5: 'postgres'",
    ]


def test_built_in_rules_select_collectors_by_reach_not_kind() -> None:
    rules = yaml.safe_load((REPO / "monitord/alerts/rules.yaml").read_text("utf-8"))
    named = {n: r["collectors"] for n, r in rules.items() if r.get("collectors")}
    assert named == {}
    assert rules["target_down"]["reach"] == "device"
    assert rules["database_down"]["reach"] == "database"


def test_collectors_declare_what_the_core_used_to_key_on_kind() -> None:
    """The values of the former tables (runner.DEFAULT_CONCURRENCY, engine._DEFAULT_REACH,
    rules.yaml), now on the classes: the behaviour is unchanged."""
    conc = {
        k: collector_class(k).concurrency
        for k in COLLECTORS
        if hasattr(collector_class(k), "concurrency")
    }
    assert conc == {"icmp": 1024, "snmp": 64, "postgres": 8, "mysql": 8, "mssql": 8, "oracle": 8}
    reach = {k: str(getattr(collector_class(k), "reach", "")) for k in COLLECTORS}
    assert {k for k, r in reach.items() if r == "device"} == {
        "icmp",
        "snmp",
        "agent",
        "http",
        "tcp",
    }
    assert {k for k, r in reach.items() if r == "database"} == {
        "postgres",
        "mysql",
        "mssql",
        "oracle",
    }
