"""net-snmp's `snmpd` on loopback for the tests, and the `snmpbulkwalk` reference client.

    user = SnmpdUser("u_sha256_aes", "SHA-256", "authpass1", "AES", "privpass1")
    with Snmpd(tmp_path, users=[user]) as agent:
        agent.community, agent.port   # v2c community "monitord-test", 127.0.0.1:<free port>

The agent runs in the foreground (`-f -Lo -C -c snmpd.conf`) with a generated config:
only 127.0.0.1, a read-only community, `createUser`/`rouser` lines for each v3 user,
and a private persistent directory, so it never touches /etc/snmp or /var/lib/snmp.
If snmpd is missing or does not answer, the test fails with its log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.process import ProcessPeer, wait_started
from tests.peers.snmpsim import free_udp_port

__all__ = ["Snmpd", "SnmpdUser", "parse_snmp_output", "snmpbulkwalk"]

SNMPD = "/usr/sbin/snmpd"


@dataclass(frozen=True, slots=True)
class SnmpdUser:
    """A USM user for snmpd (net-snmp names: MD5, SHA, SHA-256..., DES, AES, AES-256...)."""

    name: str
    auth: str = ""
    auth_key: str = ""
    priv: str = ""
    priv_key: str = ""

    @property
    def level(self) -> str:
        if not self.auth:
            return "noauth"
        return "priv" if self.priv else "auth"

    def config_lines(self) -> list[str]:
        create = f"createUser {self.name}"
        if self.auth:
            create += f' {self.auth} "{self.auth_key}"'
            if self.priv:
                create += f' {self.priv} "{self.priv_key}"'
        return [create, f"rouser {self.name} {self.level}"]

    def cli_args(self) -> list[str]:
        """snmpget/snmpbulkwalk arguments for this user."""
        level = {"noauth": "noAuthNoPriv", "auth": "authNoPriv", "priv": "authPriv"}[self.level]
        args = ["-v3", "-l", level, "-u", self.name]
        if self.auth:
            args += ["-a", self.auth, "-A", self.auth_key]
        if self.priv:
            args += ["-x", self.priv, "-X", self.priv_key]
        return args


class Snmpd(ProcessPeer):
    """One snmpd on 127.0.0.1:<free port>."""

    community = "monitord-test"

    def __init__(
        self, workdir: Path, users: Sequence[SnmpdUser] = (), extra_config: Iterable[str] = ()
    ) -> None:
        if not Path(SNMPD).exists():
            pytest.fail("snmpd not found (apt-get install snmpd)")
        self.workdir = workdir
        self.users = list(users)
        self.extra = list(extra_config)
        self.port = 0
        self.host = "127.0.0.1"
        self.log_path = workdir / "snmpd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0, *, port: int = 0, keep_state: bool = False) -> None:
        """Write the config, start snmpd and wait until it answers a v2c GET.

        `port` 0 picks a free one. `keep_state` keeps the persistent directory: the same
        engine ID, with engine boots one higher and engine time from zero.
        """
        persist = self.workdir / "persist"
        self.port = port or free_udp_port()
        if not keep_state:
            shutil.rmtree(persist, ignore_errors=True)
        persist.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "snmpd.conf"
        lines = [
            f"agentAddress udp:{self.host}:{self.port}",
            f"rocommunity {self.community} 127.0.0.1",
            "sysLocation monitord tests",
            "sysContact tests@example.org",
            "dontLogTCPWrappersConnects yes",
            "[snmp] persistentDir " + str(persist),
            *self.extra,
        ]
        for u in self.users:
            lines += u.config_lines()
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), MIBS="", MIBDIRS="/nonexistent")
        # -C reads no other config, the persistent one included: name it to keep the state.
        confs = str(conf)
        if keep_state and (persist / "snmpd.conf").exists():
            confs += f",{persist / 'snmpd.conf'}"
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [SNMPD, "-f", "-Lo", "-C", "-c", confs, "-p", str(self.workdir / "snmpd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()

        def answers() -> bool:
            out = subprocess.run(
                [
                    "snmpget",
                    "-v2c",
                    "-c",
                    self.community,
                    "-t",
                    "0.3",
                    "-r",
                    "0",
                    "-On",
                    f"{self.host}:{self.port}",
                    "1.3.6.1.2.1.1.3.0",
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            return out.returncode == 0 and "1.3.6.1.2.1.1.3.0" in out.stdout

        wait_started(
            self._proc, answers, timeout, f"snmpd on {self.host}:{self.port}", self.log_tail
        )

    def restart(self, *, keep_state: bool = True) -> None:
        """Stop snmpd and start it again on the same port (see `start`)."""
        self.stop()
        self.start(port=self.port, keep_state=keep_state)

    def __enter__(self) -> Snmpd:
        self.start()
        return self


_LINE = re.compile(r"^\.?([0-9.]+) = (?:([A-Za-z0-9-]+): )?(.*)$")


def snmpbulkwalk(
    host: str,
    port: int,
    auth: Sequence[str],
    oid: str,
    *,
    max_repetitions: int = 10,
    timeout: float = 30.0,
) -> str:
    """Run net-snmp's snmpbulkwalk (numeric OIDs, hex strings, numeric enums); return its output."""
    exe = shutil.which("snmpbulkwalk")
    if exe is None:
        pytest.fail("snmpbulkwalk not found (apt-get install snmp)")
    out = subprocess.run(
        [
            exe,
            *auth,
            "-On",
            "-Oe",
            "-Ox",
            "-Ot",
            "-OU",
            "-Cr" + str(max_repetitions),
            "-t",
            "2",
            "-r",
            "1",
            f"{host}:{port}",
            oid,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, MIBS="", MIBDIRS="/nonexistent"),
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"snmpbulkwalk {oid} failed ({out.returncode}): {out.stderr[-1000:]}")
    return out.stdout


def parse_snmp_output(text: str) -> dict[tuple[int, ...], tuple[str, str]]:
    """`-On -Ox -Ot -Oe -OU` output → {oid: (type, value text)}; multi-line hex values joined."""
    out: dict[tuple[int, ...], tuple[str, str]] = {}
    last: tuple[int, ...] | None = None
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1)[0].isdigit():
            oid = tuple(int(x) for x in m.group(1).strip(".").split("."))
            out[oid] = (m.group(2) or "", m.group(3).strip())
            last = oid
        elif last is not None and line.strip():
            t, v = out[last]
            out[last] = (t, f"{v} {line.strip()}")
    return out
