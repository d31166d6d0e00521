"""`monitord check-config` validates the top-level `snmp:` section even when no target
uses it (a broken auth entry used to pass until a target named it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CONFIG = """\
daemon: {listen: "127.0.0.1:19877", data_dir: ./var}
snmp:
  auths:
    campus_v3:
      version: 3
      username: monitord
      auth_protocol: SHA256
      auth_password: "${SNMP_AUTH}"
      priv_protocol: AES
targets:
  - {name: lo, address: 127.0.0.1, collectors: {icmp: {}}}
"""


def test_check_config_rejects_an_unused_broken_snmp_auth(tmp_path: Path) -> None:
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(CONFIG)
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"SNMP_AUTH": "auth-secret-1", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "snmp.auths.campus_v3" in ln]
    assert lines, r.stderr
    assert lines[0].startswith(f"{cfg}:4: ") or lines[0].startswith(f"{cfg}:5: "), lines
    assert "auth-secret-1" not in r.stderr
    cfg.write_text(
        CONFIG.replace("priv_protocol: AES", "priv_protocol: AES\n      priv_password: x")
    )
