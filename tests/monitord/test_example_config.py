"""The shipped configs validate: the embedded default and the commented example."""

from __future__ import annotations

from pathlib import Path

from collectors import COLLECTORS
from monitord.config import load_config
from monitord.types import Shared
from tests.conftest import REPO


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
    ca = tmp_path / "ca.pem"
    ca.write_text(_self_signed_pem())
    p.write_text(
        text.replace("file:/etc/monitord/mysql.pw", f"file:{pw}")
        .replace("/etc/monitord/agent-srv-aplicaciones.token", str(token))
        .replace("/etc/monitord/ca.pem", str(ca))
    )
    cfg = load_config(p, COLLECTORS, Shared(), environ=env)
    kinds = {c.kind for t in cfg.targets for c in t.collectors}
    # Every registered collector that needs no extra has an example block.
    assert kinds >= set(COLLECTORS) - {"mssql", "oracle"}, set(COLLECTORS) - kinds


def _self_signed_pem() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitord example CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
