"""deploy/ checked by the real tools: promtool, amtool, systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.stack import REPO, which

PROM = REPO / "deploy/prometheus"
ALERTMANAGER = REPO / "deploy/alertmanager/alertmanager.yml"
UNITS = sorted((REPO / "deploy/systemd").glob("*.service"))


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_check_config(tmp_path: Path) -> None:
    # The files an operator provides (deploy/README.md): token and CA of the agents.
    work = tmp_path / "prometheus"
    shutil.copytree(PROM, work)
    (work / "secrets").mkdir()
    (work / "secrets/agent.token").write_text("token\n")
    (work / "agent-ca.crt").write_text("")
    r = run(which("promtool"), "check", "config", "prometheus.yml", cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    # every rule file it names was checked along with it
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    for f in cfg["rule_files"]:
        assert (PROM / f).is_file(), f
        assert f"{f}" in r.stdout


def test_promtool_check_rules() -> None:
    files = sorted((PROM / "rules").glob("*.yml"))
    assert len(files) == 3
    r = run(which("promtool"), "check", "rules", *map(str, files))
    assert r.returncode == 0, r.stdout + r.stderr
    found = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", r.stdout)]
    assert len(found) == 3 and sum(found) >= 35, r.stdout


def _alerts(path: Path) -> set[str]:
    return {
        r["alert"]
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def test_promtool_test_rules_cover_every_alert() -> None:
    tests = sorted((PROM / "tests").glob("*.test.yml"))
    r = run(which("promtool"), "test", "rules", *map(str, tests))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests) == 3
    tested: set[str] = set()
    for t in tests:
        doc = yaml.safe_load(t.read_text())
        for case in doc["tests"]:
            for a in case.get("alert_rule_test", []):
                if a.get("exp_alerts"):  # a test that expects it to fire
                    tested.add(a["alertname"])
    defined = set().union(*(_alerts(p) for p in (PROM / "rules").glob("*.yml")))
    assert defined - tested == set(), f"alerts without a firing unit test: {defined - tested}"


def test_alerting_rules_are_monitords_builtin_defaults() -> None:
    """Same names, severities, thresholds and `for` as monitord/alerts/rules.yaml."""
    builtin = yaml.safe_load((REPO / "monitord/alerts/rules.yaml").read_text())
    rules = {
        r["alert"]: r
        for g in yaml.safe_load((PROM / "rules/monitord-alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert set(rules) == set(builtin)
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def dur(v: object) -> float:
        if v in (None, 0):
            return 0.0
        m = re.fullmatch(r"(\d+)([smhd])", str(v))
        assert m, v
        return int(m.group(1)) * seconds[m.group(2)]

    for name, b in builtin.items():
        r = rules[name]
        assert r["labels"]["severity"] == b.get("severity", "warning"), name
        if b["kind"] != "trend":
            assert dur(r.get("for")) == dur(b.get("for")), name
        for key in ("threshold", "clear"):
            if key in b:
                v = float(b[key])
                text = str(int(v)) if v.is_integer() and v > 1 else str(v)
                assert re.search(rf"[<>] {re.escape(text)}\b", r["expr"]), (name, key, text)
        assert r["annotations"]["runbook"] == f"docs/runbooks/{name}.md"
        assert (REPO / r["annotations"]["runbook"]).is_file(), name


def test_amtool_check_config() -> None:
    r = run(which("amtool"), "check-config", str(ALERTMANAGER))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout and "3 receivers" in r.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=target_down", "severity=critical", "target=sw-1"], "oncall-email-and-webhook"),
        (["alertname=cpu_high", "severity=warning", "target=srv-1"], "oncall-email"),
        (["alertname=monitord_down", "severity=critical"], "sysadmin-email"),
    ],
    ids=["critical-pages-webhook", "warning-email", "self-to-sysadmins"],
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    r = run(which("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == receiver


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} >= {
        "monitord.service",
        "monitord@.service",
        "monitord-agent.service",
    }
    venv = REPO / ".venv"
    names = []
    for unit in UNITS:
        # the units name the installed paths (/opt/monitord/.venv): point them at this
        # checkout's venv so systemd can check the executables exist
        text = unit.read_text().replace("/opt/monitord/.venv", str(venv))
        name = unit.name.replace("@.", "@1.")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    r = run(which("systemd-analyze"), "verify", *names)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_daemon_unit_has_only_cap_net_raw_and_a_state_directory() -> None:
    text = (REPO / "deploy/systemd/monitord.service").read_text()
    directives = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    assert directives["User"] == "monitord"
    assert directives["CapabilityBoundingSet"] == "CAP_NET_RAW"
    assert directives["AmbientCapabilities"] == "CAP_NET_RAW"
    assert directives["ProtectSystem"] == "strict"
    assert directives["StateDirectory"] == "monitord"
    assert directives["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert directives["NoNewPrivileges"] == "yes"
