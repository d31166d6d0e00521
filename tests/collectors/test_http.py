"""HTTP/TLS probe against local HTTPS servers whose certificates the test generates.

Every server listens on 127.0.0.1; the URL's host (portal.test) is only sent in SNI and
Host, the connection goes to the target's address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors import http
from monitord.errors import ConfigError, ConnectionRefused, TlsFailed
from monitord.types import FailureReason, Sample, SampleKind, Shared, Target, TargetKind
from tests.peers.tls import write_pem

DAY = 86400.0
TARGET = Target("portal", "127.0.0.1", TargetKind.WEBSITE)


# -- a tiny PKI ---------------------------------------------------------------------------


@dataclass
class Pki:
    """A test CA and leaf certificates it signs, as PEM files under `root`."""

    root: Path
    ca_key: ec.EllipticCurvePrivateKey = field(init=False)
    ca_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitord test CA")])
        now = dt.datetime.now(dt.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = self.root / "ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(
        self, name: str, *, days_left: float, days_valid: float = 90.0
    ) -> tuple[Path, Path, x509.Certificate]:
        """A certificate for `name` (SAN) expiring in `days_left` days (negative: expired)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        not_after = now + dt.timedelta(days=days_left)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after) - dt.timedelta(days=days_valid))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        stem = f"{name}-{int(days_left)}"
        cert_path, key_path = self.root / f"{stem}.pem", self.root / f"{stem}.key"
        write_pem(cert_path, key_path, cert, key)
        return cert_path, key_path, cert


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def server_context(cert: Path, key: Path, *, tls10_only: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if tls10_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


# -- a tiny HTTP server on loopback ---------------------------------------------------------

Route = tuple[int, Mapping[str, str], bytes]


@dataclass
class Server:
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sni: list[str | None] = field(default_factory=list)
    open: set[asyncio.Transport] = field(default_factory=set)


class _HttpProtocol(asyncio.Protocol):
    """One connection: read a request head, answer from the routes, close."""

    def __init__(self, routes: Mapping[str, Route], state: Server) -> None:
        self.routes = routes
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.open.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.state.open.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        lines = self.buf.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        host = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("host:")), ""
        )
        self.state.requests.append((path, host))
        status, headers, body = self.routes.get(path, (404, {}, b"not found"))
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.transport.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n{extra}\r\n".encode()
            + body
        )
        self.transport.close()


@asynccontextmanager
async def serve(
    routes: Mapping[str, Route], ctx: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """Answer GET requests from `routes` (path -> status, headers, body) on 127.0.0.1."""
    state = Server(0)
    if ctx is not None:
        ctx.sni_callback = lambda _obj, name, _ctx: state.sni.append(name)  # type: ignore[assignment,misc]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HttpProtocol(routes, state), "127.0.0.1", 0, ssl=ctx)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for transport in list(state.open):
            transport.abort()
        await server.wait_closed()


# -- helpers ----------------------------------------------------------------------------------


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in {[s.name for s in samples]}"
    return found[0].value


def violation(samples: list[Sample], check: str) -> float:
    return value(samples, "monitord_policy_violation", check=check)


def collector(**options: Any) -> http.HttpCollector:
    return http.build(options, Shared())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def assert_contract(samples: list[Sample]) -> None:
    specs = {m.name: m for m in http.HttpCollector.metrics}
    for s in samples:
        assert s.name in specs, s.name
        assert set(s.labels) == set(specs[s.name].labels), (s.name, s.labels)
        assert s.labels["target"] == TARGET.name


OK_PAGE: Route = (
    200,
    {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "Content-Type": "text/html; charset=utf-8",
    },
    "<h1>Alcaldía de Ejemplo</h1>".encode(),
)


def tls_failure(ctx: ssl.SSLContext | None, route: Route = OK_PAGE, **options: Any) -> TlsFailed:
    """Serve `route` at / (over `ctx`), poll its https URL and return the TlsFailed raised."""

    async def main() -> TlsFailed:
        async with serve({"/": route}, ctx) as srv:
            c = collector(url=f"https://portal.test:{srv.port}/", http_port=None, **options)
            with pytest.raises(TlsFailed) as info:
                await c.collect(TARGET)
            return info.value

    result: TlsFailed = run(main())
    return result


# -- tests: TLS ------------------------------------------------------------------------------


def test_cert_with_10_days_left_reports_expiry_tls_details_and_https_redirect(pki: Pki) -> None:
    cert, key, leaf = pki.leaf("portal.test", days_left=10)

    async def main() -> tuple[list[Sample], Server, Server]:
        async with (
            serve({"/": OK_PAGE}, server_context(cert, key)) as tls_srv,
            serve({"/": (301, {"Location": f"https://portal.test:{tls_srv.port}/"}, b"")}) as plain,
        ):
            c = collector(
                url=f"https://portal.test:{tls_srv.port}/",
                ca_file=str(pki.ca_file),
                contains="Alcaldía",
                http_port=plain.port,
            )
            return await c.collect(TARGET), tls_srv, plain

    samples, tls_srv, plain = run(main())
    assert_contract(samples)
    left = value(samples, "monitord_tls_cert_expiry_seconds")
    assert 10 * DAY - 120 < left <= 10 * DAY
    assert value(samples, "monitord_tls_cert_not_after_timestamp_seconds") == (
        leaf.not_valid_after_utc.timestamp()
    )
    assert value(samples, "monitord_tls_cert_valid") == 1
    assert value(samples, "monitord_tls_verify_result") == 0
    assert value(samples, "monitord_tls_hostname_match") == 1
    info = [s for s in samples if s.name == "monitord_tls_info"]
    assert len(info) == 1 and info[0].kind is SampleKind.INFO
    assert info[0].labels["version"] == "TLSv1.3"
    assert info[0].labels["cipher"].startswith("TLS_")
    assert info[0].labels["issuer"] == "monitord test CA"
    assert value(samples, "monitord_http_up") == 1
    assert value(samples, "monitord_http_status_code") == 200
    assert 0 < value(samples, "monitord_http_response_seconds") < 3
    assert value(samples, "monitord_http_content_match") == 1
    assert value(samples, "monitord_http_hsts") == 1
    assert value(samples, "monitord_http_redirects_to_https") == 1
    # 10 days left is below the 30-day warning; everything else complies.
    assert violation(samples, "tls_cert_expiry") == 1
    for check in (
        "tls_chain_invalid",
        "tls_hostname_mismatch",
        "tls_obsolete_protocol",
        "http_no_hsts",
        "http_no_https_redirect",
        "http_content_mismatch",
    ):
        assert violation(samples, check) == 0, check
    # Connected to 127.0.0.1, but SNI and Host carry the URL's host.
    assert "portal.test" in tls_srv.sni
    assert tls_srv.requests == [("/", f"portal.test:{tls_srv.port}")]
    assert plain.requests == [("/", f"portal.test:{plain.port}")]


def test_expired_cert_fails_with_reason_tls_and_still_reports_expiry(pki: Pki) -> None:
    cert, key, leaf = pki.leaf("portal.test", days_left=-3)
    exc = tls_failure(server_context(cert, key), ca_file=str(pki.ca_file))
    assert exc.reason is FailureReason.TLS
    assert "expired" in str(exc)
    samples = list(exc.samples)
    assert_contract(samples)
    assert value(samples, "monitord_tls_cert_valid") == 0
    assert value(samples, "monitord_tls_verify_result") == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    assert value(samples, "monitord_tls_hostname_match") == 1
    left = value(samples, "monitord_tls_cert_expiry_seconds")
    assert -3 * DAY - 120 < left < -3 * DAY + 1
    assert value(samples, "monitord_tls_cert_not_after_timestamp_seconds") == (
        leaf.not_valid_after_utc.timestamp()
    )
    assert violation(samples, "tls_chain_invalid") == 1
    assert violation(samples, "tls_cert_expiry") == 1
    # The page itself was still fetched (unverified) so its status is known.
    assert value(samples, "monitord_http_status_code") == 200
    assert value(samples, "monitord_http_up") == 1


def test_wrong_hostname_is_a_mismatch_with_a_valid_chain(pki: Pki) -> None:
    cert, key, _ = pki.leaf("otro.test", days_left=200)
    exc = tls_failure(server_context(cert, key), ca_file=str(pki.ca_file))
    assert "does not match host 'portal.test'" in str(exc)
    samples = list(exc.samples)
    assert value(samples, "monitord_tls_cert_valid") == 1
    assert value(samples, "monitord_tls_hostname_match") == 0
    assert violation(samples, "tls_hostname_mismatch") == 1
    assert violation(samples, "tls_chain_invalid") == 0
    assert violation(samples, "tls_cert_expiry") == 0
    assert value(samples, "monitord_http_up") == 1


def test_unknown_issuer_without_ca_file_is_an_invalid_chain(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)
    samples = list(tls_failure(server_context(cert, key)).samples)
    assert value(samples, "monitord_tls_cert_valid") == 0
    assert value(samples, "monitord_tls_verify_result") == 20  # unable to get local issuer
    assert value(samples, "monitord_tls_hostname_match") == 1
    assert 199 * DAY < value(samples, "monitord_tls_cert_expiry_seconds") <= 200 * DAY


def test_server_speaking_only_tls_1_0_is_reported_as_obsolete(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)

    async def main() -> list[Sample]:
        ctx = server_context(cert, key, tls10_only=True)
        async with serve({"/": OK_PAGE}, ctx) as srv:
            c = collector(
                url=f"https://portal.test:{srv.port}/", ca_file=str(pki.ca_file), http_port=None
            )
            return await c.collect(TARGET)

    samples = run(main())
    info = [s for s in samples if s.name == "monitord_tls_info"]
    assert [s.labels["version"] for s in info] == ["TLSv1"]
    assert violation(samples, "tls_obsolete_protocol") == 1
    assert value(samples, "monitord_tls_cert_valid") == 1
    assert value(samples, "monitord_http_up") == 1


# -- tests: HTTP -----------------------------------------------------------------------------


def test_unexpected_status_and_missing_text_are_data_not_failures(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)
    page: Route = (503, {}, b"mantenimiento")

    async def main() -> list[Sample]:
        async with serve({"/": page}, server_context(cert, key)) as srv:
            c = collector(
                url=f"https://portal.test:{srv.port}/",
                ca_file=str(pki.ca_file),
                contains="Alcaldía",
                http_port=None,
            )
            return await c.collect(TARGET)

    samples = run(main())
    assert value(samples, "monitord_http_up") == 0
    assert value(samples, "monitord_http_status_code") == 503
    assert value(samples, "monitord_http_content_match") == 0
    assert value(samples, "monitord_http_hsts") == 0
    assert violation(samples, "http_content_mismatch") == 1
    assert violation(samples, "http_no_hsts") == 1


def test_redirects_on_the_same_host_are_followed_to_the_target_address(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)

    async def main() -> tuple[list[Sample], Server]:
        routes: dict[str, Route] = {
            "/": (302, {"Location": "/inicio?x=1"}, b""),
            "/inicio?x=1": OK_PAGE,
        }
        async with serve(routes, server_context(cert, key)) as srv:
            c = collector(
                url=f"https://portal.test:{srv.port}/",
                ca_file=str(pki.ca_file),
                http_port=None,
                contains="Ejemplo",
            )
            return await c.collect(TARGET), srv

    samples, srv = run(main())
    assert [p for p, _ in srv.requests] == ["/", "/inicio?x=1"]
    assert value(samples, "monitord_http_status_code") == 200
    assert value(samples, "monitord_http_content_match") == 1
    # HSTS is judged on the first https answer of the configured URL (here: a 302 without it).
    assert value(samples, "monitord_http_hsts") == 0


def test_plain_http_url_without_redirect_violates_the_https_policy() -> None:
    async def main() -> tuple[list[Sample], Server]:
        async with serve({"/": (200, {}, b"hola")}) as srv:
            c = collector(url=f"http://portal.test:{srv.port}/")
            return await c.collect(TARGET), srv

    samples, srv = run(main())
    assert_contract(samples)
    assert srv.requests == [("/", f"portal.test:{srv.port}")]
    assert value(samples, "monitord_http_up") == 1
    assert value(samples, "monitord_http_redirects_to_https") == 0
    assert violation(samples, "http_no_https_redirect") == 1
    assert not [s for s in samples if s.name.startswith("monitord_tls_")]


def test_closed_port_is_connection_refused_with_http_up_zero() -> None:
    async def main() -> ConnectionRefused:
        async with serve({}) as srv:
            port = srv.port
        c = collector(url=f"https://portal.test:{port}/", http_port=None)
        with pytest.raises(ConnectionRefused) as info:
            await c.collect(TARGET)
        return info.value

    exc = run(main())
    assert exc.reason is FailureReason.REFUSED
    assert [(s.name, s.value) for s in exc.samples] == [("monitord_http_up", 0.0)]


def test_plain_http_port_not_served_leaves_redirect_metric_absent(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)

    async def main() -> list[Sample]:
        async with serve({}) as closed:
            closed_port = closed.port
        async with serve({"/": OK_PAGE}, server_context(cert, key)) as srv:
            c = collector(
                url=f"https://portal.test:{srv.port}/",
                ca_file=str(pki.ca_file),
                http_port=closed_port,
            )
            return await c.collect(TARGET)

    samples = run(main())
    assert value(samples, "monitord_http_up") == 1
    assert not [s for s in samples if s.name == "monitord_http_redirects_to_https"]


# -- pure functions and config ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "dns", "ips", "expected"),
    [
        ("portal.test", ["portal.test"], [], True),
        ("PORTAL.test.", ["portal.TEST"], [], True),
        ("www.example.gov.co", ["*.example.gov.co"], [], True),
        ("example.gov.co", ["*.example.gov.co"], [], False),
        ("a.b.example.gov.co", ["*.example.gov.co"], [], False),
        ("x.org", ["*.org"], [], False),
        ("portal.test", ["otro.test"], [], False),
        ("127.0.0.1", ["127.0.0.1"], [], False),
        ("127.0.0.1", [], ["127.0.0.1"], True),
        ("::1", [], ["0:0::1"], True),
    ],
    ids=[
        "exact",
        "case-and-dot",
        "wildcard",
        "wildcard-not-apex",
        "wildcard-one-label",
        "wildcard-tld",
        "other-name",
        "ip-in-dns",
        "ip",
        "ipv6",
    ],
)
def test_hostname_matches(host: str, dns: list[str], ips: list[str], expected: bool) -> None:
    assert http.hostname_matches(host, dns, ips) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("max-age=0", False),
        ("max-age=31536000", True),
        ('max-age="600"; includeSubDomains', True),
        ("includeSubDomains", False),
        ("max-age=abc", False),
    ],
)
def test_hsts_enabled(header: str | None, expected: bool) -> None:
    assert http.hsts_enabled(header) is expected


@pytest.mark.parametrize(
    ("options", "fld", "message"),
    [
        ({"url": "ftp://x/"}, "url", "invalid url"),
        ({"url": "https://user:pw@x/"}, "url", "credentials in the url are not allowed"),
        ({"url": "https://x/", "ca_file": "/nonexistent/ca.pem"}, "ca_file", "file not found"),
        ({"url": "https://x/", "expect_status": 99}, "expect_status", "between 100 and 599"),
        ({"url": "https://x/", "bogus": 1}, "bogus", "unknown key"),
        ({}, "url", "required field is missing"),
    ],
    ids=["scheme", "credentials", "ca-file", "status", "unknown-key", "missing-url"],
)
def test_build_rejects_bad_options(options: dict[str, object], fld: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        http.build(options, Shared())
    issue = info.value.issues[0]
    assert issue.field == fld
    assert message in issue.message
    assert "pw" not in str(info.value)


def test_defaults_are_the_documented_ones() -> None:
    c = collector(url="https://www.example.gov.co/")
    assert c.options.expect_status == 200
    assert c.options.contains is None
    assert c.options.ca_file is None
    assert c.options.expiry_warning == 30 * DAY
    assert c.options.http_port == 80


def test_response_time_is_measured(pki: Pki) -> None:
    cert, key, _ = pki.leaf("portal.test", days_left=200)

    async def main() -> tuple[list[Sample], float]:
        async with serve({"/": OK_PAGE}, server_context(cert, key)) as srv:
            c = collector(
                url=f"https://portal.test:{srv.port}/", ca_file=str(pki.ca_file), http_port=None
            )
            t0 = time.perf_counter()
            out = await c.collect(TARGET)
            return out, time.perf_counter() - t0

    samples, wall = run(main())
    assert 0 < value(samples, "monitord_http_response_seconds") <= wall


def test_server_not_speaking_tls_fails_with_reason_tls() -> None:
    t0 = time.monotonic()
    exc = tls_failure(None, (200, {}, b"plain"), request_timeout="200ms")  # plain HTTP on https
    assert time.monotonic() - t0 < 2
    assert exc.reason is FailureReason.TLS
    assert "failed, also with legacy protocols" in str(exc)
    assert [(s.name, s.value) for s in exc.samples] == [("monitord_http_up", 0.0)]


def test_cancelled_poll_during_the_handshake_releases_its_sockets() -> None:
    async def main() -> None:
        async with serve({}) as srv:  # never answers a ClientHello
            c = collector(url=f"https://portal.test:{srv.port}/", http_port=None)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await c.collect(TARGET)

    t0 = time.monotonic()
    run(main())
    assert time.monotonic() - t0 < 1
    gc.collect()


def test_issue_example_config_block_loads(tmp_path: Path) -> None:
    from collectors import tcp
    from monitord.config import parse_config_text

    text = """
targets:
  - name: portal
    address: 127.0.0.1
    kind: website
    collectors:
      http: {url: "https://www.example.gov.co/", ca_file: null, expect_status: 200, contains: null}
      tcp: {must_be_open: [443], must_be_closed: [21, 23, 3389]}
"""
    cfg = parse_config_text(
        text, str(tmp_path / "m.yaml"), {"http": http.build, "tcp": tcp.build}, Shared()
    )
    jobs = {j.kind: j for j in cfg.targets[0].collectors}
    assert jobs["http"].options.url == "https://www.example.gov.co/"
    assert jobs["tcp"].options.must_be_closed == (21, 23, 3389)
