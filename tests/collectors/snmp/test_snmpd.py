"""The snmp collector against net-snmp's snmpd on loopback: v2c and every v3 auth/priv combination.

Every v3 test runs with both clients: the native one (default) and pysnmp (the reference).

snmpd serves this machine's real interfaces. Their counters move while we look (our
own SNMP traffic crosses `lo`), so counters are checked between two `snmpbulkwalk`
readings, one before and one after our poll; everything else must be equal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from monitord.errors import AuthFailed, TargetTimeout
from monitord.types import FailureReason, Target
from tests.collectors.snmp.conftest import by_series, poll_many, run
from tests.collectors.snmp.expect import COUNTERS, expected_interfaces, from_netsnmp
from tests.peers.snmpd import Snmpd, SnmpdUser, parse_snmp_output, snmpbulkwalk

AUTHS = ["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PRIVS = ["", "DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C"]
USERS = [
    SnmpdUser(
        f"u_{a}_{p or 'none'}".replace("-", ""),
        a,
        f"auth-{a}-pass",
        p,
        f"priv-{p}-pass" if p else "",
    )
    for a in AUTHS
    for p in PRIVS
] + [SnmpdUser("u_noauth")]
# net-snmp spells them with a dash; our config without one. net-snmp's AES-192/AES-256
# are Blumenthal's key extension, AES-192-C/AES-256-C Reeder's (Cisco's).
PRIV_NAMES = {
    "DES": "DES",
    "AES": "AES",
    "AES-192": "AES192",
    "AES-256": "AES256",
    "AES-192-C": "AES192C",
    "AES-256-C": "AES256C",
}
CLIENTS = ["native", "pysnmp"]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    with Snmpd(tmp_path_factory.mktemp("snmpd"), USERS) as a:
        yield a


def v3_options(agent: Snmpd, u: SnmpdUser, client: str = "native") -> dict[str, object]:
    opts: dict[str, object] = {
        "version": 3,
        "port": agent.port,
        "user": u.name,
        "profiles": ["system", "interfaces"],
        "client": client,
    }
    if u.auth:
        opts |= {"auth_protocol": u.auth.replace("-", ""), "auth_key": u.auth_key}
    if u.priv:
        opts |= {"priv_protocol": PRIV_NAMES[u.priv], "priv_key": u.priv_key}
    return opts


def walk_interfaces(agent: Snmpd) -> dict[str, dict[str, object]]:
    auth = ["-v2c", "-c", agent.community]
    rec = {}
    for oid in ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"):
        rec |= from_netsnmp(parse_snmp_output(snmpbulkwalk(agent.host, agent.port, auth, oid)))
    return expected_interfaces(rec)


@pytest.mark.peer
def test_v2c_values_match_snmpbulkwalk(agent: Snmpd) -> None:
    before = walk_interfaces(agent)
    opts = {"community": agent.community, "port": agent.port}
    [p] = run(poll_many(opts, Target("snmpd", "127.0.0.1")))
    after = walk_interfaces(agent)
    assert p.error is None, p.error
    assert set(before) == set(after) and "1" in before  # lo is ifIndex 1
    series = by_series(p.samples)
    info = {s.labels["ifindex"]: s.labels for s in p.samples if s.name == "monitord_interface_info"}
    assert set(info) == set(before)
    checked = 0
    for idx, exp in before.items():
        assert info[idx]["ifname"] == exp["ifname"] and info[idx]["ifalias"] == exp["ifalias"]
        labels = (("ifindex", idx), ("ifname", str(exp["ifname"])), ("target", "snmpd"))
        for metric, value in exp.items():
            if not metric.startswith("monitord_"):
                continue
            got = series[(metric, labels)].value
            if metric in COUNTERS:
                assert value <= got <= after[idx][metric], (metric, idx)  # type: ignore[operator]
            else:
                assert got == value == after[idx][metric], (metric, idx)
            checked += 1
    assert checked >= 11 * len(before)
    lo = series[
        (
            "monitord_interface_in_bytes_total",
            (("ifindex", "1"), ("ifname", "lo"), ("target", "snmpd")),
        )
    ]
    assert lo.bits == 64 and lo.value > 0  # net-snmp serves ifHCInOctets for lo
    sysinfo = next(s for s in p.samples if s.name == "monitord_snmp_info")
    assert sysinfo.labels["syslocation"] == "monitord tests"


@pytest.mark.peer
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("user", USERS, ids=[u.name for u in USERS])
def test_v3_every_auth_priv_combination(agent: Snmpd, user: SnmpdUser, client: str) -> None:
    [p] = run(poll_many(v3_options(agent, user, client), Target("v3", "127.0.0.1")))
    assert p.error is None, p.error
    info = [s for s in p.samples if s.name == "monitord_snmp_info"]
    assert len(info) == 1 and info[0].labels["syslocation"] == "monitord tests"
    ifaces = [s for s in p.samples if s.name == "monitord_interface_info"]
    assert {s.labels["ifname"] for s in ifaces} >= {"lo"}
    up = next(s for s in p.samples if s.name == "monitord_device_uptime_seconds")
    assert up.value >= 0


@pytest.mark.peer
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"auth_key": "not-the-key"}, "WrongDigest"),
        ({"priv_key": "not-the-key"}, "priv_key or priv_protocol is wrong"),
        ({"priv_protocol": "DES"}, "priv_key or priv_protocol is wrong"),
        ({"user": "nobody_here"}, "UnknownUserName"),
        ({"auth_protocol": "MD5"}, "WrongDigest"),
    ],
    ids=[
        "wrong-auth-key",
        "wrong-priv-key",
        "wrong-priv-protocol",
        "unknown-user",
        "wrong-auth-protocol",
    ],
)
def test_v3_wrong_credentials_is_auth_failure(
    agent: Snmpd,
    change: dict[str, str],
    problem: str,
    client: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = next(u for u in USERS if u.name == "u_SHA256_AES")
    opts = v3_options(agent, user, client) | change | {"request_timeout": "0.5s"}
    caplog.set_level(logging.DEBUG)
    [p] = run(poll_many(opts, Target("v3bad", "127.0.0.1")))
    assert isinstance(p.error, AuthFailed), p.error
    assert p.error.reason is FailureReason.AUTH
    assert problem in str(p.error)
    for secret in (user.auth_key, user.priv_key, "not-the-key"):
        assert secret not in str(p.error)
        assert secret not in caplog.text


@pytest.mark.peer
@pytest.mark.parametrize("client", CLIENTS)
def test_v3_user_above_its_security_level_is_auth_failure(agent: Snmpd, client: str) -> None:
    """A noAuthNoPriv user asked for with keys: the agent reports the level is unsupported."""
    opts = {
        "client": client,
        "version": 3,
        "port": agent.port,
        "user": "u_noauth",
        "auth_protocol": "SHA",
        "auth_key": "whatever1",
        "request_timeout": "0.5s",
    }
    [p] = run(poll_many(opts, Target("lvl", "127.0.0.1")))
    assert isinstance(p.error, AuthFailed), p.error


@pytest.mark.peer
def test_v2c_wrong_community_is_a_timeout_that_says_so(agent: Snmpd) -> None:
    opts = {
        "community": "not-the-community",
        "port": agent.port,
        "request_timeout": "0.3s",
        "retries": 1,
    }
    [p] = run(poll_many(opts, Target("badcomm", "127.0.0.1")))
    assert isinstance(p.error, TargetTimeout)
    assert "0.3s x 2 attempt(s)" in str(p.error) and "community" in str(p.error)
    assert "not-the-community" not in str(p.error)
    retries = next(s for s in p.error.samples if s.name == "monitord_snmp_retries_total")
    timeouts = next(s for s in p.error.samples if s.name == "monitord_snmp_timeouts_total")
    assert (retries.value, timeouts.value) == (1, 1)


@pytest.mark.peer
def test_wrong_v3_key_counts_as_poll_error_reason_auth(
    agent: Snmpd, caplog: pytest.LogCaptureFixture
) -> None:
    """Config → collector → the daemon's Runner: `monitord_poll_errors_total{reason="auth"}`.

    One target has a wrong auth key inline; the other uses the right keys through the
    top-level `snmp.auths` section. Keys come from ${ENV} and reach no log or message.
    """
    from collectors import COLLECTORS
    from exporters.prometheus import specs_by_name
    from monitord.config import parse_config_text
    from monitord.daemon import collector_specs
    from monitord.runner import Runner, SelfMetrics
    from monitord.state import State
    from monitord.types import Shared

    user = next(u for u in USERS if u.name == "u_SHA256_AES")
    environ = {"GOOD_AUTH": user.auth_key, "GOOD_PRIV": user.priv_key, "BAD_AUTH": "wrong-key-1"}
    text = f"""
snmp:
  auths:
    lab_v3:
      version: 3
      username: {user.name}
      auth_protocol: SHA256
      auth_password: "${{GOOD_AUTH}}"
      priv_protocol: AES
      priv_password: "${{GOOD_PRIV}}"
targets:
  - name: rt-bad
    address: 127.0.0.1
    kind: router
    collectors:
      snmp:
        version: 3
        port: {agent.port}
        user: {user.name}
        auth_protocol: SHA256
        auth_key: "${{BAD_AUTH}}"
        priv_protocol: AES
        priv_key: "${{GOOD_PRIV}}"
        profiles: [system]
        request_timeout: 0.5s
  - name: rt-good
    address: 127.0.0.1
    kind: router
    collectors:
      snmp: {{auth: lab_v3, port: {agent.port}, profiles: [system, interfaces]}}
"""
    caplog.set_level(logging.DEBUG)

    async def go() -> tuple[SelfMetrics, list[bool], str]:
        shared = Shared()
        try:
            cfg = parse_config_text(text, "test.yaml", COLLECTORS, shared, environ)
            metrics = SelfMetrics()
            runner = Runner(State(), metrics, specs_by_name(collector_specs(cfg)))
            oks = [await runner.poll(t.target, t.collectors[0]) for t in cfg.targets]
            return metrics, oks, repr(cfg)
        finally:
            await shared.aclose()

    metrics, oks, cfg_text = run(go())  # type: ignore[misc]
    assert oks == [False, True]
    value = metrics.registry.get_sample_value
    assert value("monitord_poll_errors_total", {"collector": "snmp", "reason": "auth"}) == 1
    assert value("monitord_polls_total", {"collector": "snmp"}) == 2
    assert "poll failed target=rt-bad collector=snmp reason=auth" in caplog.text
    assert "WrongDigest" in caplog.text  # the log says what is wrong...
    for secret in environ.values():  # ...and never with which key
        assert secret not in caplog.text
        assert secret not in cfg_text
