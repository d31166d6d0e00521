"""A self-signed certificate for 127.0.0.1 and localhost, made with `cryptography`.

    cert, key = write_self_signed(tmp_path / "srv.crt", tmp_path / "srv.key")

The certificate is its own CA (basicConstraints CA:true), so a client trusts it by
loading the certificate file itself as the CA file.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["write_pem", "write_self_signed"]


def write_self_signed(
    cert_path: Path, key_path: Path, common_name: str = "localhost"
) -> tuple[Path, Path]:
    """Write a one-day self-signed certificate (SAN localhost, 127.0.0.1) and its key (0600).

    Returns (cert_path, key_path).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_pem(cert_path, key_path, cert, key)
    key_path.chmod(0o600)
    return cert_path, key_path


def write_pem(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    """Write a certificate and its private key (PKCS#8, unencrypted) as PEM files."""
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
