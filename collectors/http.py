"""HTTP(S) probe of a web portal: status, response time, content, HTTPS redirect, HSTS and TLS.

The connection goes to the target's `address`; the URL's host is only the name sent in
SNI and the Host header and checked against the certificate. So `url:
https://www.example.gov.co/` on a target with `address: 10.0.0.80` probes that one server
even behind a load balancer or a DNS that is not yet pointing at it.

TLS is observed apart from the HTTP request, with the stdlib `ssl` module, on its own
connection: a verifying handshake (chain against `ca_file` or the system store, hostname
NOT checked by OpenSSL) gives version, cipher, the certificate and chain validity; when the
chain does not verify (expired, self-signed, unknown issuer...), a second, non-verifying
handshake still reads the certificate, so its expiry and issuer are reported. The hostname
is matched by this module against the certificate's subjectAltName (RFC 6125: exact name or
a wildcard as the whole left-most label; the subject CN is not used, as browsers do not).
A server that refuses TLS >= 1.2 is observed with a legacy-permissive context so that its
obsolete version is reported (and becomes a finding) instead of a bare handshake failure.
The certificate is parsed with `cryptography` (stdlib `ssl` parses verified certificates
only).

The HTTP request uses httpx (HTTP/1.1 parsing, chunked and gzip bodies, per-step
timeouts; `trust_env=False`, so no proxy from the environment). Redirects are followed by
hand, up to `max_redirects`; hops to the URL's own host go to the target's address again.
When the TLS check failed, the request still runs without verification so that status and
content are reported, and the poll then fails with reason `tls` (partial samples kept).
Connection failures (refused, timeout, DNS, unreachable) fail the poll with
`monitord_http_up` 0; an unexpected status or a missing content string is data
(`monitord_http_up` 0 or `monitord_http_content_match` 0), not a poll failure.

Emits (per target; `target` is the only label unless said):
  monitord_http_up                                   1 when the final status is expect_status
  monitord_http_status_code                          status of the final response
  monitord_http_response_seconds                     request start to last body byte, all hops
  monitord_http_content_match                        1/0, only with `contains`
  monitord_http_redirects_to_https                   1/0: does plain HTTP redirect to https?
                                                     (absent when plain HTTP is not served)
  monitord_http_hsts                                 1/0, https URLs: HSTS with max-age > 0
  monitord_tls_info{target,version,cipher,issuer}    1
  monitord_tls_cert_valid                            1/0: the chain verifies (hostname apart)
  monitord_tls_verify_result                         OpenSSL X509 verify code, 0 = ok
  monitord_tls_hostname_match                        1/0
  monitord_tls_cert_not_after_timestamp_seconds      notAfter of the leaf certificate
  monitord_tls_cert_expiry_seconds                   seconds until notAfter (< 0: expired)
  monitord_policy_violation{target,check,port}       1 while violated, 0 otherwise; checks:
      tls_chain_invalid, tls_hostname_mismatch, tls_obsolete_protocol, tls_cert_expiry
      (less than `expiry_warning` left), http_no_hsts, http_no_https_redirect,
      http_content_mismatch
Series budget: at most 19 per target (https URL with `contains` and the redirect probe).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from collectors._checks import VIOLATION_SPEC, violation
from monitord.config import Duration, parse_options
from monitord.errors import (
    CollectorError,
    ConfigError,
    ConnectionRefused,
    MalformedResponse,
    NameResolutionFailed,
    TargetTimeout,
    TargetUnreachable,
    TlsFailed,
)
from monitord.types import MetricSpec, Reach, Role, Sample, SampleKind, Shared, Target

__all__ = [
    "KIND",
    "HttpCollector",
    "Options",
    "PolicyCheck",
    "TlsReport",
    "build",
    "hostname_matches",
    "hsts_enabled",
]

KIND: Final = "http"
_TLS_1_2: Final = (1, 2)
_LEGACY_CIPHERS: Final = "ALL:@SECLEVEL=0"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class PolicyCheck(StrEnum):
    """The `check` label values of monitord_policy_violation emitted by this collector."""

    TLS_CHAIN_INVALID = "tls_chain_invalid"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_OBSOLETE_PROTOCOL = "tls_obsolete_protocol"
    TLS_CERT_EXPIRY = "tls_cert_expiry"
    HTTP_NO_HSTS = "http_no_hsts"
    HTTP_NO_HTTPS_REDIRECT = "http_no_https_redirect"
    HTTP_CONTENT_MISMATCH = "http_content_mismatch"


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the http collector; the defaults here are the documented defaults."""

    url: str  # http:// or https:// URL; its host goes in SNI and Host, not in the connect
    ca_file: str | None = None  # PEM CAs to trust instead of the system store
    expect_status: int = 200  # final status (after redirects) that means "up"
    contains: str | None = None  # text expected in the body (first max_body_bytes)
    request_timeout: Duration = 3.0  # per step (connect, handshake, request); below `timeout`
    follow_redirects: bool = True
    max_redirects: int = 5
    http_port: int | None = 80  # https URLs: probe plain HTTP here for a redirect; null: don't
    expiry_warning: Duration = 30 * 86400.0  # tls_cert_expiry is violated below this
    max_body_bytes: int = 1 << 20  # read at most this much for `contains`
    user_agent: str = "monitord-http-probe"


@dataclass(frozen=True, slots=True)
class TlsReport:
    """What the TLS handshake(s) showed; `verify_code` is OpenSSL's (0 ok, -1 unknown)."""

    version: str
    cipher: str
    chain_valid: bool
    verify_code: int
    verify_message: str
    hostname_match: bool
    not_after: float
    issuer: str

    @property
    def obsolete(self) -> bool:
        """True for SSL 3, TLS 1.0 and TLS 1.1."""
        return _version_tuple(self.version) < _TLS_1_2


class HttpCollector:
    """Probe one URL on the target's address; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 4  # the reports: lowest rank = device availability
    service: ClassVar[str] = "web"  # a service the users see (reports)
    reach: ClassVar[Reach] = Reach.DEVICE
    # Security checks a successful poll runs (capability RunsChecks; history check names).
    checks: ClassVar[tuple[str, ...]] = (
        "tls.cert_expiry",
        "tls.chain_invalid",
        "tls.hostname_mismatch",
        "tls.obsolete_protocol",
        "tls.http_no_hsts",
        "tls.http_no_https_redirect",
        "tls.http_content_mismatch",
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "monitord_http_up",
            SampleKind.GAUGE,
            "1 when the final HTTP response (after redirects) had the expected status; "
            "value from the last poll.",
        ),
        MetricSpec(
            "monitord_http_status_code",
            SampleKind.GAUGE,
            "HTTP status code of the final response of the last poll.",
        ),
        MetricSpec(
            "monitord_http_response_seconds",
            SampleKind.GAUGE,
            "Time from sending the request to reading the last body byte, over all redirects, "
            "in the last poll.",
            unit="seconds",
        ),
        MetricSpec(
            "monitord_http_content_match",
            SampleKind.GAUGE,
            "1 when the body contained the configured text (first max_body_bytes), last poll.",
        ),
        MetricSpec(
            "monitord_http_redirects_to_https",
            SampleKind.GAUGE,
            "1 when plain HTTP to the site answers with a redirect to https; absent when plain "
            "HTTP is not served; last poll.",
        ),
        MetricSpec(
            "monitord_http_hsts",
            SampleKind.GAUGE,
            "1 when the https response carries Strict-Transport-Security with max-age > 0.",
        ),
        MetricSpec(
            "monitord_tls_info",
            SampleKind.INFO,
            "TLS version, cipher and certificate issuer seen in the last handshake (value 1).",
            labels=("target", "version", "cipher", "issuer"),
            roles=frozenset({Role.CHECK_INPUT, Role.GAUGE_META}),
            rollup="tls_info",
            meta_of="tls_not_after",  # the certificate inventory: issuer and TLS version
            meta_labels=("issuer", "version"),
        ),
        MetricSpec(
            "monitord_tls_cert_valid",
            SampleKind.GAUGE,
            "1 when the certificate chain verifies against the trust store (ca_file or the "
            "system's), hostname apart; last poll.",
            roles=frozenset({Role.CHECK_INPUT, Role.DAILY_GAUGE}),
            rollup="tls_cert_valid",  # also the certificate inventory of the security report
        ),
        MetricSpec(
            "monitord_tls_verify_result",
            SampleKind.GAUGE,
            "OpenSSL X509 verification code of the chain (0 ok, 10 expired, 18 self-signed, "
            "19 self-signed CA in chain, 20 unknown issuer; -1 not known); last poll.",
            roles=frozenset({Role.CHECK_INPUT}),
            rollup="tls_verify_result",
        ),
        MetricSpec(
            "monitord_tls_hostname_match",
            SampleKind.GAUGE,
            "1 when the URL's host matches the certificate's subjectAltName; last poll.",
            roles=frozenset({Role.DAILY_GAUGE}),
            rollup="tls_hostname_match",  # the certificate inventory of the security report
        ),
        MetricSpec(
            "monitord_tls_cert_not_after_timestamp_seconds",
            SampleKind.GAUGE,
            "notAfter of the server's leaf certificate, seconds since the epoch.",
            unit="seconds",
            roles=frozenset({Role.CHECK_INPUT, Role.DAILY_GAUGE}),
            rollup="tls_not_after",  # also the certificate inventory of the security report
        ),
        MetricSpec(
            "monitord_tls_cert_expiry_seconds",
            SampleKind.GAUGE,
            "Seconds from the last poll until the leaf certificate's notAfter (negative once "
            "expired).",
            unit="seconds",
        ),
        VIOLATION_SPEC,
    )

    def __init__(self, options: Options, url: SplitResult) -> None:
        self.options = options
        self._url = url
        self._host = _host_of(url)
        self._port = url.port or _DEFAULT_PORTS[url.scheme]
        self._https = url.scheme == "https"
        self._strict = _verifying_context(options.ca_file, legacy=False)
        self._legacy_verify = _verifying_context(options.ca_file, legacy=True)
        self._observe = _observing_context()
        self._request_ctx = ssl.create_default_context(cafile=options.ca_file)

    async def collect(self, target: Target) -> list[Sample]:
        """Probe the URL once (TLS, HTTP, redirect to HTTPS) and return the samples."""
        opts = self.options
        labels = {"target": target.name}
        down = Sample("monitord_http_up", labels, 0.0)
        tls: TlsReport | None = None
        if self._https:
            try:
                tls = await self._probe_tls(target.address)
            except CollectorError as exc:
                raise type(exc)(str(exc), samples=[down]) from exc
        out: list[Sample] = [] if tls is None else self._tls_samples(target.name, tls)
        tls_ok = tls is not None and tls.chain_valid and tls.hostname_match and not tls.obsolete
        try:
            out.extend(await self._probe_http(target, verified=tls_ok))
        except CollectorError as exc:
            raise type(exc)(str(exc), samples=[*out, down]) from exc
        if self._https and opts.http_port is not None:
            redirect = await self._probe_plain_http(target)
            if redirect is not None:
                out.append(Sample("monitord_http_redirects_to_https", labels, float(redirect)))
                out.append(
                    self._violation(
                        target.name,
                        PolicyCheck.HTTP_NO_HTTPS_REDIRECT,
                        not redirect,
                        opts.http_port,
                    )
                )
        if tls is not None and not (tls.chain_valid and tls.hostname_match):
            why = []
            if not tls.chain_valid:
                why.append(f"certificate chain does not verify ({tls.verify_message})")
            if not tls.hostname_match:
                why.append(f"certificate does not match host {self._host!r}")
            raise TlsFailed(
                f"tls check failed for {self._shown()} at {target.address}: {'; '.join(why)}",
                samples=out,
            )
        return out

    # -- TLS -------------------------------------------------------------------------------

    async def _probe_tls(self, address: str) -> TlsReport:
        """Handshake with verification; on failure, again without, to still read the cert."""
        code, message = 0, "ok"
        try:
            try:
                version, cipher, der = await self._handshake(address, self._strict)
            except ssl.SSLCertVerificationError as exc:
                code, message = exc.verify_code, exc.verify_message
                version, cipher, der = await self._handshake(address, self._observe)
            except _HandshakeFailed:
                # No TLS >= 1.2 in common: look again, permissively, to name what is offered.
                try:
                    version, cipher, der = await self._handshake(address, self._legacy_verify)
                except ssl.SSLCertVerificationError as exc:
                    code, message = exc.verify_code, exc.verify_message
                    version, cipher, der = await self._handshake(address, self._observe)
        except (_HandshakeFailed, ssl.SSLCertVerificationError) as exc:
            raise TlsFailed(
                f"tls handshake with {address}:{self._port} (sni {self._host}) failed, also with "
                f"legacy protocols and without verification; the server offers no TLS this "
                f"client can speak, or closes the connection (timeout "
                f"{self.options.request_timeout:g}s per step)"
            ) from exc
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise MalformedResponse(
                f"the certificate sent by {address}:{self._port} cannot be parsed"
            ) from exc
        return TlsReport(
            version=version,
            cipher=cipher,
            chain_valid=code == 0,
            verify_code=code,
            verify_message=message,
            hostname_match=_cert_matches(cert, self._host),
            not_after=cert.not_valid_after_utc.timestamp(),
            issuer=_name_text(cert.issuer),
        )

    async def _handshake(self, address: str, ctx: ssl.SSLContext) -> tuple[str, str, bytes]:
        """One TCP connect + TLS handshake; return (version, cipher, leaf DER)."""
        timeout = self.options.request_timeout
        writer = await _connect(address, self._port, timeout)
        try:
            try:
                async with asyncio.timeout(timeout):
                    await writer.start_tls(ctx, server_hostname=self._host)
            except ssl.SSLCertVerificationError:
                raise
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                raise _HandshakeFailed() from exc
            obj = writer.get_extra_info("ssl_object")
            if not isinstance(obj, ssl.SSLObject):
                raise _HandshakeFailed()
            der = obj.getpeercert(binary_form=True)
            cipher = obj.cipher()
            if der is None or cipher is None:
                raise MalformedResponse(f"{address}:{self._port} sent no certificate")
            return obj.version() or "unknown", cipher[0], der
        finally:
            writer.transport.abort()

    def _tls_samples(self, name: str, tls: TlsReport) -> list[Sample]:
        labels = {"target": name}
        left = tls.not_after - time.time()
        info = {"target": name, "version": tls.version, "cipher": tls.cipher, "issuer": tls.issuer}
        port = self._port
        return [
            Sample("monitord_tls_info", info, 1.0, SampleKind.INFO),
            Sample("monitord_tls_cert_valid", labels, float(tls.chain_valid)),
            Sample("monitord_tls_verify_result", labels, float(tls.verify_code)),
            Sample("monitord_tls_hostname_match", labels, float(tls.hostname_match)),
            Sample("monitord_tls_cert_not_after_timestamp_seconds", labels, tls.not_after),
            Sample("monitord_tls_cert_expiry_seconds", labels, left),
            self._violation(name, PolicyCheck.TLS_CHAIN_INVALID, not tls.chain_valid, port),
            self._violation(name, PolicyCheck.TLS_HOSTNAME_MISMATCH, not tls.hostname_match, port),
            self._violation(name, PolicyCheck.TLS_OBSOLETE_PROTOCOL, tls.obsolete, port),
            self._violation(
                name, PolicyCheck.TLS_CERT_EXPIRY, left < self.options.expiry_warning, port
            ),
        ]

    # -- HTTP ------------------------------------------------------------------------------

    async def _probe_http(self, target: Target, *, verified: bool) -> list[Sample]:
        """GET the URL (following redirects by hand); status, time, content, HSTS."""
        opts = self.options
        labels = {"target": target.name}
        ctx = self._request_ctx if verified else self._observe
        if not self._https:
            # Plain HTTP: classify connection failures ourselves (httpx folds them together).
            writer = await _connect(target.address, self._port, opts.request_timeout)
            writer.close()
        url = self._url.geturl()
        hsts: bool | None = None
        to_https: bool | None = None
        hops = 0
        async with self._client(ctx) as client:
            start = time.perf_counter()
            while True:
                status, headers, body = await self._get(client, target, url, read_body=True)
                if hops == 0 and self._https:
                    hsts = hsts_enabled(headers.get("strict-transport-security"))
                location = headers.get("location") if 300 <= status < 400 else None
                if hops == 0 and not self._https:
                    to_https = (
                        location is not None and urlsplit(urljoin(url, location)).scheme == "https"
                    )
                if location is None or not opts.follow_redirects or hops >= opts.max_redirects:
                    break
                url = urljoin(url, location)
                if urlsplit(url).scheme not in _DEFAULT_PORTS:
                    raise MalformedResponse(
                        f"{self._shown()} redirects to a non-HTTP location (scheme "
                        f"{urlsplit(url).scheme!r})"
                    )
                hops += 1
            elapsed = time.perf_counter() - start
        out = [
            Sample("monitord_http_up", labels, float(status == opts.expect_status)),
            Sample("monitord_http_status_code", labels, float(status)),
            Sample("monitord_http_response_seconds", labels, elapsed),
        ]
        if opts.contains is not None:
            found = opts.contains in body
            out.append(Sample("monitord_http_content_match", labels, float(found)))
            out.append(
                self._violation(
                    target.name, PolicyCheck.HTTP_CONTENT_MISMATCH, not found, self._port
                )
            )
        if hsts is not None:
            out.append(Sample("monitord_http_hsts", labels, float(hsts)))
            out.append(self._violation(target.name, PolicyCheck.HTTP_NO_HSTS, not hsts, self._port))
        if to_https is not None:
            out.append(Sample("monitord_http_redirects_to_https", labels, float(to_https)))
            out.append(
                self._violation(
                    target.name, PolicyCheck.HTTP_NO_HTTPS_REDIRECT, not to_https, self._port
                )
            )
        return out

    async def _probe_plain_http(self, target: Target) -> bool | None:
        """Does http://host:http_port/ redirect to https? None when plain HTTP is not served."""
        port = self.options.http_port
        netloc = self._netloc(port or 80, "http")
        url = self._url._replace(scheme="http", netloc=netloc).geturl()
        try:
            async with self._client(self._observe) as client:
                status, headers, _ = await self._get(client, target, url, read_body=False)
        except (
            TargetTimeout,
            TargetUnreachable,
            ConnectionRefused,
            MalformedResponse,
            NameResolutionFailed,
            TlsFailed,
        ):
            return None
        location = headers.get("location") if 300 <= status < 400 else None
        return location is not None and urlsplit(urljoin(url, location)).scheme == "https"

    def _client(self, ctx: ssl.SSLContext) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=ctx,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.options.request_timeout),
            headers={"User-Agent": self.options.user_agent},
        )

    async def _get(
        self, client: httpx.AsyncClient, target: Target, url: str, *, read_body: bool
    ) -> tuple[int, Mapping[str, str], str]:
        """One GET; to the target's address when the URL's host is the configured host."""
        parts = urlsplit(url)
        host = _host_of(parts)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
        extensions: dict[str, str] = {}
        headers: dict[str, str] = {}
        if host == self._host:
            request_url = httpx.URL(
                scheme=parts.scheme,
                host=target.address,
                port=port,
                raw_path=(parts.path or "/").encode()
                + (b"?" + parts.query.encode() if parts.query else b""),
            )
            headers["Host"] = self._netloc(port, parts.scheme)
            if parts.scheme == "https":
                extensions["sni_hostname"] = host
        else:
            request_url = httpx.URL(url)
        limit = self.options.max_body_bytes
        try:
            async with client.stream(
                "GET", request_url, headers=headers, extensions=extensions
            ) as resp:
                body = bytearray()
                if read_body:
                    async for chunk in resp.aiter_bytes():
                        body += chunk[: limit - len(body)]
                        if len(body) >= limit:
                            break
                return resp.status_code, resp.headers, _decode(bytes(body), resp.charset_encoding)
        except httpx.TimeoutException as exc:
            raise TargetTimeout(
                f"http request to {_shown(parts)} at {target.address} timed out after "
                f"{self.options.request_timeout:g}s"
            ) from exc
        except (
            httpx.ProtocolError,
            httpx.DecodingError,
            httpx.InvalidURL,
            httpx.UnsupportedProtocol,
        ) as exc:
            raise MalformedResponse(
                f"http response from {_shown(parts)} at {target.address} is not valid HTTP"
            ) from exc
        except httpx.TransportError as exc:
            raise _classify_transport(exc, f"http request to {_shown(parts)}") from exc

    # -- helpers ---------------------------------------------------------------------------

    def _violation(self, name: str, check: PolicyCheck, violated: bool, port: int) -> Sample:
        return violation(name, check, violated, str(port))

    def _netloc(self, port: int, scheme: str) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return host if port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"

    def _shown(self) -> str:
        return _shown(self._url)


def build(options: Mapping[str, object], shared: Shared) -> HttpCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    url = urlsplit(opts.url)
    if url.scheme not in _DEFAULT_PORTS or not url.hostname:
        raise ConfigError(
            f"invalid url {opts.url!r}: expected http://HOST[:PORT]/PATH or https://...",
            field="url",
        )
    if url.username is not None or url.password is not None:
        raise ConfigError("credentials in the url are not allowed", field="url")
    try:
        url.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConfigError(f"invalid port in url {opts.url!r}", field="url") from None
    if not 100 <= opts.expect_status <= 599:
        raise ConfigError("must be an HTTP status between 100 and 599", field="expect_status")
    if opts.http_port is not None and not 0 < opts.http_port < 65536:
        raise ConfigError("port out of range 1-65535", field="http_port")
    if not 0 <= opts.max_redirects <= 20:
        raise ConfigError("must be between 0 and 20", field="max_redirects")
    if opts.max_body_bytes < 1:
        raise ConfigError("must be at least 1", field="max_body_bytes")
    if opts.contains == "":
        raise ConfigError("must not be empty (omit it to skip the content check)", field="contains")
    try:
        return HttpCollector(opts, url)
    except FileNotFoundError:
        raise ConfigError(f"file not found: {opts.ca_file}", field="ca_file") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load CA certificates from {opts.ca_file}: {type(exc).__name__}",
            field="ca_file",
        ) from None


def hostname_matches(host: str, dns_names: Sequence[str], ip_names: Sequence[str]) -> bool:
    """RFC 6125 match of `host` against subjectAltName entries (no CN fallback).

    An IP literal matches an iPAddress entry; a name matches a dNSName exactly (case and a
    trailing dot ignored) or a wildcard that is the whole left-most label (`*.example.org`
    matches `www.example.org`, not `example.org` nor `a.b.example.org`).
    """
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(ip, name) for name in ip_names)
    want = host.lower().rstrip(".")
    labels = want.split(".")
    for name in dns_names:
        pattern = name.lower().rstrip(".")
        if pattern == want:
            return True
        if pattern.startswith("*.") and "*" not in pattern[2:] and len(labels) > 2:
            if pattern[2:] == ".".join(labels[1:]) and pattern.count(".") == want.count("."):
                return True
    return False


def hsts_enabled(header: str | None) -> bool:
    """True when a Strict-Transport-Security header value has max-age > 0 (RFC 6797)."""
    if not header:
        return False
    for directive in header.split(";"):
        key, _, value = directive.strip().partition("=")
        if key.strip().lower() == "max-age":
            try:
                return int(value.strip().strip('"')) > 0
            except ValueError:
                return False
    return False


# -- private helpers -------------------------------------------------------------------------


class _HandshakeFailed(Exception):
    """The TLS handshake failed for a reason other than certificate verification."""


async def _connect(address: str, port: int, timeout: float) -> asyncio.StreamWriter:
    """Open a TCP connection; map failures to CollectorError subclasses."""
    where = f"{address}:{port}"
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError as exc:
        raise TargetTimeout(f"tcp connect to {where} timed out after {timeout:g}s") from exc
    except ConnectionRefusedError as exc:
        raise ConnectionRefused(f"tcp connect to {where} refused; is the web server up?") from exc
    except socket.gaierror as exc:
        raise NameResolutionFailed(f"cannot resolve {address!r}; check the target address") from exc
    except OSError as exc:
        raise TargetUnreachable(
            f"tcp connect to {where} failed: {exc.strerror or 'error'}"
        ) from exc
    return writer


def _classify_transport(exc: httpx.TransportError, what: str) -> CollectorError:
    """Map an httpx transport error by the OSError that caused it (never by its message)."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLError):
            return TlsFailed(f"{what}: tls failure")
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionRefused(f"{what}: connection refused")
        if isinstance(cause, socket.gaierror):
            return NameResolutionFailed(f"{what}: name does not resolve")
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return TargetUnreachable(f"{what}: connection failed ({type(exc).__name__})")


def _verifying_context(ca_file: str | None, *, legacy: bool) -> ssl.SSLContext:
    """Chain verification without OpenSSL's hostname check (this module matches names)."""
    if not legacy:
        ctx = ssl.create_default_context(cafile=ca_file)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca_file is None:
            ctx.load_default_certs()
        else:
            ctx.load_verify_locations(cafile=ca_file)
        _allow_legacy(ctx)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _observing_context() -> ssl.SSLContext:
    """No verification, every protocol version: only to read what the server presents."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _allow_legacy(ctx)
    return ctx


def _allow_legacy(ctx: ssl.SSLContext) -> None:
    # Setting TLSv1 as the floor warns (deprecated); it is deliberate here: the probe must be
    # able to see an obsolete server to report it. Done once, at build time.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers(_LEGACY_CIPHERS)


def _cert_matches(cert: x509.Certificate, host: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return hostname_matches(host, dns, ips)


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def _name_text(name: x509.Name) -> str:
    """The CN of a distinguished name, or its RFC 4514 form when it has none."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns:
        value = cns[0].value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return name.rfc4514_string()


def _host_of(url: SplitResult) -> str:
    host = url.hostname or ""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    return host.lower()


def _shown(url: SplitResult) -> str:
    """The URL without query or fragment (they may carry tokens)."""
    return url._replace(query="", fragment="").geturl()


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name in Content-Type
        return body.decode("utf-8", errors="replace")


def _version_tuple(version: str) -> tuple[int, int]:
    known = {
        "SSLv2": (0, 2),
        "SSLv3": (0, 3),
        "TLSv1": (1, 0),
        "TLSv1.1": (1, 1),
        "TLSv1.2": (1, 2),
        "TLSv1.3": (1, 3),
    }
    return known.get(version, (9, 9))
