"""`events:` changed by SIGHUP applies without a restart (real senders, a real daemon).

The daemon runs without CAP_NET_BIND_SERVICE (dropped from its bounding set before the
exec, as under the shipped unit without the drop-in), so a move to port 162 cannot be
done: the reload says so in the log and the receiver keeps its old port.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from pathlib import Path

from tests.collectors.events.senders import logger, snmptrap, tool
from tests.collectors.events.test_receiver import free_udp_port
from tests.collectors.events.test_tls import make_cert
from tests.conftest import free_port, wait_for
from tests.monitord.test_daemon import _value

BASE = """\
daemon:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
  startup_spread: 0.1s
snmp:
  auths:
    trapper:
      version: 3
      username: trapper
      auth_protocol: SHA
      auth_password: "${TRAP_AUTH}"
      priv_protocol: AES
      priv_password: "${TRAP_PRIV}"
targets:
  - name: fw-01
    address: 127.0.0.1
    kind: firewall
events:
"""
FIRST = """\
  traps:
    listen: "127.0.0.1:@TRAP@"
    communities: ["${COMMUNITY_A}"]
  syslog:
    udp: "127.0.0.1:@UDP@"
"""
SECOND = """\
  traps:
    listen: "@LISTEN@"
    communities: ["${COMMUNITY_B}"]
    users:
      - auth: trapper
  syslog:
    udp: "127.0.0.1:@UDP@"
    tcp: "127.0.0.1:@TCP@"
  patterns: extra-patterns.yaml
"""
PATTERNS = """\
syslog:
  - name: huawei_login_failed
    vendor: Huawei VRP
    kind: failed_login
    severity: warning
    regex: 'SSH user login failed\\. \\(UserName=(?P<user>[^,]+), IpAddress=(?P<from>[^,)]+)'
"""
ENV = {
    "COMMUNITY_A": "community-a",
    "COMMUNITY_B": "community-b",
    "TRAP_AUTH": "authpass123",
    "TRAP_PRIV": "privpass123",
}
COLD = ["", "1.3.6.1.6.3.1.1.5.1"]
V3 = ["-v", "3", "-u", "trapper", "-l", "authPriv", "-a", "SHA", "-A", "authpass123",
      "-x", "AES", "-X", "privpass123"]  # fmt: skip
HUAWEI = "SSH user login failed. (UserName=admin, IpAddress=127.0.0.77, VpnName=)"

PR_CAPBSET_DROP = 24
CAP_NET_BIND_SERVICE = 10


def _no_bind_service() -> None:
    """In the child before exec: drop CAP_NET_BIND_SERVICE from the bounding set."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_BIND_SERVICE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _write(d, text: str) -> None:  # type: ignore[no-untyped-def]
    d.config.write_text(text.format(port=d.port, data_dir=d.config.parent / "var"))


def _reload(d, n: int) -> None:  # type: ignore[no-untyped-def]
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log().count("config reloaded") >= n, 15, f"reload {n}")


def test_sighup_rebinds_and_swaps_communities_users_and_patterns(start_daemon) -> None:
    trap, trap2, udp, tcp = free_udp_port(), free_udp_port(), free_udp_port(), free_port()
    first = BASE + FIRST.replace("@TRAP@", str(trap)).replace("@UDP@", str(udp))
    d = start_daemon(_escape(first), env=ENV, preexec_fn=_no_bind_service)
    m = lambda name, **kw: _value(d.metrics(), name, **kw)  # noqa: E731
    snmptrap(trap, ["-v", "2c", "-c", "community-a"], COLD)
    wait_for(lambda: m("monitord_device_events_total", target="fw-01", kind="reboot") == 1,
             10, "first trap")  # fmt: skip

    # SIGHUP: traps move to another port, community B instead of A, a v3 user, a TCP
    # syslog listener and an extra pattern file
    (Path(d.config).parent / "extra-patterns.yaml").write_text(PATTERNS)
    second = SECOND.replace("@UDP@", str(udp)).replace("@TCP@", str(tcp))
    _write(d, _escape(BASE + second.replace("@LISTEN@", f"127.0.0.1:{trap2}")))
    _reload(d, 1)
    assert "restart monitord" not in d.log()
    snmptrap(trap, ["-v", "2c", "-c", "community-a"], COLD)  # the old port: closed
    snmptrap(trap2, ["-v", "2c", "-c", "community-a"], COLD)  # old community: dropped
    snmptrap(trap2, ["-v", "2c", "-c", "community-b"], COLD)
    # the v3 user is accepted: snmpinform discovers the receiver's engine and is answered
    snmptrap(trap2, [*V3, "-r", "0", "-t", "3"], ["", "1.3.6.1.6.3.1.1.5.5"], inform=True)
    logger(tcp, HUAWEI, tcp=True, rfc=5424)
    wait_for(lambda: m("monitord_device_failed_logins_total", target="fw-01") == 2, 10,
             "v3 inform and the new pattern over the new TCP listener")  # fmt: skip
    assert m("monitord_device_events_total", target="fw-01", kind="reboot") == 2
    assert m("monitord_events_dropped_total", reason="community") == 1
    assert m("monitord_events_received_total", source="syslog", kind="failed_login") == 1

    # SIGHUP to port 162 without CAP_NET_BIND_SERVICE: said in the log, old port kept
    _write(d, _escape(BASE + second.replace("@LISTEN@", "127.0.0.1:162")))
    _reload(d, 2)
    assert (
        "config reload: events: cannot listen on traps=127.0.0.1:162 (permission denied:"
        f" ports below 1024 need CAP_NET_BIND_SERVICE); still listening on 127.0.0.1:{trap2}"
    ) in d.log()
    snmptrap(trap2, ["-v", "2c", "-c", "community-b"], COLD)
    wait_for(lambda: m("monitord_device_events_total", target="fw-01", kind="reboot") == 3,
             10, "trap on the kept port")  # fmt: skip

    # SIGHUP with no listen address left: the receiver stops, the counters stay
    _write(d, _escape(BASE.replace("events:\n", "")))
    _reload(d, 3)
    wait_for(lambda: "event receiver stopped" in d.log(), 5, "receiver stopped")
    snmptrap(trap2, ["-v", "2c", "-c", "community-b"], COLD)
    time.sleep(1)
    assert m("monitord_device_events_total", target="fw-01", kind="reboot") == 3
    for secret in ENV.values():
        assert secret not in d.log()
    assert d.stop() == 0


def _escape(text: str) -> str:
    """Double the braces of `text` except the fixture's {port} and {data_dir}."""
    out = text.replace("{", "{{").replace("}", "}}")
    return out.replace("{{port}}", "{port}").replace("{{data_dir}}", "{data_dir}")


STREAMS = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.1s
targets:
  - {{{{name: fw-01, address: 127.0.0.1, kind: firewall}}}}
events:
  syslog:
    udp: "127.0.0.1:{udp}"
"""
STREAM_LISTENERS = """\
    tcp: "127.0.0.1:{tcp}"
    tls: {{{{listen: "127.0.0.1:{tls}", cert_file: "{cert}", key_file: "{key}"}}}}
"""
SSHD = "<38>1 2026-12-03T06:00:00Z fw-01 sshd 311 - - Failed password for root from 10.1.1.2"


def _open_clients(tcp: int, tls: int, cafile: Path) -> list[subprocess.Popen[bytes]]:
    """socat (TCP) and openssl s_client (TLS), each sending one octet-counted line and
    keeping its connection open (stdin stays open)."""
    line = f"{len(SSHD)} {SSHD}".encode()
    procs = [
        subprocess.Popen([tool("socat"), "STDIO", f"TCP:127.0.0.1:{tcp}"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([tool("openssl"), "s_client", "-connect", f"127.0.0.1:{tls}",
                          "-CAfile", str(cafile), "-verify_return_error", "-quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(line)
        p.stdin.flush()
    return procs


def _closed(procs: list[subprocess.Popen[bytes]], what: str) -> None:
    """Both clients saw their connection end (they exit), within 10 s."""
    try:
        wait_for(lambda: all(p.poll() is not None for p in procs), 10, what)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(5)
            if p.stdin is not None:
                p.stdin.close()


def test_reload_and_shutdown_close_open_tcp_and_tls_connections_quietly(
    start_daemon, tmp_path: Path
) -> None:
    udp, tcp, tls = free_udp_port(), free_port(), free_port()
    cert, key = make_cert(tmp_path, "receiver")
    base = STREAMS.format(udp=udp)
    streams = base + STREAM_LISTENERS.format(tcp=tcp, tls=tls, cert=cert, key=key)
    d = start_daemon(streams)
    m = lambda name, **kw: _value(d.metrics(), name, **kw)  # noqa: E731

    def logins() -> float:
        return m("monitord_device_failed_logins_total", target="fw-01") or 0

    procs = _open_clients(tcp, tls, cert)
    wait_for(lambda: logins() == 2, 15, "a line over TCP and one over TLS")
    # SIGHUP without the tcp and tls listeners: their open connections are closed
    _write(d, base)
    _reload(d, 1)
    _closed(procs, "the clients to see their connections closed by the reload")
    # SIGHUP with them again, new connections, then SIGTERM with the connections open
    _write(d, streams)
    _reload(d, 2)
    procs = _open_clients(tcp, tls, cert)
    wait_for(lambda: logins() == 4, 15, "the lines of the new connections")
    assert d.stop() == 0
    _closed(procs, "the clients to see their connections closed at shutdown")
    log = d.log()
    assert "CancelledError" not in log and "Exception in callback" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
