"""`daemon.web_config`: basic auth (bcrypt) and TLS on /metrics of the real daemon.

The daemon runs as `monitord run`; the web config file is the exporter-toolkit format,
also checked by `promtool check web-config`, and a real Prometheus scrapes the daemon
with the `scheme: https` + `basic_auth` + `tls_config` of deploy/prometheus/prometheus.yml.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from exporters.webconfig import hash_password
from tests.conftest import free_port
from tests.deploy.stack import PROMETHEUS, query, stop, which
from tests.peers.smtp import make_cert

PASSWORD = "s3cr3t-scrape-pw"


def _config(tmp: Path, port: int, web: str) -> Path:
    cfg = tmp / "monitord.yaml"
    cfg.write_text(
        f"daemon: {{listen: '127.0.0.1:{port}', data_dir: {tmp / 'var'}, web_config: {web},"
        " startup_spread: 1s}\n"
        "targets:\n  - {name: lo, address: 127.0.0.1, collectors: {icmp: {count: 1, interval: 2s}}}\n"
    )
    return cfg


def _get(
    url: str, auth: tuple[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read().decode()


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return make_cert(tmp_path)


def _write_web(tmp: Path, cert: Path | None, key: Path | None) -> Path:
    hashed = hash_password(PASSWORD, cost=4)
    text = f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    if cert is not None and key is not None:
        text += f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
    web = tmp / "web.yml"
    web.write_text(text)
    r = subprocess.run(
        [which("promtool"), "check", "web-config", str(web)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return web


def test_basic_auth_on_plain_http(tmp_path: Path) -> None:
    port = free_port()
    _write_web(tmp_path, None, None)
    cfg = _config(tmp_path, port, "web.yml")  # relative to the config file
    proc = start_daemon_unauth(cfg, tmp_path / "daemon.log", port)
    try:
        base = f"http://127.0.0.1:{port}"
        code, headers, _ = _get(base + "/metrics")
        assert code == 401
        assert headers["WWW-Authenticate"].startswith('Basic realm="monitord"')
        assert _get(base + "/metrics", ("prometheus", "wrong"))[0] == 401
        assert _get(base + "/metrics", ("nobody", PASSWORD))[0] == 401
        code, _, body = _get(base + "/metrics", ("prometheus", PASSWORD))
        assert code == 200 and "monitord_build_info{" in body
        assert _get(base + "/healthz", ("prometheus", PASSWORD))[0] == 200
    finally:
        stop(proc)
    assert PASSWORD not in (tmp_path / "daemon.log").read_text()


def test_tls_and_basic_auth_scraped_by_prometheus(tmp_path: Path, certs: tuple[Path, Path]) -> None:
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} not found: apt-get install prometheus")
    cert, key = certs
    port = free_port()
    _write_web(tmp_path, cert, key)
    cfg = _config(tmp_path, port, str(tmp_path / "web.yml"))
    proc = start_daemon_unauth(cfg, tmp_path / "daemon.log", port, tls=True)
    prom = None
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        code, _, body = _get(f"https://127.0.0.1:{port}/metrics", ("prometheus", PASSWORD), ctx)
        assert code == 200 and "monitord_build_info{" in body
        assert _get(f"https://127.0.0.1:{port}/metrics", None, ctx)[0] == 401
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _get(f"http://127.0.0.1:{port}/metrics", ("prometheus", PASSWORD))
        # a real Prometheus, configured as deploy/prometheus/prometheus.yml says
        (tmp_path / "scrape.password").write_text(PASSWORD)
        prom_port = free_port()
        pdir = tmp_path / "prom"
        pdir.mkdir()
        (pdir / "prometheus.yml").write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "monitord",
                            "scheme": "https",
                            "tls_config": {"ca_file": str(cert), "server_name": "localhost"},
                            "basic_auth": {
                                "username": "prometheus",
                                "password_file": str(tmp_path / "scrape.password"),
                            },
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                        }
                    ],
                }
            )
        )
        prom = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={pdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={pdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            try:
                result = query(
                    f"http://127.0.0.1:{prom_port}", 'monitord_build_info{job="monitord"}'
                )
            except (OSError, AssertionError):
                result = []
            if result:
                break
            time.sleep(0.5)
        assert result, "Prometheus never scraped the TLS + basic auth endpoint"
        up = query(f"http://127.0.0.1:{prom_port}", 'up{job="monitord"}')
        assert [r["value"][1] for r in up] == ["1"]
    finally:
        stop(prom)
        stop(proc)
    assert PASSWORD not in (tmp_path / "daemon.log").read_text()


def test_check_config_reports_a_bad_web_config(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: plaintext\n")
    cfg = _config(tmp_path, free_port(), "web.yml")
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "web.yml" in r.stderr and "basic_auth_users.prometheus" in r.stderr, r.stderr
    assert "plaintext" not in r.stderr


def start_daemon_unauth(
    cfg: Path, log_path: Path, port: int, tls: bool = False
) -> subprocess.Popen[bytes]:
    """Start the daemon; readiness is a 401 (auth on) rather than a 200."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=cfg.parent,
        )
    ctx = ssl._create_unverified_context() if tls else None  # readiness only
    scheme = "https" if tls else "http"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if _get(f"{scheme}://127.0.0.1:{port}/healthz", context=ctx)[0] == 401:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc)
    pytest.fail(f"daemon not answering on {port}:\n{log_path.read_text()[-3000:]}")
