"""`monitord agent` as a real process on loopback: auth, rate limit, TLS, limits, endpoints.

The helpers here (AgentProc, spawn_agent, self_signed) are also used by test_agent.py;
the `start_agent` fixture is in tests/collectors/conftest.py.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import yaml

from collectors.hostagent.config import load_config
from collectors.hostagent.server import FailureLimiter, render
from monitord.errors import ConfigError
from monitord.types import MetricSpec, Sample, SampleKind
from tests.conftest import free_port, wait_for
from tests.peers.process import stop_process
from tests.peers.tls import write_self_signed

TOKEN = "s3cr3t-agent-token-0123456789abcdef"


@dataclass
class AgentProc:
    """A running agent: its port, token, files and captured stderr."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    log_path: Path
    tls_ca: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_ca else 'http'}://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, timeout: float = 20) -> None:
        """Wait for the "agent listening" log line; fail with the log if the agent exits."""

        def listening() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"agent exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            return "agent listening" in self.log()

        wait_for(listening, timeout, "the agent to listen")

    def request(
        self,
        path: str,
        token: str | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        ctx: ssl.SSLContext | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection; (status, lower-cased headers, body)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if self.tls_ca is not None:
            context = ctx or ssl.create_default_context(cafile=str(self.tls_ca))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=10, context=context
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def metrics(self) -> str:
        status, _, body = self.request("/metrics", self.token)
        assert status == 200, (status, body)
        return body.decode()

    def stop(self, timeout: float = 10) -> int:
        if not stop_process(self.proc, timeout):
            pytest.fail(f"agent ignored SIGTERM for {timeout}s:\n{self.log()[-2000:]}")
        return int(self.proc.returncode)


def spawn_agent(
    tmp_path: Path,
    config: Mapping[str, object] | None = None,
    *,
    token: str = TOKEN,
    tls: tuple[Path, Path, Path] | None = None,
    extra: list[str] | None = None,
    wait: bool = True,
    log_level: str = "debug",
    cli: bool = False,
) -> AgentProc:
    """Start `python -m collectors.hostagent.server` (or, with `cli`, the `monitord agent`
    command itself) on a free loopback port."""
    n = len(list(tmp_path.glob("agent-*.log")))
    token_file = tmp_path / f"agent-{n}.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = free_port()
    args = [
        sys.executable,
        "-m",
        *(["monitord", "agent"] if cli else ["collectors.hostagent.server"]),
        "--listen",
        f"127.0.0.1:{port}",
        "--token-file",
        str(token_file),
        "--log-level",
        log_level,
        "--name",
        "agent-host",
    ]
    # Fast scrapes, and no background apt-get run, unless the test says otherwise.
    cfg = {"host": {"cpu_window": "100ms"}, "security": {"updates": "none"}, **(config or {})}
    cfg_file = tmp_path / f"agent-{n}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    args += ["--config", str(cfg_file)]
    if tls is not None:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    args += extra or []
    log_path = tmp_path / f"agent-{n}.log"
    with open(log_path, "wb") as err:  # the child keeps its own copy
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    agent = AgentProc(proc, port, token, log_path, tls[2] if tls else None)
    if wait:
        agent.wait_listening()
    return agent


def self_signed(tmp_path: Path, name: str = "agent") -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert, key, the cert as CA)."""
    cert_path, key_path = write_self_signed(
        tmp_path / f"{name}.crt", tmp_path / f"{name}.key", "monitord-agent-test"
    )
    return cert_path, key_path, cert_path


def metric(text: str, name: str, **labels: str) -> float | None:
    """Value of the sample of `name` whose labels include `labels` (None if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


# -- authentication ---------------------------------------------------------------------------


def test_refuses_requests_without_the_right_bearer_token(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent()
    cases = {
        "no token": agent.request("/metrics"),
        "wrong token": agent.request("/metrics", "x" * len(TOKEN)),
        "prefix of token": agent.request("/metrics", TOKEN[:-1]),
        "basic scheme": agent.request("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        "token in query": agent.request(f"/metrics?token={TOKEN}"),
        "bearer in query": agent.request(f"/inventory?access_token={TOKEN}&bearer={TOKEN}"),
        "unknown path": agent.request("/admin"),
        "post": agent.request("/metrics", method="POST"),
    }
    for what, (status, headers, body) in cases.items():
        assert status == 401, what
        assert body == b"" and headers["content-length"] == "0", what
        assert headers["www-authenticate"].startswith("Bearer"), what
    status, headers, body = agent.request("/metrics", TOKEN)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"monitord_host_memory_total_bytes" in body
    assert agent.request("/metrics", headers={"Authorization": f"bearer  {TOKEN}"})[0] == 200
    assert agent.request("/nothing", TOKEN)[0] == 404
    assert agent.request("/metrics", TOKEN, method="POST")[0] == 405
    assert agent.stop() == 0
    log = agent.log()
    assert TOKEN not in log and "request refused" in log  # the query string is never logged


def test_failed_attempts_are_rate_limited_per_address(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent({"auth_failures_burst": 3, "auth_failures_per_minute": 60})
    assert [agent.request("/metrics", "wrong" * 4)[0] for _ in range(3)] == [401, 401, 401]
    status, headers, body = agent.request("/metrics", TOKEN)
    assert status == 429 and body == b"" and headers["retry-after"] == "1"
    # One attempt comes back per second (60 per minute): the right token works again.
    wait_for(lambda: agent.request("/metrics", TOKEN)[0] == 200, 5, "the bucket to refill")


def test_failure_limiter_bucket_refills_and_stays_bounded() -> None:
    lim = FailureLimiter(burst=2, per_minute=6, max_clients=3)
    lim.failed("a", now=0.0)
    lim.failed("a", now=0.0)
    assert lim.blocked("a", now=1.0) and not lim.blocked("b", now=1.0)
    assert not lim.blocked("a", now=10.5)  # 6/min: one attempt back after 10 s
    for i in range(10):
        lim.failed(f"c{i}", now=20.0 + i)
    assert len(lim._buckets) <= 3


# -- TLS -------------------------------------------------------------------------------------


def test_tls_with_a_self_signed_certificate(
    tmp_path: Path, start_agent: Callable[..., AgentProc]
) -> None:
    tls = self_signed(tmp_path)
    agent = start_agent(tls=tls)
    status, _, body = agent.request("/metrics", TOKEN)  # trusts the cert as its CA
    assert status == 200 and b"monitord_host_memory_total_bytes" in body
    with pytest.raises(ssl.SSLCertVerificationError):
        agent.request("/metrics", TOKEN, ctx=ssl.create_default_context())  # system CAs only
    other = self_signed(tmp_path, "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        agent.request("/metrics", TOKEN, ctx=ssl.create_default_context(cafile=str(other[2])))
    # A plain-HTTP client gets no answer, and the agent keeps serving.
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = s.recv(65536)
        except ConnectionResetError:
            answer = b""
        assert b"monitord_host" not in answer
    assert agent.request("/metrics", TOKEN)[0] == 200


# -- robustness ------------------------------------------------------------------------------


def test_connection_cap_and_idle_timeout(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent({"max_connections": 2, "request_timeout": "1s"})
    idle = [socket.create_connection(("127.0.0.1", agent.port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)  # let the server accept both
        with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as third:
            third.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            assert third.recv(100) == b""  # closed at once: no slot
        for s in idle:  # slow clients are dropped after request_timeout
            s.settimeout(5)
            assert s.recv(100) == b""
    finally:
        for s in idle:
            s.close()
    assert agent.request("/metrics", TOKEN)[0] == 200


def test_garbage_requests_get_an_empty_error(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent()
    for raw, code in (
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 150 + b"\r\n", b"431"),
    ):
        with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as s:
            s.sendall(raw)
            head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 " + code), head[:60]
        assert head.endswith(b"\r\n\r\n") and b"content-length: 0" in head.lower()
        assert b"server: monitord-agent\r\n" in head.lower()
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # read as HTTP/0.9: closed without an answer
        assert s.recv(65536) == b""
    assert agent.request("/metrics", TOKEN)[0] == 200


# -- start-up and config ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "token", "code", "message"),
    [
        ({"bogus": 1}, TOKEN, 2, "bogus: unknown key"),
        ({"services": {"x": {"process": "a", "systemd": "b.service"}}}, TOKEN, 2,
         "services.x: give exactly one"),
        ({"services": {"x": {"systemd": "--now"}}}, TOKEN, 2, "not a systemd unit name"),
        ({"host": {"cpu_window": "5m"}}, TOKEN, 2, "cpu_window"),
        ({}, "short", 2, "shorter than 16 characters"),
    ],
    ids=["unknown-key", "two-kinds", "option-injection", "host-option", "short-token"],
)  # fmt: skip
def test_bad_config_or_token_exits_2_naming_the_field(
    tmp_path: Path, config: dict[str, object], token: str, code: int, message: str
) -> None:
    agent = spawn_agent(tmp_path, config, token=token, wait=False)
    assert agent.proc.wait(20) == code
    assert message in agent.log()
    assert token not in agent.log() or token == "short"


def test_address_in_use_exits_3(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        agent = spawn_agent(tmp_path, {}, extra=["--listen", f"127.0.0.1:{port}"], wait=False)
        assert agent.proc.wait(20) == 3
    assert "agent not started" in agent.log()


def test_defaults_bind_loopback_and_flags_override_the_file(tmp_path: Path) -> None:
    cfg = load_config(None, {"token_file": "/t"})
    assert cfg.listen == "127.0.0.1:9878" and cfg.tls_cert == ""
    f = tmp_path / "agent.yaml"
    f.write_text("listen: 0.0.0.0:9878\ntoken_file: /etc/t\nchecks_interval: 30s\n")
    cfg = load_config(str(f), {"listen": "127.0.0.2:1234", "tls_cert": None})
    assert cfg.listen == "127.0.0.2:1234" and cfg.token_file == "/etc/t"
    assert cfg.checks_interval == 30.0
    with pytest.raises(ConfigError) as ei:
        load_config(str(f), {"listen": "nowhere"})
    assert [i.field for i in ei.value.issues] == ["listen"] and ei.value.issues[0].path == str(f)


def test_render_escapes_and_types() -> None:
    specs = {"monitord_x_total": MetricSpec("monitord_x_total", SampleKind.COUNTER, "a \\ b\nc")}
    text = render(
        [
            Sample("monitord_x_total", {"target": 't"1\\\n'}, 3, SampleKind.COUNTER),
            Sample("monitord_y", {"target": "t"}, 0.25),
        ],
        specs,
    ).decode()
    assert text == (
        "# HELP monitord_x_total a \\\\ b\\nc\n# TYPE monitord_x_total counter\n"
        'monitord_x_total{target="t\\"1\\\\\\n"} 3\nmonitord_y{target="t"} 0.25\n'
    )


# -- what it serves ----------------------------------------------------------------------------


def test_metrics_agree_with_psutil_and_pass_promtool(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent({"host": {"cpu_window": "200ms"}})
    text = agent.metrics()
    assert (
        metric(text, "monitord_host_memory_total_bytes", target="agent-host")
        == psutil.virtual_memory().total
    )
    assert metric(text, "monitord_host_swap_total_bytes") == psutil.swap_memory().total
    assert metric(text, "monitord_host_cpus") == psutil.cpu_count()
    st = os.statvfs("/")
    assert (
        metric(text, "monitord_host_filesystem_size_bytes", mountpoint="/")
        == st.f_blocks * st.f_frsize
    )
    assert metric(text, "monitord_host_boot_time_seconds") == psutil.boot_time()
    ratio = metric(text, "monitord_host_cpu_utilization_ratio")
    assert ratio is not None and 0.0 <= ratio <= 1.0
    lo = str(socket.if_nametoindex("lo"))
    assert metric(text, "monitord_interface_in_bytes_total", ifname="lo", ifindex=lo) is not None
    info = {
        "hostname": socket.gethostname(),
        "arch": os.uname().machine,
        "kernel": os.uname().release,
    }
    assert metric(text, "monitord_host_info", **info) == 1
    res = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert res.returncode == 0 and res.stdout == res.stderr == b"", (res.stdout, res.stderr)


def test_checks_show_up_and_follow_changes(
    tmp_path: Path, start_agent: Callable[..., AgentProc]
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "db-1.sql.gz").write_bytes(b"z" * 2048)
    auth_log = tmp_path / "auth.log"
    auth_log.write_text("Mar  1 09:00:00 vm sshd[1]: Failed password for root from 127.0.0.1\n")
    agent = start_agent({
        "checks_interval": "200ms",
        "services": {"agent": {"process": "python3" if "python3" in sys.executable
                               else os.path.basename(sys.executable)},
                     "nothing": {"process": "no-such-proc-zz"}},
        "backups": {"db": {"path": str(backups), "pattern": "*.sql.gz"}},
        "files": {"flag": str(tmp_path / "flag")},
        "security": {"failed_logins": "file", "auth_log": str(auth_log), "updates": "none",
                     "firewall": "none"},
    })  # fmt: skip
    text = agent.metrics()
    assert metric(text, "monitord_backup_files", backup="db") == 1
    assert metric(text, "monitord_backup_newest_size_bytes", backup="db") == 2048
    assert metric(text, "monitord_service_up", service="nothing") == 0
    assert metric(text, "monitord_file_exists", file="flag") == 0
    assert metric(text, "monitord_host_failed_logins_total") == 0
    (backups / "db-2.sql.gz").write_bytes(b"z" * 4096)
    (tmp_path / "flag").write_text("done")
    with auth_log.open("a") as fh:
        fh.write("Mar  1 09:00:05 vm sshd[2]: Failed password for invalid user x from 127.0.0.2\n")
        fh.write("Mar  1 09:00:06 vm sshd[2]: Failed password for invalid user y from 127.0.0.2\n")

    def changed() -> str | None:
        t = agent.metrics()
        ok = (
            metric(t, "monitord_backup_files", backup="db") == 2
            and metric(t, "monitord_file_exists", file="flag") == 1
            and metric(t, "monitord_host_failed_logins_total") == 2
        )
        return t if ok else None

    text = str(wait_for(changed, 10, "the checks to see the changes"))
    assert metric(text, "monitord_backup_total_size_bytes", backup="db") == 2048 + 4096
    assert metric(text, "monitord_backup_newest_size_bytes", backup="db") == 4096
    age = metric(text, "monitord_backup_newest_age_seconds", backup="db")
    assert age is not None and 0 <= age < 30
    assert metric(text, "monitord_agent_check_failures", check="backup") == 0


def test_inventory_json(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent()
    status, headers, body = agent.request("/inventory", TOKEN)
    assert status == 200 and headers["content-type"] == "application/json"
    inv = json.loads(body)
    assert inv["target"] == "agent-host" and inv["hostname"] == socket.gethostname()
    assert inv["memory_bytes"] == psutil.virtual_memory().total
    assert inv["software_source"] == "dpkg"
    assert {"name", "version", "arch", "publisher"} <= set(inv["software"][0])
    assert {p["name"] for p in inv["software"]} >= {"dpkg", "python3"}
    status2, _, body2 = agent.request("/inventory", TOKEN)
    assert status2 == 200 and body2 == body  # cached for inventory_cache


def test_sigterm_stops_promptly(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent()
    t0 = time.monotonic()
    assert agent.stop() == 0 and time.monotonic() - t0 < 5
    assert "agent stopping" in agent.log()


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("services: {x: {process: 5}}", "services.x.process", "expected str, got int"),
        ("checks_interval: soon", "checks_interval", "invalid duration"),
        ("checks_interval: 0", "checks_interval", "greater than zero"),
        ("security: {updates: yum}", "security.updates", "expected one of"),
        ("backups: {b: {pattern: '*.gz'}}", "backups.b.path", "required key missing"),
        ("host: {bogus: 1}", "host.bogus", "unknown key"),
        ("host: {interfaces_exclude: 'veth.*'}", "host.interfaces_exclude", "expected a list"),
        ("host: {disks_exclude: ['(sd']}", "host.disks_exclude[0]", "regular expression"),
        ("max_connections: true", "max_connections", "expected int, got bool"),
        ("files: [a, b]", "files", "expected a mapping"),
        ("services: {'bad name': {process: x}}", "services.bad name", "names are"),
        ("backups: {b: {path: /srv, max_age: 0}}", "backups.b.max_age", "greater than"),
    ],
)
def test_agent_config_is_validated_strictly(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(text + "\ntoken_file: /t\n")
    with pytest.raises(ConfigError) as ei:
        load_config(str(f))
    issue = ei.value.issues[0]
    assert (issue.path, issue.field) == (str(f), field) and message in issue.message, str(issue)


_LIGHT_LAUNCHER = """
import sys
# The package as the unit runs it: collectors/__init__.py loads the daemon's collector
# table only on first use, so the agent itself must pull in none of it.
from collectors.hostagent import server as agent_server
heavy = {m.split(".")[0] for m in sys.modules} & {"pydantic", "httpx", "pysnmp", "apscheduler",
                                                   "cryptography", "sqlite3", "prometheus_client"}
if heavy:
    raise SystemExit("heavy imports: " + " ".join(sorted(heavy)))
raise SystemExit(agent_server.main(sys.argv[1:]))
"""


def test_the_agent_itself_imports_no_daemon_machinery_and_stays_under_40_mb(tmp_path: Path) -> None:
    token_file = tmp_path / "t"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    port = free_port()
    log_path = tmp_path / "light.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _LIGHT_LAUNCHER,
                "--listen",
                f"127.0.0.1:{port}",
                "--token-file",
                str(token_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    agent = AgentProc(proc, port, TOKEN, log_path)
    try:
        agent.wait_listening()
        for _ in range(3):
            agent.metrics()
        assert agent.request("/inventory", TOKEN)[0] == 200
        rss = psutil.Process(proc.pid).memory_info().rss
        assert rss < 40 * 1024 * 1024, f"RSS {rss / 2**20:.1f} MiB"
    finally:
        assert agent.stop() == 0


# -- the shipped systemd unit ----------------------------------------------------------------

UNIT = Path(__file__).parents[2] / "deploy" / "systemd" / "monitord-agent.service"
UNIT_PYTHON = "/opt/monitord/.venv/bin/python"


def _unit_settings(text: str) -> dict[str, list[str]]:
    """KEY -> values of a unit file ([Service] and all), continuation lines joined."""
    out: dict[str, list[str]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(" ".join(value.split()))
    return out


def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze not found: apt-get install systemd")
    text = UNIT.read_text()
    assert UNIT_PYTHON in text
    unit = tmp_path / "monitord-agent.service"  # the same unit, this checkout's interpreter
    unit.write_text(text.replace(UNIT_PYTHON, sys.executable))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout == res.stderr == "", (res.stdout, res.stderr)
    res = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = res.stdout.rsplit("Overall exposure level for monitord-agent.service:", 1)[-1]
    assert res.returncode == 0 and float(score.split()[0]) <= 2.5, res.stdout[-400:]
    s = _unit_settings(text)
    assert s["User"] == ["monitord-agent"] and s["Group"] == ["monitord-agent"]
    for key, value in {
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "RestrictSUIDSGID": "yes", "MemoryDenyWriteExecute": "yes",
        "SystemCallFilter": "@system-service", "UMask": "0077",
    }.items():  # fmt: skip
        assert s[key] == [value], key
    assert "ReadWritePaths" not in s  # the agent writes nothing
    assert sorted(s["LoadCredential"]) == [
        "tls.key:/etc/monitord/agent.key", "token:/etc/monitord/agent.token"
    ]  # fmt: skip


def test_systemd_unit_exec_start_runs_the_agent(tmp_path: Path) -> None:
    """The unit's ExecStart with this machine's paths: it serves /metrics over TLS."""
    cert, key, ca = self_signed(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("host: {cpu_window: 100ms}\nsecurity: {updates: none}\n")
    port = free_port()
    (cmd,) = _unit_settings(UNIT.read_text())["ExecStart"]
    for old, new in {
        UNIT_PYTHON: sys.executable, "0.0.0.0:9878": f"127.0.0.1:{port}",
        "%d/token": str(token_file), "%d/tls.key": str(key),
        "/etc/monitord/agent.crt": str(cert), "/etc/monitord/agent.yaml": str(cfg),
    }.items():  # fmt: skip
        assert old in cmd, old
        cmd = cmd.replace(old, new)
    log_path = tmp_path / "unit.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(cmd.split(), stdout=subprocess.DEVNULL, stderr=err, cwd="/")
    agent = AgentProc(proc, port, TOKEN, log_path, ca)
    try:
        agent.wait_listening()
        text = agent.metrics()
        assert metric(text, "monitord_host_memory_total_bytes") == psutil.virtual_memory().total
        assert agent.request("/metrics")[0] == 401
    finally:
        assert agent.stop() == 0
