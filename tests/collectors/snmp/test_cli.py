"""`monitord probe snmp` and `monitord discover` as a user runs them: a subprocess of the real CLI.

The device is the generated 48-port switch replayed by the session's snmpsim; the
community (and the v3 keys) are the secrets, and must not appear in stdout or stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.collectors.snmp.conftest import SIM_V3_USER, Recordings

COMMUNITY = "gen-switch-48"  # the secret of these tests (the device's sysName is gen-sw-48)
ROOT = Path(__file__).resolve().parents[3]


def monitord(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m monitord ARGS` from the project root; bounded in time."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SNMP_")}
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        cwd=ROOT,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_no_secret(out: subprocess.CompletedProcess[str], *secrets: str) -> None:
    text = (out.stdout + out.stderr).replace("gen-sw-48", "")
    for secret in secrets:
        assert secret not in text, f"secret {secret!r} printed"


@pytest.mark.peer
@pytest.mark.parametrize("how", ["env", "literal", "file"])
def test_probe_prints_the_device_and_exits_0(
    recordings: Recordings, how: str, tmp_path: Path
) -> None:
    port = str(recordings.sim.port)
    env: dict[str, str] = {}
    if how == "env":
        env["PROBE_COMMUNITY"] = COMMUNITY
        community = "${PROBE_COMMUNITY}"
    elif how == "file":
        secret = tmp_path / "community"
        secret.write_text(COMMUNITY + "\n", encoding="utf-8")
        community = f"file:{secret}"
    else:
        community = COMMUNITY
    out = monitord("probe", "snmp", "127.0.0.1", "--port", port, "--community", community, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"snmp probe of 127.0.0.1:{port}: ok"
    assert "  sysname      gen-sw-48" in lines
    assert "  interfaces: 50" in lines
    row = next(line for line in lines if " Gi1/0/3 " in line)
    assert row.split()[:5] == ["10103", "Gi1/0/3", "ethernetCsmacd", "up", "125000000"]
    assert str((1 << 53) + 12345) in row.split()
    assert out.stderr == ""
    assert_no_secret(out, COMMUNITY)


@pytest.mark.peer
def test_probe_v3_with_profiles_hides_the_keys(recordings: Recordings) -> None:
    u = SIM_V3_USER
    out = monitord(
        "probe",
        "snmp",
        "127.0.0.1",
        "--port",
        str(recordings.sim.port),
        "--v3",
        "--user",
        u.user,
        "--auth-protocol",
        u.auth_proto,
        "--auth-key",
        "${AUTH}",
        "--priv-protocol",
        u.priv_proto,
        "--priv-key",
        u.priv_key,  # literal on the command line: still never echoed
        "--context",
        COMMUNITY,
        "--profile",
        "system",
        "--profile",
        "interfaces",
        env={"AUTH": u.auth_key},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  interfaces: 50" in out.stdout.splitlines()
    assert "monitord_inventory_info:" not in out.stdout  # only the profiles asked for
    assert_no_secret(out, u.auth_key, u.priv_key)


@pytest.mark.peer
def test_probe_with_a_wrong_community_exits_1_and_says_why(recordings: Recordings) -> None:
    out = monitord(
        "probe",
        "snmp",
        "127.0.0.1",
        "--port",
        str(recordings.sim.port),
        "--community",
        "wrong-community-text",
        "--timeout",
        "0.3s",
        "--retries",
        "0",
    )
    assert out.returncode == 1, out.stdout + out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"snmp probe of 127.0.0.1:{recordings.sim.port}: FAILED (timeout)")
    assert "0.3s x 1 attempt(s)" in first
    assert_no_secret(out, "wrong-community-text")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--community", "${NOT_SET_ANYWHERE}"], "environment variable NOT_SET_ANYWHERE"),
        (["--community", "xxxx", "--timeout", "soon"], "monitord probe: --timeout:"),
        (["--community", "xxxx", "--port", "70000"], "monitord probe: --port: must be between"),
        (["--community", "xxxx", "--profile", "nonesuch"], "unknown profile 'nonesuch'"),
        (["--v3", "--user", "u", "--auth-protocol", "SHA"], "auth_key"),
    ],
    ids=["unset-env", "bad-duration", "bad-port", "unknown-profile", "v3-missing-key"],
)
def test_probe_bad_flags_exit_2(args: list[str], message: str) -> None:
    out = monitord("probe", "snmp", "127.0.0.1", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert out.stdout == ""
    assert "Traceback" not in out.stderr


@pytest.mark.peer
def test_discover_prints_a_config_snippet(recordings: Recordings) -> None:
    port = recordings.sim.port
    out = monitord(
        "discover",
        "127.0.0.0/30",
        "--port",
        str(port),
        "--community",
        "${SNMP_COMMUNITY}",
        "--timeout",
        "0.5s",
        env={"SNMP_COMMUNITY": COMMUNITY},
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert (
        first == "# monitord discover 127.0.0.0/30: 2 addresses, 2 answered ICMP, 1 answered SNMP"
    )
    targets = yaml.safe_load(out.stdout)["targets"]
    assert [t["address"] for t in targets] == ["127.0.0.1", "127.0.0.2"]
    assert targets[0]["name"] == "gen-sw-48" and targets[0]["kind"] == "switch"
    assert "\n" not in targets[0]["description"]
    assert targets[0]["collectors"]["snmp"] == {
        "version": "2c",
        "port": port,
        "community": "${SNMP_COMMUNITY}",
        "profiles": ["system", "interfaces", "entity", "lldp"],
    }
    assert targets[1]["collectors"] == {"icmp": {}}
    assert_no_secret(out, COMMUNITY)


@pytest.mark.peer
def test_discover_snippet_loads_as_a_config(recordings: Recordings, tmp_path: Path) -> None:
    """A literal community becomes a placeholder, and the snippet passes check-config."""
    out = monitord(
        "discover",
        "127.0.0.1/32",
        "--port",
        str(recordings.sim.port),
        "--community",
        COMMUNITY,
        "--timeout",
        "0.5s",
    )
    assert out.returncode == 0, out.stderr
    assert "1 answered SNMP" in out.stdout.splitlines()[0]
    assert "community: ${SNMP_COMMUNITY}" in out.stdout
    assert_no_secret(out, COMMUNITY)
    config = tmp_path / "discovered.yaml"
    config.write_text(out.stdout, encoding="utf-8")
    check = monitord("check-config", "-c", str(config), env={"SNMP_COMMUNITY": "xxxx"})
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == f"{config}: ok (1 targets, 2 jobs)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["10.0.0.0/8", "--community", "xxxx"], "more than max_hosts=4096"),
        (["not-a-range", "--community", "xxxx"], "not-a-range"),
        (["127.0.0.0/30", "--community", "${NOT_SET_ANYWHERE}"], "NOT_SET_ANYWHERE"),
        (["127.0.0.0/30", "--community", "xxxx", "--concurrency", "0"], "--concurrency"),
    ],
    ids=["too-large", "not-a-range", "unset-env", "bad-concurrency"],
)
def test_discover_bad_arguments_exit_2(args: list[str], message: str) -> None:
    out = monitord("discover", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and out.stdout == ""
    assert "Traceback" not in out.stderr
