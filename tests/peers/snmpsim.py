"""snmpsim (`snmpsim-command-responder`) on loopback, serving recordings for the tests.

    with SnmpSim(tmp_path) as sim:          # a free UDP port on 127.0.0.1
        sim.add_file(path)                  # community = file name without .snmprec
        sim.add_records("dev", records)     # generated recordings (snmprec_gen.Record)
        sim.start()
        sim.replace_records("dev", other)   # re-served on the next request (mtime bump)

snmpsim refuses to run as root and drops to an unprivileged user; that user must be
able to read the Python installation and the data, and write the `--cache-dir`. When
the tests run as root and the Python installation is not readable by `nobody` (a
pyenv under /root, say), snmpsim is told so with its own switch
`SNMPSIM_ALLOW_ROOT=true` and keeps running as root; it only binds 127.0.0.1. A
responder that cannot start fails the test with its log.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from tests.peers.process import ProcessPeer, log_tail, wait_started
from tests.peers.snmprec_gen import Record, render_records

__all__ = ["SnmpSim", "V3User", "bundled_recordings", "free_udp_port"]


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bundled_recordings() -> list[Path]:
    """snmpsim's own real-device recordings (`snmpsim/data/recorded/*.snmprec`)."""
    import snmpsim

    base = Path(snmpsim.__file__).resolve().parent / "data" / "recorded"
    files = sorted(base.glob("*.snmprec"))
    if not files:
        pytest.fail(f"snmpsim's bundled recordings not found under {base}")
    return files


def _readable_by_others(path: Path) -> bool:
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH or not mode & stat.S_IROTH:
            return False
    return True


class V3User:
    """An SNMPv3 user snmpsim accepts (one per responder)."""

    def __init__(
        self,
        user: str,
        auth_proto: str = "NONE",
        auth_key: str = "",
        priv_proto: str = "NONE",
        priv_key: str = "",
    ) -> None:
        self.user, self.auth_proto, self.auth_key = user, auth_proto, auth_key
        self.priv_proto, self.priv_key = priv_proto, priv_key

    def args(self) -> list[str]:
        out = ["--v3-user", self.user, "--v3-auth-proto", self.auth_proto]
        if self.auth_key:
            out += ["--v3-auth-key", self.auth_key]
        out += ["--v3-priv-proto", self.priv_proto]
        if self.priv_key:
            out += ["--v3-priv-key", self.priv_key]
        return out


class SnmpSim(ProcessPeer):
    """One snmpsim responder process on 127.0.0.1 and its data directory."""

    def __init__(
        self, workdir: Path, *, max_var_binds: int = 64, v3_user: V3User | None = None
    ) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.cache = workdir / "cache"
        self.log_path = workdir / "snmpsim.log"
        self.data.mkdir(parents=True, exist_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.max_var_binds = max_var_binds
        self.v3_user = v3_user
        self.host = "127.0.0.1"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._mtime = time.time()

    # --- data ----------------------------------------------------------------------

    def add_file(self, path: Path, community: str | None = None) -> str:
        """Serve a copy of a recording; return its community."""
        name = community or path.name[: -len(".snmprec")]
        shutil.copyfile(path, self.data / f"{name}.snmprec")
        return name

    def add_records(self, community: str, records: Iterable[Record]) -> Path:
        """Serve generated records under `community`."""
        path = self.data / f"{community}.snmprec"
        path.write_text(render_records(records), encoding="utf-8")
        self._touch(path)
        return path

    def replace_records(self, community: str, records: Iterable[Record]) -> None:
        """Change what `community` serves; snmpsim re-indexes it on the next request."""
        self.add_records(community, records)

    def _touch(self, path: Path) -> None:
        # snmpsim compares whole-second mtimes, and re-indexes only when the text is
        # newer than its index: always move the mtime forward by whole seconds.
        self._mtime = max(self._mtime + 2, time.time() + 2)
        os.utime(path, (self._mtime, self._mtime))

    # --- process -------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the responder and wait until it answers."""
        self.port = free_udp_port()
        env = dict(os.environ)
        cmd = [
            sys.executable,
            "-c",
            "import sys; from snmpsim.commands.responder import main; sys.exit(main())",
            f"--data-dir={self.data}",
            f"--cache-dir={self.cache}",
            f"--agent-udpv4-endpoint={self.host}:{self.port}",
            f"--max-var-binds={self.max_var_binds}",
            f"--logging-method=file:{self.log_path}",
            "--log-level=info",
        ]
        if self.v3_user is not None:
            cmd[3:3] = ["--v3-engine-id=auto", *self.v3_user.args()]
        if os.geteuid() == 0:
            prefix = Path(sysconfig.get_paths()["purelib"])
            python = Path(sys.executable).resolve()
            parents_ok = all(p.stat().st_mode & stat.S_IXOTH for p in self.workdir.parents)
            if _readable_by_others(prefix) and _readable_by_others(python) and parents_ok:
                for p in (self.workdir, self.data, self.cache):
                    p.chmod(0o777)
                for f in self.data.iterdir():
                    f.chmod(0o644)
                cmd += ["--process-user=nobody", "--process-group=nogroup"]
            else:
                env["SNMPSIM_ALLOW_ROOT"] = "true"
        err_path = self.workdir / "snmpsim.stderr"
        with err_path.open("wb") as err:
            self._proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True
            )

        def details() -> str:
            return f"{log_tail(err_path, 2000)}\n{self.log_tail()}"

        def ready() -> bool:
            return "Listening at UDP/IPv4 endpoint" in self.log_tail(20000) and self._answers()

        wait_started(self._proc, ready, timeout, f"snmpsim on {self.host}:{self.port}", details)

    def _answers(self) -> bool:
        """A raw v2c GET of sysUpTime.0 with a community snmpsim does not know: any reply will do.

        snmpsim answers unknown communities with nothing, so probe a known one.
        """
        names = sorted(p.name[: -len(".snmprec")] for p in self.data.glob("*.snmprec"))
        if not names:
            return True
        community = names[0].encode()
        # GetRequest sysUpTime.0, request-id 1 (hand-encoded: independent of the collector)
        oid = bytes([0x06, 0x08, 0x2B, 6, 1, 2, 1, 1, 3, 0])
        vb = bytes([0x30, len(oid) + 2]) + oid + b"\x05\x00"
        vbl = bytes([0x30, len(vb)]) + vb
        pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbl
        pdu = bytes([0xA0, len(pdu_body)]) + pdu_body
        body = b"\x02\x01\x01" + bytes([0x04, len(community)]) + community + pdu
        msg = bytes([0x30, len(body)]) + body
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            try:
                s.sendto(msg, (self.host, self.port))
                s.recvfrom(65535)
            except OSError:
                return False
        return True

    def __enter__(self) -> SnmpSim:
        return self

    def communities(self) -> Sequence[str]:
        """Communities currently served."""
        return sorted(p.name[: -len(".snmprec")] for p in self.data.glob("*.snmprec"))
