"""Prometheus exposition of the state, and the HTTP server for /metrics and /healthz.

`/metrics` is rendered from `State.snapshot()` only: it never waits for a poll. Device
series are rendered per (target, collector) group and the text of a group is cached
until that group's next poll changes it (its `version`), so a scrape of 100,000 series
mostly joins cached strings. monitord's own metrics (prometheus_client registry) are
appended with `generate_latest`.

Exposed counters are the raw device counters (as snmp_exporter and node_exporter do),
so a value can be checked against `snmpget`; rates are the core's business. No sample
timestamps are set. Core series rendered here, per (target, collector):
`monitord_target_up`, `monitord_last_poll_timestamp_seconds`,
`monitord_last_poll_duration_seconds`, `monitord_last_poll_success`; per target:
`monitord_target_info{target,kind,site,address}`.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest

from monitord.httpguard import ConnectionGuard, DeadlineHandler, GuardedHTTPServer
from monitord.state import GroupView, LabelSet, Snapshot
from monitord.types import MetricSpec, SampleKind

if TYPE_CHECKING:
    from exporters.webconfig import WebConfig

__all__ = [
    "CONTENT_TYPE",
    "CORE_SPECS",
    "Body",
    "ExpositionRenderer",
    "MetricsServer",
    "Packed",
    "format_value",
    "specs_by_name",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WWW_AUTHENTICATE = 'Basic realm="monitord", charset="UTF-8"'

CORE_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "monitord_target_up",
        SampleKind.GAUGE,
        "1 if the target answers this collector, 0 if it is down"
        " (after hysteresis: failures_to_down / successes_to_up).",
        ("target", "collector"),
    ),
    MetricSpec(
        "monitord_last_poll_timestamp_seconds",
        SampleKind.GAUGE,
        "Unix time when the last poll of this target by this collector ended.",
        ("target", "collector"),
    ),
    MetricSpec(
        "monitord_last_poll_duration_seconds",
        SampleKind.GAUGE,
        "Wall time of the last poll of this target by this collector.",
        ("target", "collector"),
    ),
    MetricSpec(
        "monitord_last_poll_success",
        SampleKind.GAUGE,
        "1 if the last poll of this target by this collector succeeded,"
        " 0 if it failed (no hysteresis).",
        ("target", "collector"),
    ),
    MetricSpec(
        "monitord_target_info",
        SampleKind.INFO,
        "Descriptive labels of a configured target; always 1.",
        ("target", "kind", "site", "address"),
    ),
)

_GroupKey = tuple[str, str]
_PACK_LEVEL = 1  # zlib level of the cached group texts: fast, and about 6x smaller
_PACK_MIN = 512  # shorter texts (an ICMP target's one line per metric) stay plain


class Packed:
    """One cached piece of exposition text, zlib-compressed, with its plain size."""

    __slots__ = ("data", "size")

    def __init__(self, text: bytes) -> None:
        self.data = zlib.compress(text, _PACK_LEVEL)
        self.size = len(text)


def _pack(text: bytes) -> bytes | Packed:
    return Packed(text) if len(text) >= _PACK_MIN else text


class Body:
    """A /metrics body as its pieces in order: plain bytes, or `Packed` group texts that
    are unpacked one at a time while the body is written (`chunks()`), so the whole text
    never sits in memory at once. `size` is the plain length (Content-Length)."""

    __slots__ = ("pieces", "size")

    def __init__(self, pieces: list[bytes | Packed]) -> None:
        self.pieces = pieces
        self.size = sum(len(p) if isinstance(p, bytes) else p.size for p in pieces)

    def chunks(self, batch: int = 1 << 18) -> Iterator[bytes]:
        """The plain text in chunks of about `batch` bytes."""
        buf: list[bytes] = []
        have = 0
        for p in self.pieces:
            text = p if isinstance(p, bytes) else zlib.decompress(p.data)
            buf.append(text)
            have += len(text)
            if have >= batch:
                yield b"".join(buf)
                buf, have = [], 0
        if buf:
            yield b"".join(buf)

    def join(self) -> bytes:
        """The whole text in one bytes object."""
        return b"".join(self.chunks())


# (view, its version, text per metric name)
_Rendered = tuple[GroupView, int, dict[str, "bytes | Packed"]]


def format_value(v: float) -> str:
    """Render a sample value the way the text format wants it."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _escape(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        v = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return v


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


class ExpositionRenderer:
    """Renders snapshots to the Prometheus text format, caching per group.

    The text of a group is rendered once per group version and kept; `prepare()` renders a
    group as soon as a poll changed it (the daemon calls it on the event loop after each
    poll, once a first scrape has shown that someone reads /metrics), so a scrape mostly
    joins text rendered beforehand, in small pieces spread over the polls: a big scrape
    neither holds the GIL for long against the event loop nor delays a poll. A scrape is
    served as the list of these pieces (`render_parts`), never joined into one body.
    """

    def __init__(self, specs: Iterable[MetricSpec]) -> None:
        self._headers: dict[str, bytes] = {}
        for spec in (*CORE_SPECS, *specs):
            mtype = "counter" if spec.kind is SampleKind.COUNTER else "gauge"
            help_text = spec.help.replace("\\", "\\\\").replace("\n", "\\n")
            self._headers[spec.name] = (
                f"# HELP {spec.name} {help_text}\n# TYPE {spec.name} {mtype}\n".encode()
            )
        # group → (view, version, text per metric name)
        self._cache: dict[_GroupKey, _Rendered] = {}
        self._info_cache: dict[str, tuple[object, bytes]] = {}
        self._last: tuple[tuple[tuple[_GroupKey, int], ...], int, Body] | None = None
        self._joined: tuple[Body, bytes] | None = None  # render()'s text, by body
        self._lock = threading.Lock()
        self.scraped = False  # True once render() ran: from then on prepare() renders

    def render(self, snapshot: Snapshot) -> bytes:
        """Render a `monitord.state.Snapshot` to exposition text (one bytes object)."""
        with self._lock:
            self.scraped = True
            body = self._render(snapshot)
            if self._joined is None or self._joined[0] is not body:
                self._joined = (body, body.join())
            return self._joined[1]

    def render_body(self, snapshot: Snapshot) -> Body:
        """The exposition text as a `Body`: the groups' cached (packed) pieces, in order.

        `MetricsServer` writes it chunk by chunk: a scrape neither joins the whole text
        nor keeps it, where `render()` joins it (and keeps it until the next change).
        """
        with self._lock:
            self.scraped = True
            self._joined = None  # the server reads the body: keep no joined copy alive
            return self._render(snapshot)

    def prepare(self, g: GroupView) -> None:
        """Render one group's text now (after its poll), unless nobody scrapes yet."""
        if not self.scraped:
            return
        key = (g.target.name, g.collector)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is g:
            return
        self._cache[key] = (g, g.version, self._render_group(g))
        # The last scrape's body holds this group's old text: let it go now (the next
        # scrape sees a new version anyway) rather than keep two copies until then.
        self._last = None

    def _render(self, snap: Snapshot) -> Body:
        groups = snap.groups
        targets = snap.targets
        signature = tuple((k, g.version) for k, g in groups.items())
        tsig = hash(tuple(targets.values()))
        if self._last is not None and self._last[0] == signature and self._last[1] == tsig:
            return self._last[2]
        families: dict[str, list[bytes | Packed]] = {}
        cache = self._cache
        for key, g in groups.items():
            cached = cache.get(key)
            if cached is not None and cached[0] is g:
                chunks = cached[2]
            else:
                chunks = self._render_group(g)
                now = cache.get(key)  # prepare() may have stored a newer view meanwhile
                if now is None or now is cached:
                    cache[key] = (g, g.version, chunks)
            for name, text in chunks.items():
                families.setdefault(name, []).append(text)
        for key in [k for k in cache if k not in groups]:
            cache.pop(key, None)
        info_lines: list[bytes | Packed] = []
        new_info: dict[str, tuple[object, bytes]] = {}
        for name, t in targets.items():
            ci = self._info_cache.get(name)
            if ci is None or ci[0] != t:
                line = (
                    "monitord_target_info{"
                    + _labels(
                        (
                            ("target", t.name),
                            ("kind", str(t.kind)),
                            ("site", t.site),
                            ("address", t.address),
                        )
                    )
                    + "} 1\n"
                ).encode("utf-8")
                ci = (t, line)
            new_info[name] = ci
            info_lines.append(ci[1])
        self._info_cache = new_info
        if info_lines:
            families["monitord_target_info"] = info_lines
        parts: list[bytes | Packed] = []
        for name in sorted(families):
            header = self._headers.get(name)
            parts.append(header or f"# TYPE {name} untyped\n".encode())
            parts.extend(families[name])
        body = Body(parts)
        self._last = (signature, tsig, body)
        return body

    def _render_group(self, g: GroupView) -> dict[str, bytes | Packed]:
        # The label text is formatted once per label set and render (the series of one
        # interface share a set), and not kept afterwards: keeping it between polls cost
        # 6 MB at 300 switches to save about 0.1 % of a core.
        memo: dict[int, tuple[LabelSet, str]] = {}
        per: dict[str, list[str]] = {}
        for name, series in g.by_name().items():
            lines = per[name] = []
            append = lines.append
            for sv in series:
                hit = memo.get(id(sv.labels))
                if hit is None or hit[0] is not sv.labels:
                    hit = memo[id(sv.labels)] = (sv.labels, "{" + _labels(sv.labels) + "} ")
                append(f"{name}{hit[1]}{format_value(sv.value)}\n")
        target = g.target.name
        collector = g.collector
        lbl = _labels((("collector", collector), ("target", target)))
        if g.up is not None:
            per["monitord_target_up"] = [f"monitord_target_up{{{lbl}}} {1 if g.up else 0}\n"]
        if g.last_poll_ts:
            ts = format_value(round(g.last_poll_ts, 3))
            per["monitord_last_poll_timestamp_seconds"] = [
                f"monitord_last_poll_timestamp_seconds{{{lbl}}} {ts}\n"
            ]
            took = format_value(round(g.last_duration, 6))
            per["monitord_last_poll_duration_seconds"] = [
                f"monitord_last_poll_duration_seconds{{{lbl}}} {took}\n"
            ]
            per["monitord_last_poll_success"] = [
                f"monitord_last_poll_success{{{lbl}}} {1 if g.last_poll_ok else 0}\n"
            ]
        # kept packed: the text of 300 switches is 16 MB plain, about 3 MB packed
        return {name: _pack("".join(lines).encode("utf-8")) for name, lines in per.items()}


class MetricsServer:
    """HTTP server (threads) for /metrics and /healthz.

    With a `web_config` (exporters/webconfig.py) connections are TLS-wrapped in their
    own thread and every path needs basic auth when users are configured. At most
    `max_connections` connections are served at once (more are closed on accept and
    reported to `on_reject`), and each
    request must arrive and be answered within `request_timeout` (monitord.httpguard).
    """

    def __init__(
        self,
        host: str,
        port: int,
        render_state: Callable[[], bytes | Body],
        self_registry: CollectorRegistry,
        healthy: Callable[[], bool],
        web_config: WebConfig | None = None,
        *,
        max_connections: int = 64,
        request_timeout: float = 10.0,
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self._web = web_config
        self._render_state = render_state
        self._registry = self_registry
        self._healthy = healthy
        server = self

        class Handler(DeadlineHandler):
            server_version = "monitord"
            sys_version = ""

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http %s", format % args)

        family = 10 if ":" in host else 2  # AF_INET6 / AF_INET

        web = web_config

        class _Server(GuardedHTTPServer):
            address_family = family

            def serve_connection(self, request: socket.socket, client_address: object) -> None:
                if web is None:
                    self.finish_request(request, client_address)
                    return
                web.serve_connection(
                    request, lambda conn: self.finish_request(conn, client_address)
                )

        self._httpd = _Server((host, port), Handler, bind_and_activate=False)
        self._httpd.guard = ConnectionGuard(max_connections, request_timeout, on_reject)
        try:
            self._httpd.server_bind()
            self._httpd.server_activate()
        except OSError:
            self._httpd.server_close()
            raise
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="monitord-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def metrics_body(self) -> bytes:
        """The full /metrics body."""
        return self._metrics().join()

    def _metrics(self) -> Body:
        state = self._render_state()
        own = generate_latest(self._registry)
        return Body([state, own] if isinstance(state, bytes) else [*state.pieces, own])

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        if self._web is not None and not self._web.check_auth(req.headers.get("Authorization")):
            self._send(
                req,
                401,
                "text/plain; charset=utf-8",
                b"unauthorized\n",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )
            return
        body: bytes | Body
        if path == "/metrics":
            body = self._metrics()
            ctype = CONTENT_TYPE
        elif path == "/healthz":
            ok = self._healthy()
            body = b"ok\n" if ok else b"scheduler not running\n"
            self._send(req, 200 if ok else 503, "text/plain; charset=utf-8", body)
            return
        elif path == "/":
            body = (
                b"<html><body><h1>monitord</h1><a href='/metrics'>/metrics</a>"
                b" <a href='/healthz'>/healthz</a></body></html>\n"
            )
            ctype = "text/html; charset=utf-8"
        else:
            self._send(req, 404, "text/plain; charset=utf-8", b"not found\n")
            return
        gz = "gzip" in (req.headers.get("Accept-Encoding") or "")
        self._send(req, 200, ctype, body, gz)

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler,
        code: int,
        ctype: str,
        body: bytes | Body,
        gz: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        chunks: Iterable[bytes] = [body] if isinstance(body, bytes) else body.chunks()
        size = len(body) if isinstance(body, bytes) else body.size
        if gz:  # compressed chunk by chunk: the plain body is never whole in memory
            z = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
            packed = [z.compress(c) for c in chunks]
            packed.append(z.flush())
            chunks, size = packed, sum(len(c) for c in packed)
        req.send_response(code)
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.send_header("Content-Type", ctype)
        if gz:
            req.send_header("Content-Encoding", "gzip")
        req.send_header("Content-Length", str(size))
        req.end_headers()
        for chunk in chunks:
            req.wfile.write(chunk)


def specs_by_name(specs: Iterable[MetricSpec]) -> Mapping[str, MetricSpec]:
    """Index specs by name (later duplicates must agree on kind)."""
    out: dict[str, MetricSpec] = {}
    for s in specs:
        prev = out.get(s.name)
        if prev is not None and prev.kind != s.kind:
            raise ValueError(f"metric {s.name} declared as {prev.kind} and {s.kind}")
        out.setdefault(s.name, s)
    return out
