"""The shipped configs validate: the embedded default and the commented example."""

from __future__ import annotations

from pathlib import Path

from collectors import COLLECTORS
from monitord.config import load_config
from monitord.types import Shared
from tests.conftest import REPO
from tests.peers.tls import write_self_signed


def test_default_config_is_valid_and_watches_this_machine() -> None:
    cfg = load_config(REPO / "config" / "monitord.yaml", COLLECTORS, Shared(), environ={})
    (tc,) = cfg.targets
    assert tc.target.address == "127.0.0.1"
    assert {c.kind for c in tc.collectors} == {"icmp", "host"}
    assert cfg.daemon.listen.startswith("127.0.0.1:")


def test_example_config_is_valid(tmp_path: Path) -> None:
    env = {
        "SMTP_PASSWORD": "x-smtp",
        "WEBHOOK_SECRET": "x-hook",
        "PG_MONITOR_PASSWORD": "x-pg",
        "SNMP_COMMUNITY": "x-community",
        "SNMP_AUTH_KEY": "x-auth-key-1",
        "SNMP_PRIV_KEY": "x-priv-key-1",
    }
    text = (REPO / "config" / "monitord.example.yaml").read_text()
    pw = tmp_path / "mysql.pw"
    pw.write_text("x-mysql\n")
    p = tmp_path / "example.yaml"
    token = tmp_path / "agent.token"
    token.write_text("x-agent-token\n")
    ca, _ = write_self_signed(tmp_path / "ca.pem", tmp_path / "ca.key", "monitord example CA")
    p.write_text(
        text.replace("file:/etc/monitord/mysql.pw", f"file:{pw}")
        .replace("/etc/monitord/agent-srv-aplicaciones.token", str(token))
        .replace("/etc/monitord/ca.pem", str(ca))
    )
    cfg = load_config(p, COLLECTORS, Shared(), environ=env)
    kinds = {c.kind for t in cfg.targets for c in t.collectors}
    # Every registered collector that needs no extra has an example block.
    assert kinds >= set(COLLECTORS) - {"mssql", "oracle"}, set(COLLECTORS) - kinds
