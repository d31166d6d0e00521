"""deploy/docker, deploy/grafana provisioning and the generated docs, checked as far as
this machine allows (no container engine, no Grafana server here): files parse, every
referenced path exists, compose services, volumes and mounts agree with the configs they
mount, and generated files are up to date with their generators.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.stack import REPO, which

DOCKER = REPO / "deploy/docker"
GRAFANA = REPO / "deploy/grafana"
# Bind-mount sources the operator creates (documented in compose.yaml / docs/install.md).
OPERATOR_PROVIDED = {"./secrets"}


def compose() -> dict:  # type: ignore[type-arg]
    doc: dict = yaml.safe_load((DOCKER / "compose.yaml").read_text())  # type: ignore[type-arg]
    return doc


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    out = {}
    for v in compose()["services"][service].get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("."):
            out[dst] = (DOCKER / src).resolve()
    return out


def test_compose_services_and_volumes_are_consistent() -> None:
    doc = compose()
    assert set(doc["services"]) == {"monitord", "prometheus", "alertmanager", "grafana"}
    declared = set(doc["volumes"])
    used = set()
    for name, svc in doc["services"].items():
        assert "image" in svc or "build" in svc, name
        for dep in svc.get("depends_on", []):
            assert dep in doc["services"], (name, dep)
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert src in OPERATOR_PROVIDED or (DOCKER / src).exists(), (name, src)
            else:
                used.add(src)
        for p in svc.get("ports", []):
            assert p.startswith("127.0.0.1:"), f"{name} publishes {p} beyond loopback"
    assert used == declared, (used, declared)
    build = doc["services"]["monitord"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_dockerfile_copies_existing_paths_and_runs_the_console_script() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    context = REPO  # compose: context ../.. ; docs: docker build -f deploy/docker/Dockerfile .
    copies = re.findall(r"^COPY (?!--from)(.+?) (\S+)$", text, re.M)
    assert len(copies) >= 4
    for sources, _dst in copies:
        for src in sources.split():
            assert (context / src).exists(), src
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'monitord = "monitord.cli:main"' in pyproject
    assert 'ENTRYPOINT ["/opt/monitord/.venv/bin/monitord"]' in text
    assert re.search(r"^USER monitord$", text, re.M)
    for pkg in re.findall(r"include = \[(.+)\]", pyproject)[0].replace('"', "").split(", "):
        assert f"COPY {pkg.rstrip('*')} " in text, f"package {pkg} not copied into the image"


def test_container_config_is_valid_and_matches_the_mounts(tmp_path: Path) -> None:
    cfg = DOCKER / "monitord.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(cfg.read_text())
    assert doc["daemon"]["listen"] == "0.0.0.0:9877"
    svc = compose()["services"]["monitord"]
    assert f"monitord-data:{doc['daemon']['data_dir']}" in svc["volumes"]
    assert "/etc/monitord/monitord.yaml" in mounts("monitord")


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    text = (DOCKER / "prometheus.yml").read_text()
    for dst, src in mounts("prometheus").items():  # container paths -> this checkout
        text = text.replace(dst, str(src))
    (tmp_path / "prometheus.yml").write_text(text)
    r = subprocess.run(
        [which("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") >= 3  # the config and its two rule files
    cfg = yaml.safe_load(text)
    assert cfg["scrape_configs"][0]["static_configs"][0]["targets"] == ["monitord:9877"]
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


def test_compose_alertmanager_mounts_what_its_config_reads() -> None:
    m = mounts("alertmanager")
    am = yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())
    assert m["/etc/alertmanager/alertmanager.yml"] == REPO / "deploy/alertmanager/alertmanager.yml"
    secret_dir = str(Path(am["global"]["smtp_auth_password_file"]).parent)
    vols = compose()["services"]["alertmanager"]["volumes"]
    assert any(v.split(":")[1] == secret_dir for v in vols), secret_dir


def test_grafana_provisioning_matches_the_compose_mounts_and_dashboards() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/monitord.yml").read_text())
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/monitord.yml").read_text())
    assert ds["apiVersion"] == prov["apiVersion"] == 1
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    env = compose()["services"]["grafana"]["environment"]
    assert source["url"] == "${PROMETHEUS_URL}" and env["PROMETHEUS_URL"].endswith(":9090")
    (provider,) = prov["providers"]
    m = mounts("grafana")
    assert m[provider["options"]["path"]] == GRAFANA / "dashboards"
    assert m["/etc/grafana/provisioning/datasources"] == GRAFANA / "provisioning/datasources"
    uids = set()
    for p in sorted((GRAFANA / "dashboards").glob("*.json")):
        dash = json.loads(p.read_text())
        assert dash["uid"] == p.stem
        uids.add(dash["uid"])
        refs = {t["datasource"]["uid"] for panel in dash["panels"] for t in panel["targets"]}
        assert refs == {source["uid"]}
    assert uids == {
        "monitord-overview",
        "monitord-network",
        "monitord-servers",
        "monitord-databases",
        "monitord-self",
        "monitord-device",
    }


def test_dashboards_are_up_to_date_with_their_generator() -> None:
    r = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_docs_are_up_to_date() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "tools/gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_docs_cover_the_model_and_the_specs() -> None:
    from collectors import COLLECTORS
    from exporters.prometheus import CORE_SPECS
    from monitord.config import DaemonConfig

    conf = (REPO / "docs/configuration.md").read_text()
    for key in DaemonConfig.model_fields:
        assert f"| `{key}` |" in conf, key
    for kind in COLLECTORS:
        assert f"### `targets[].collectors.{kind}`" in conf, kind
    metrics = (REPO / "docs/metrics.md").read_text()
    for spec in CORE_SPECS:
        assert f"| `{spec.name}` |" in metrics
    for name in ("monitord_interface_in_bytes_total", "monitord_poll_errors_total"):
        assert f"| `{name}` |" in metrics


def test_a_runbook_in_spanish_and_english_for_every_builtin_alert() -> None:
    builtin = yaml.safe_load((REPO / "monitord/alerts/rules.yaml").read_text())
    for name in builtin:
        text = (REPO / f"docs/runbooks/{name}.md").read_text()
        assert text.startswith(f"# {name}\n")
        assert "## Español" in text and "## English" in text, name
        assert "**Qué hacer.**" in text and "**What to do.**" in text, name
    self_rules = yaml.safe_load((REPO / "deploy/prometheus/rules/monitord-self.yml").read_text())
    text = (REPO / "docs/runbooks/monitord-self.md").read_text()
    for r in self_rules["groups"][0]["rules"]:
        assert f"## {r['alert']}\n" in text
        assert r["annotations"]["runbook"] == f"docs/runbooks/monitord-self.md#{r['alert']}"


def test_docs_exist_and_link_to_files_that_exist() -> None:
    for name in ("install", "upgrade", "sharding", "configuration", "metrics"):
        text = (REPO / f"docs/{name}.md").read_text()
        for link in re.findall(
            r"\]\(((?:\.\./|\./)?[\w./-]+\.(?:md|yml|yaml|json|service))\)", text
        ):
            assert (REPO / "docs" / link).resolve().exists() or (REPO / link).exists(), (
                name,
                link,
            )
