"""The house's drawing, checked: inputs -> core -> outputs, one way, wiring at the top.

Rules (ARCHITECTURE.md, STYLE.md A), over every import of the repository's packages
(parsed with `ast`, so lazy imports inside functions count too):

1. `collectors/` and `exporters/` import from `monitord` only the shared core
   vocabulary (`CORE_VOCABULARY`), and never each other.
2. No `monitord` module except the wiring (`monitord/daemon.py`, `monitord/cli.py`)
   imports `exporters` or a concrete collector (any `collectors` module).
3. No collector imports another collector: a collector is a module or package that
   `collectors/registry.py` registers; shared code lives in underscore modules
   (`collectors/_pinger.py`, `_checks.py`, `_dbpool.py`) or in packages nobody registers
   (`collectors/hostagent/`, the agent program whose readers `host` and `agent` share).
4. The history never imports the reports.

`test_rules_catch_the_former_violations` feeds synthetic import graphs with each of the
arrows this repository had before issue 13 and shows each one is refused.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("monitord", "collectors", "exporters")
WIRING = frozenset({"monitord.daemon", "monitord.cli", "monitord.__main__"})

# What collectors/ and exporters/ may import from the core, and why:
CORE_VOCABULARY = frozenset(
    {
        "monitord",  # the package itself: __version__
        "monitord.types",  # Sample, MetricSpec, Role, Target, capabilities
        "monitord.errors",  # the exception tree
        "monitord.config",  # parse_options, Duration, SecretValue (options of collectors)
        "monitord.configtypes",  # the validated field types config.py is built from
        "monitord.secrets",  # Secret, ${ENV}/file: references
        "monitord.log",  # the one log format and the redaction filter
        "monitord.yamlfile",  # the one YAML reader with line numbers
        "monitord.yamlload",  # YAML with bounded alias expansion (under yamlfile)
        "monitord.httpguard",  # connection cap and deadlines of the HTTP servers
        # shared core models the outputs render or send (read-only data, no I/O):
        "monitord.state",  # Snapshot, what /metrics exposes
        "monitord.alerts.config",  # notifier settings (EmailConfig...) and alert events
        "monitord.alerts.texts",  # alert texts the notifiers send
        "monitord.alerts.dispatch",  # the Notifier protocol the senders implement
        "monitord.reports.model",  # the report view model the renderers draw
        "monitord.reports.settings",  # report settings (entity, language, e-mail)
    }
)


def module_name(path: Path, root: Path = REPO) -> str:
    """`monitord/history/db.py` -> `monitord.history.db` (packages: their __init__)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path = REPO) -> Iterator[str]:
    """Every module `path` imports (absolute; `from a import b` yields `a.b` and `a`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            yield mod
            for alias in node.names:
                yield f"{mod}.{alias.name}"


def repo_graph() -> dict[str, set[str]]:
    """module -> the repository modules (and packages) it imports."""
    graph: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            graph[module_name(path)] = {m for m in imports_of(path) if m.split(".")[0] in PACKAGES}
    return graph


REGISTRY = "collectors.registry"


def registered(graph: dict[str, set[str]]) -> frozenset[str]:
    """The collectors: `collectors.X` modules or packages the registry imports."""
    return frozenset(
        ".".join(m.split(".")[:2])
        for m in graph.get(REGISTRY, ())
        if m.startswith("collectors.") and len(m.split(".")) >= 2
    ) - {REGISTRY}


def _collector_of(module: str, collectors: frozenset[str]) -> str | None:
    """The registered collector a `collectors.*` module belongs to; None for shared code."""
    head = ".".join(module.split(".")[:2])
    return head if head in collectors else None


def _known(graph: dict[str, set[str]], target: str) -> str | None:
    """`target` as a module of the graph (`a.b.c` of `from a.b import c` may be a name)."""
    while target:
        if target in graph:
            return target
        target = target.rpartition(".")[0]
    return None


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow of `graph` against the rules of the module docstring."""
    out: list[str] = []
    collectors = registered(graph)
    for src, targets in sorted(graph.items()):
        top = src.split(".")[0]
        for raw in sorted(targets):
            dst = _known(graph, raw) or raw
            dtop = dst.split(".")[0]
            if dst == src or (dst != raw and dst == src.rpartition(".")[0]):
                continue
            arrow = f"{src} -> {dst}"
            if top in ("collectors", "exporters"):
                if dtop == "monitord" and dst not in CORE_VOCABULARY:
                    out.append(f"{arrow}: {top}/ imports core beyond the vocabulary")
                other = "exporters" if top == "collectors" else "collectors"
                if dtop == other:
                    out.append(f"{arrow}: {top}/ imports {other}/")
            if top == "collectors" and dtop == "collectors":
                mine, theirs = _collector_of(src, collectors), _collector_of(dst, collectors)
                if theirs is not None and mine != theirs and src != REGISTRY:
                    out.append(f"{arrow}: a collector imports another collector")
            if top == "monitord" and src not in WIRING and dtop in ("exporters", "collectors"):
                out.append(f"{arrow}: core imports an output or a concrete collector")
            if src.startswith("monitord.history") and dst.startswith("monitord.reports"):
                out.append(f"{arrow}: history imports reports")
    return sorted(set(out))


def test_the_repository_keeps_the_layering() -> None:
    graph = repo_graph()
    assert len(graph) > 80, "the import graph looks empty: wrong REPO?"
    assert violations(graph) == []


def test_the_wiring_is_where_outputs_are_handed_in() -> None:
    graph = repo_graph()
    assert "exporters.reports.files" in graph["monitord.cli"] | graph["monitord.daemon"]
    assert any(m.startswith("exporters") for m in graph["monitord.daemon"])


def _graph(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
        graph.setdefault(dst, set())
    return graph


# The arrows this repository had before issue 13, each one alone in a clean graph.
FORMER = {
    "config imports webconfig": ("monitord.config", "exporters.webconfig"),
    "reports cli imports the HTML renderer": ("monitord.reports.cli", "exporters.reports.html"),
    "reports cli imports the PDF renderer": ("monitord.reports.cli", "exporters.reports.pdf"),
    "reports cli imports the CSV renderer": ("monitord.reports.cli", "exporters.reports.csv"),
    "reports cli imports the collectors": ("monitord.reports.cli", "collectors"),
    "history imports the report job": ("monitord.history.service", "monitord.reports.cli"),
    "history imports the mailer": ("monitord.history.service", "exporters.reports.mail"),
    "history imports report periods": ("monitord.history.service", "monitord.reports.period"),
    "discovery imports icmp": ("collectors.discovery", "collectors.icmp"),
    "host collector imports the agent collector": ("collectors.host", "collectors.agent.parse"),
    "a collector imports an exporter": ("collectors.http", "exporters.webconfig"),
    "an exporter imports a collector": ("exporters.prometheus", "collectors.snmp"),
    "an exporter imports the scheduler": ("exporters.prometheus", "monitord.scheduler"),
}
_CLEAN = [
    ("monitord.daemon", "exporters.prometheus"),
    ("monitord.daemon", "collectors.registry"),
    ("monitord.cli", "exporters.reports.files"),
    ("collectors.icmp", "collectors._pinger"),
    ("collectors.discovery", "collectors._pinger"),
    ("collectors.snmp.collector", "collectors.snmp.inventory"),
    ("collectors.registry", "collectors.icmp"),
    ("collectors.registry", "collectors.discovery"),
    ("collectors.registry", "collectors.host"),
    ("collectors.registry", "collectors.agent"),
    ("collectors.registry", "collectors.http"),
    ("collectors.host", "collectors.hostagent.hostread"),
    ("collectors.agent", "collectors.hostagent.checks"),
    ("exporters.prometheus", "monitord.types"),
    ("monitord.reports.monthly", "monitord.history.db"),
]


def test_the_clean_graph_passes() -> None:
    assert violations(_graph(_CLEAN)) == []


@pytest.mark.parametrize("edge", list(FORMER.values()), ids=list(FORMER))
def test_rules_catch_the_former_violations(edge: tuple[str, str]) -> None:
    found = violations(_graph([*_CLEAN, edge]))
    assert found, f"{edge} was not refused"
    assert all(v.startswith(f"{edge[0]} -> ") for v in found), found


def test_relative_and_lazy_imports_count(tmp_path: Path) -> None:
    pkg = tmp_path / "monitord" / "history"
    pkg.mkdir(parents=True)
    probe = pkg / "probe.py"
    probe.write_text(
        "from . import db\n"
        "from ..reports import job\n"
        "def f():\n"
        "    from monitord.reports.cli import write_monthly\n"
    )
    names = set(imports_of(probe, root=tmp_path))
    assert {"monitord.history.db", "monitord.reports.job", "monitord.reports.cli"} <= names
