"""The `agent` collector against real peers on loopback: a `monitord agent` process, Debian's
prometheus-node-exporter, a windows_exporter recording served over HTTP, misbehaving HTTP
servers, and the daemon itself pulling an agent."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from collectors.agent import KIND, AgentCollector, AgentKind, Options, build
from collectors.host import HostCollector
from exporters.prometheus import ExpositionRenderer
from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConfigError,
    ConnectionRefused,
    MalformedResponse,
    TargetTimeout,
    TargetUnreachable,
    TlsFailed,
)
from monitord.state import State
from monitord.types import Sample, SampleKind, Shared, Target
from tests.collectors.test_agent_server import TOKEN, AgentProc, metric, self_signed
from tests.conftest import FakeClock, free_port, http_get, wait_for
from tests.peers.process import stop_process

DATA = Path(__file__).parent / "data" / "windows"
TARGET = Target("srv-app-01", "127.0.0.1")
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def _collect(options: dict[str, object], target: Target = TARGET) -> list[Sample]:
    async def go() -> list[Sample]:
        shared = Shared()
        try:
            return await build(options, shared).collect(target)
        finally:
            await shared.aclose()

    return asyncio.run(go())


def _inventory(options: dict[str, object], target: Target = TARGET) -> dict[str, object]:
    async def go() -> dict[str, object]:
        shared = Shared()
        try:
            return await build(options, shared).inventory(target)
        finally:
            await shared.aclose()

    return asyncio.run(go())


def _fails(
    options: dict[str, object], cls: type[CollectorError], target: Target = TARGET
) -> CollectorError:
    with pytest.raises(CollectorError) as ei:
        _collect(options, target)
    assert type(ei.value) is cls, f"{type(ei.value).__name__}: {ei.value}"
    assert TOKEN not in str(ei.value)
    return ei.value


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def _series(samples: list[Sample], name: str, label: str) -> dict[str, float]:
    return {s.labels[label]: s.value for s in samples if s.name == name}


@pytest.fixture
def node_exporter() -> Iterator[str]:
    """Debian's prometheus-node-exporter on a free loopback port; yields its base URL."""
    if not os.access(NODE_EXPORTER, os.X_OK):
        pytest.fail(f"{NODE_EXPORTER} missing: apt-get install prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"node exporter exited with {proc.returncode}")
            try:
                return http_get(url + "/metrics", timeout=2)[0] == 200
            except OSError:
                return False

        wait_for(up, 15, "node exporter")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# -- misbehaving HTTP peers ------------------------------------------------------------------


class _Bad(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        route = self.path.split("/")[1]
        if route == "truncated":
            self._head(200, "text/plain", {"Content-Length": "1000"})
            self.wfile.write(b'monitord_host_memory_total_bytes{target="x"} 1\n' * 2)
        elif route == "noeol":
            self._send(200, "text/plain", b'monitord_host_memory_total_bytes{target="x"} 1')
        elif route == "html":
            self._send(200, "text/html", b"<!DOCTYPE html><html><body>Login</body></html>\n")
        elif route == "json":
            self._send(200, "application/json", b'{"status": "ok"}\n')
        elif route == "huge":  # no Content-Length: the close ends it
            self._head(200, "text/plain", {})
            line = b'monitord_host_load1{target="x"} 1\n' * 1000
            try:
                for _ in range(3000):  # ~100 MB if the client read it all
                    self.wfile.write(line)
            except OSError:
                pass
        elif route == "declared":
            self._head(200, "text/plain", {"Content-Length": str(200 * 1024 * 1024)})
        elif route == "slow":
            self._head(200, "text/plain", {})
            time.sleep(8)
        elif route == "error":
            self._send(500, "text/plain", b"boom\n")
        elif route == "ratelimited":
            self._send(429, "text/plain", b"")
        elif route == "redirect":
            self._head(302, "text/plain", {"Location": "/html/metrics", "Content-Length": "0"})
        elif route == "windows":
            self._send(
                200, "text/plain; version=0.0.4", (DATA / "windows_exporter.prom").read_bytes()
            )
        else:
            self._send(404, "text/plain", b"not found\n")

    def _head(self, code: int, ctype: str, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self._head(code, ctype, {"Content-Length": str(len(body))})
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def bad_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bad)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(10)


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": "https://10.0.1.20:9878", "bogus": 1}, "bogus"),
        ({"url": "https://10.0.1.20:9878"}, "token"),
        ({"url": "http://10.0.1.20:9878", "token": TOKEN}, "url"),
        ({"url": "ftp://10.0.1.20", "token": TOKEN}, "url"),
        ({"url": "https://10.0.1.20:9878/?token=x", "token": TOKEN}, "url"),
        ({"url": "https://10.0.1.20:9878", "token": TOKEN, "ca_file": "/nonexistent/ca.pem"},
         "ca_file"),
        ({"url": "https://10.0.1.20:9878", "token": TOKEN, "kind": "snmp"}, "kind"),
        ({"kind": "node_exporter", "cpu_window": "1m"}, "cpu_window"),
        ({"kind": "node_exporter", "max_body_bytes": 10}, "max_body_bytes"),
        ({"kind": "node_exporter", "inventory_every": 0}, "inventory_every"),
    ],
    ids=["unknown-key", "no-token", "token-over-http", "scheme", "query", "ca-file", "kind",
         "cpu-window", "body-cap", "inventory-every"],
)  # fmt: skip
def test_bad_options_are_config_errors_naming_the_field(
    options: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as ei:
        build(options, Shared())
    assert [i.field for i in ei.value.issues] == [field], str(ei.value)
    assert TOKEN not in str(ei.value)


def test_options_defaults_and_default_urls(tmp_path: Path) -> None:
    tok = tmp_path / "t"
    tok.write_text(TOKEN + "\n")
    c = build({"token": f"file:{tok}"}, Shared())
    assert KIND == "agent" and c.options.kind is AgentKind.MONITORD
    assert c.options.token is not None and c.options.token.reveal() == TOKEN
    assert repr(c.options).count(TOKEN) == 0
    assert (c.options.max_body_bytes, c.options.inventory_every) == (8 * 1024 * 1024, 60)
    assert c.options == Options(token=c.options.token)
    srv = Target("srv", "10.0.1.20")
    assert c.url(srv, "metrics") == "https://10.0.1.20:9878/metrics"
    assert c.url(Target("v6", "fd00::20"), "inventory") == "https://[fd00::20]:9878/inventory"
    node = build({"kind": "node_exporter", "cpu_window": 0}, Shared())
    assert (
        node.url(srv, "metrics") == "http://10.0.1.20:9100/metrics" and node.options.cpu_window == 0
    )
    win = build({"kind": "windows_exporter", "url": "http://10.0.1.21:9182/metrics"}, Shared())
    assert win.url(srv, "metrics") == "http://10.0.1.21:9182/metrics"
    ok = build({"url": "http://127.0.0.1:9878", "token": TOKEN}, Shared())  # loopback: fine
    assert ok.url(srv, "inventory") == "http://127.0.0.1:9878/inventory"
    lan = build(
        {"url": "http://10.0.1.20:9878", "token": TOKEN, "allow_plain_http": True}, Shared()
    )
    assert lan.options.allow_plain_http


# -- the monitord agent -----------------------------------------------------------------------


def test_pulls_a_real_agent_and_values_agree_with_psutil(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent({"services": {"ghost": {"process": "no-such-proc-zz"}}})
    samples = _collect({"url": agent.url, "token": TOKEN})
    assert samples and all(s.labels["target"] == TARGET.name for s in samples)
    assert _one(samples, "monitord_host_memory_total_bytes") == psutil.virtual_memory().total
    assert _one(samples, "monitord_host_swap_total_bytes") == psutil.swap_memory().total
    st = os.statvfs("/")
    assert (
        _one(samples, "monitord_host_filesystem_size_bytes", mountpoint="/")
        == st.f_blocks * st.f_frsize
    )
    assert _one(samples, "monitord_host_filesystem_inodes", mountpoint="/") == st.f_files
    assert _one(samples, "monitord_host_cpus") == psutil.cpu_count()
    assert _one(samples, "monitord_host_boot_time_seconds") == psutil.boot_time()
    assert _one(samples, "monitord_service_up", service="ghost") == 0
    assert _one(samples, "monitord_host_info", hostname=socket.gethostname()) == 1
    counters = [s for s in samples if s.kind is SampleKind.COUNTER]
    assert counters and all(s.bits == 64 for s in counters)
    bytes_counters = [s for s in counters if "bytes" in s.name or "packets" in s.name]
    assert bytes_counters and all(isinstance(s.value, int) for s in bytes_counters)  # exact
    # The same series names as the in-process host collector (speed: only when known).
    host_names = {m.name for m in HostCollector.metrics} - {"monitord_interface_speed_bytes"}
    assert host_names <= {s.name for s in samples}


def test_contract_every_sample_matches_its_spec_and_promtool_accepts(
    start_agent: Callable[..., AgentProc], clock: FakeClock
) -> None:
    agent = start_agent(
        {"backups": {"b": {"path": "/nonexistent"}}, "files": {"f": "/etc/hostname"}}
    )
    samples = _collect({"url": agent.url, "token": TOKEN})
    specs = {m.name: m for m in AgentCollector.metrics}
    assert len(specs) == len(AgentCollector.metrics)
    for spec in specs.values():
        assert spec.name.startswith("monitord_") and spec.labels[0] == "target"
        assert spec.name.endswith("_total") == (spec.kind is SampleKind.COUNTER), spec.name
        assert "value from" in spec.help
    for s in samples:
        spec = specs[s.name]
        assert s.kind is spec.kind and set(s.labels) == set(spec.labels), s
    assert len({(s.name, tuple(sorted(s.labels.items()))) for s in samples}) == len(samples)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package")
    state = State(clock)
    state.set_targets([TARGET])
    state.record(TARGET, KIND, samples, ok=True)
    text = ExpositionRenderer(AgentCollector.metrics).render(state.snapshot())
    assert b'monitord_backup_files{backup="b",target="srv-app-01"} 0' in text
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert res.returncode == 0 and res.stdout == res.stderr == b"", (res.stdout, res.stderr)


def test_inventory_through_the_collector(start_agent: Callable[..., AgentProc]) -> None:
    agent = start_agent()
    inv = _inventory({"url": agent.url, "token": TOKEN})
    assert inv["target"] == TARGET.name and inv["hostname"] == socket.gethostname()
    assert inv["memory_bytes"] == psutil.virtual_memory().total
    assert inv["software_source"] == "dpkg" and len(inv["software"]) > 100  # type: ignore[arg-type]


def test_wrong_token_and_rate_limit_are_auth_failures(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent({"auth_failures_burst": 2, "auth_failures_per_minute": 1})
    wrong = "not-the-token-0123456789abcdef"
    err = _fails({"url": agent.url, "token": wrong}, AuthFailed)
    assert "401" in str(err) and wrong not in str(err)
    _fails({"url": agent.url, "token": wrong}, AuthFailed)
    err = _fails({"url": agent.url, "token": TOKEN}, AuthFailed)  # now limited: 429
    assert "429" in str(err)


def test_tls_trusted_untrusted_and_plain(
    tmp_path: Path, start_agent: Callable[..., AgentProc]
) -> None:
    _, _, ca = tls = self_signed(tmp_path)
    agent = start_agent(tls=tls)
    url = f"https://127.0.0.1:{agent.port}"
    good = _collect({"url": url, "token": TOKEN, "ca_file": str(ca)})
    assert _one(good, "monitord_host_memory_total_bytes") == psutil.virtual_memory().total
    local = _collect({"url": f"https://localhost:{agent.port}", "token": TOKEN, "ca_file": str(ca)})
    assert local  # the DNS name in the SAN works too
    _fails({"url": url, "token": TOKEN}, TlsFailed)  # system CAs do not know it
    other = self_signed(tmp_path, "other")
    err = _fails({"url": url, "token": TOKEN, "ca_file": str(other[2])}, TlsFailed)
    assert "ca_file" in str(err)
    plain = start_agent()
    _fails({"url": f"https://127.0.0.1:{plain.port}", "token": TOKEN}, TlsFailed)


def test_unreachable_refused_and_timeout(bad_server: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        _fails({"url": f"http://127.0.0.1:{port}", "token": TOKEN}, ConnectionRefused)
    t0 = time.monotonic()
    err = _fails(
        {"url": f"{bad_server}/slow", "token": TOKEN, "http_timeout": "700ms"}, TargetTimeout
    )
    assert time.monotonic() - t0 < 3 and "0.7s" in str(err)
    with socket.socket() as silent:  # accepts (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        _fails({"url": url, "token": TOKEN, "http_timeout": "500ms"}, TargetTimeout)
        assert time.monotonic() - t0 < 3
    _fails({"url": f"{bad_server}/error", "token": TOKEN}, TargetUnreachable)


@pytest.mark.parametrize(
    ("route", "cls", "says"),
    [
        ("truncated", MalformedResponse, "broken HTTP answer"),
        ("noeol", MalformedResponse, "line feed"),
        ("html", MalformedResponse, "HTML"),
        ("json", MalformedResponse, "JSON"),
        ("declared", MalformedResponse, "exceeds"),
        ("nowhere", MalformedResponse, "HTTP 404"),
        ("redirect", MalformedResponse, "HTTP 302"),
        ("ratelimited", AuthFailed, "429"),
        ("windows", MalformedResponse, "no monitord_host_* series"),
    ],
)
def test_garbage_answers_are_reasoned_errors(
    bad_server: str, route: str, cls: type, says: str
) -> None:
    err = _fails({"url": f"{bad_server}/{route}", "token": TOKEN}, cls)
    assert says in str(err) and f"/{route}/metrics" in str(err)


def test_huge_body_is_cut_at_the_cap_with_bounded_memory(bad_server: str) -> None:
    cap = 1024 * 1024
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        err = _fails(
            {"url": f"{bad_server}/huge", "token": TOKEN, "max_body_bytes": cap}, MalformedResponse
        )
        elapsed = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "exceeds the 1048576-byte cap" in str(err)
    assert peak < 4 * cap, f"peak {peak} bytes"
    assert elapsed < 5


# -- exporters ------------------------------------------------------------------------------


def test_node_exporter_agrees_with_psutil_and_with_the_agent(
    node_exporter: str, start_agent: Callable[..., AgentProc]
) -> None:
    agent = start_agent({"host": {"cpu_window": "1s"}})
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        wait_for(lambda: psutil.Process(burner.pid).cpu_times().user > 0.05, 10, "the burner")

        async def both() -> tuple[list[Sample], list[Sample]]:
            shared = Shared()
            try:
                node = build(
                    {"url": node_exporter, "kind": "node_exporter", "cpu_window": "1s"}, shared
                )
                mine = build({"url": agent.url, "token": TOKEN}, shared)
                a, b = await asyncio.gather(node.collect(TARGET), mine.collect(TARGET))
                return a, b
            finally:
                await shared.aclose()

        node, mine = asyncio.run(both())
    finally:
        burner.kill()
        burner.wait(10)
    vm = psutil.virtual_memory()
    assert (
        _one(node, "monitord_host_memory_total_bytes")
        == vm.total
        == _one(mine, "monitord_host_memory_total_bytes")
    )
    assert _one(node, "monitord_host_swap_total_bytes") == psutil.swap_memory().total
    st = os.statvfs("/")
    assert (
        _one(node, "monitord_host_filesystem_size_bytes", mountpoint="/")
        == st.f_blocks * st.f_frsize
    )
    node_fs = _series(node, "monitord_host_filesystem_size_bytes", "mountpoint")
    mine_fs = _series(mine, "monitord_host_filesystem_size_bytes", "mountpoint")
    assert "/" in node_fs and set(node_fs) <= set(mine_fs)
    assert {m: mine_fs[m] for m in node_fs} == node_fs  # every size exact
    assert _one(node, "monitord_host_boot_time_seconds") == psutil.boot_time()
    assert _one(node, "monitord_host_cpus") == psutil.cpu_count()
    ncpu = psutil.cpu_count() or 1
    for mode in ("user", "system", "idle"):
        a = _one(node, "monitord_host_cpu_seconds_total", mode=mode)
        b = _one(mine, "monitord_host_cpu_seconds_total", mode=mode)
        assert abs(a - b) <= 2.0 * ncpu, (mode, a, b)
    ra = _one(node, "monitord_host_cpu_utilization_ratio")
    rb = _one(mine, "monitord_host_cpu_utilization_ratio")
    assert ra >= 0.5 / ncpu and rb >= 0.5 / ncpu, (ra, rb)  # one core is kept busy
    assert abs(ra - rb) <= 0.2, (ra, rb)
    assert len(_series(node, "monitord_host_cpu_core_utilization_ratio", "cpu")) == ncpu
    lo_node = _series(node, "monitord_interface_oper_up", "ifname")
    lo_mine = _series(mine, "monitord_interface_oper_up", "ifname")
    # Same up/down reading as psutil (other tests create and remove interfaces meanwhile,
    # so compare the machine's own ones).
    stable = {n for n in ("lo", "eth0") if n in lo_node and n in lo_mine}
    assert stable and {n: lo_node[n] for n in stable} == {n: lo_mine[n] for n in stable}
    eth_index = {
        s.labels["ifname"]: s.labels["ifindex"]
        for s in node
        if s.name == "monitord_interface_in_bytes_total"
    }
    assert eth_index and all(i == str(socket.if_nametoindex(n)) for n, i in eth_index.items())
    info = [s for s in node if s.name == "monitord_host_info"]
    assert info and info[0].labels["hostname"] == socket.gethostname()
    assert info[0].labels["kernel"] == os.uname().release


def test_node_exporter_inventory_and_no_cpu_window(node_exporter: str) -> None:
    samples = _collect({"url": node_exporter, "kind": "node_exporter", "cpu_window": 0})
    assert not [s for s in samples if "utilization" in s.name]
    assert _one(samples, "monitord_host_cpus") == psutil.cpu_count()
    inv = _inventory({"url": node_exporter, "kind": "node_exporter"})
    assert inv["memory_bytes"] == psutil.virtual_memory().total and inv["source"] == "node_exporter"
    macs = {i["name"]: i["mac"] for i in inv["interfaces"]}  # type: ignore[attr-defined]
    assert macs["lo"] == "00:00:00:00:00:00"


def test_windows_exporter_recording_served_over_http(bad_server: str) -> None:
    samples = _collect(
        {
            "url": f"{bad_server}/windows",
            "kind": "windows_exporter",
            "cpu_window": "100ms",
            "services": ["Spooler", "wuauserv"],
        }
    )
    assert _one(samples, "monitord_host_memory_total_bytes") == 8_589_463_552
    assert _one(samples, "monitord_host_filesystem_size_bytes", mountpoint="C:") == 127_362_088_960
    assert _series(samples, "monitord_service_up", "service") == {"Spooler": 1, "wuauserv": 0}
    assert not [s for s in samples if "utilization" in s.name]  # the recording does not move
    assert all(s.labels["target"] == TARGET.name for s in samples)


# -- the daemon pulling an agent -------------------------------------------------------------


def _exposed(text: str, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of `name` with `labels` in a scraped text: sorted labels -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[tuple[str, str], ...], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out[tuple(sorted(s.labels.items()))] = float(s.value)
    return out


def test_monitord_run_pulls_the_agent_and_node_exporter_and_values_agree(
    tmp_path: Path, start_agent: Callable[..., AgentProc], node_exporter: str
) -> None:
    """`monitord agent` and `monitord run -c FILE` as real processes; the test scrapes the
    daemon's /metrics and compares with psutil and with node_exporter read by the daemon."""
    agent = start_agent(cli=True)
    token_file = tmp_path / "daemon-agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    port = free_port()
    # srv-down's port: bound and never listening, so it refuses for the whole test and no
    # other process (the daemon itself included) can take it meanwhile
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(f"""
daemon: {{listen: 127.0.0.1:{port}, data_dir: {tmp_path / "var"}, startup_spread: 0.2s}}
defaults: {{interval: 2s, timeout: 1900ms}}
targets:
  - name: srv-agent
    address: 127.0.0.1
    kind: server
    collectors:
      agent: {{url: "{agent.url}", token: "file:{token_file}"}}
  - name: srv-node
    address: 127.0.0.1
    kind: server
    collectors:
      agent: {{url: "{node_exporter}", kind: node_exporter, cpu_window: 200ms}}
  - name: srv-down
    address: 127.0.0.1
    collectors:
      agent: {{url: "http://127.0.0.1:{dead_port}", token: "file:{token_file}"}}
""")
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "-c", str(cfg), "--log-level", "debug"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,
        )
    wanted = [
        ("monitord_host_memory_total_bytes", {"target": "srv-agent"}),
        ("monitord_host_memory_total_bytes", {"target": "srv-node"}),
        ("monitord_host_cpu_utilization_ratio", {"target": "srv-agent"}),
        ("monitord_host_cpu_utilization_ratio", {"target": "srv-node"}),
        ("monitord_poll_errors_total", {"collector": "agent", "reason": "refused"}),
    ]
    try:

        def scraped() -> tuple[str, object] | None:
            if proc.poll() is not None:
                pytest.fail(f"daemon exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return None
            # psutil right after the scrape: the daemon's values are at most one poll older.
            times = psutil.cpu_times()
            refused = metric(
                text, "monitord_poll_errors_total", collector="agent", reason="refused"
            )
            if refused and all(metric(text, n, **labels) is not None for n, labels in wanted):
                return text, times
            return None

        found = wait_for(scraped, 30, "the daemon to poll the agent and the exporter")
        assert isinstance(found, tuple)
        text: str = found[0]
        cpu_now: object = found[1]
    finally:
        stop_process(proc, 15)
        dead.close()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    # Memory total: exact, from psutil, the agent and node_exporter alike.
    total = psutil.virtual_memory().total
    assert metric(text, "monitord_host_memory_total_bytes", target="srv-agent") == total
    assert metric(text, "monitord_host_memory_total_bytes", target="srv-node") == total
    # Filesystem sizes: exact, every mount node_exporter reports, "/" among them.
    sizes = "monitord_host_filesystem_size_bytes"
    by_agent = {
        dict(k)["mountpoint"]: v for k, v in _exposed(text, sizes, target="srv-agent").items()
    }
    by_node = {
        dict(k)["mountpoint"]: v for k, v in _exposed(text, sizes, target="srv-node").items()
    }
    common = set(by_agent) & set(by_node)
    assert "/" in common, (sorted(by_agent), sorted(by_node))
    for mp in common:
        try:
            size = psutil.disk_usage(mp).total
        except OSError:  # a mount another test made and removed meanwhile
            continue
        assert by_agent[mp] == by_node[mp] == size, mp
    # CPU: the raw counters (summed over CPUs) lag psutil read just after by at most one poll.
    ncpu = psutil.cpu_count() or 1
    lag = 5.0 * ncpu  # interval 2 s + poll time + scrape, in CPU-seconds over all CPUs
    for mode in ("user", "system", "idle"):
        now = getattr(cpu_now, mode)
        for tgt in ("srv-agent", "srv-node"):
            got = metric(text, "monitord_host_cpu_seconds_total", target=tgt, mode=mode)
            assert got is not None and now - lag <= got <= now + 0.1, (tgt, mode, got, now)
    for tgt in ("srv-agent", "srv-node"):
        ratio = metric(text, "monitord_host_cpu_utilization_ratio", target=tgt)
        assert ratio is not None and 0.0 <= ratio <= 1.0, (tgt, ratio)
    assert metric(text, "monitord_host_cpus", target="srv-agent") == ncpu
    assert metric(text, "monitord_host_cpus", target="srv-node") == ncpu
    assert metric(text, "monitord_target_up", target="srv-agent", collector="agent") == 1
    assert metric(text, "monitord_target_up", target="srv-node", collector="agent") == 1
    down = metric(text, "monitord_target_up", target="srv-down", collector="agent")
    assert down is None or down == 0
    log = log_path.read_text()
    assert TOKEN not in log and TOKEN not in text and TOKEN not in agent.log()
