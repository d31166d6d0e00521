"""The `agent` collector: pulls a server's `monitord agent` (or node_exporter /
windows_exporter) over HTTP(S) and maps it onto the host collector's series.

Config (`targets[].collectors.agent`):
    url: https://10.0.1.20:9878     # default by kind: https://ADDRESS:9878 (monitord),
                                    #   http://ADDRESS:9100 (node_exporter), :9182 (windows)
    token: file:/etc/monitord/agent.token    # bearer token (required for kind monitord)
    ca_file: /etc/monitord/ca.pem   # CA that signed the agent's certificate (optional)
    kind: monitord                  # monitord | node_exporter | windows_exporter

Emits, all with `target` = the daemon's target name (the agent's own `target` label is
replaced): every series of the `host` collector (monitord_host_*, monitord_interface_*;
see collectors/host.py) plus, from the monitord agent, monitord_service_up{service},
monitord_backup_*{backup}, monitord_file_*{file}, monitord_host_failed_logins_total,
monitord_host_pending_updates, monitord_host_firewall_enabled,
monitord_agent_check_failures{check} and monitord_host_info (collectors/hostagent/checks.py).
From exporters: the host series they can give (node_exporter has no process count
unless its `processes` collector is on; windows_exporter has no load average and no
inodes), monitord_host_info, and monitord_service_up for the units/services listed in
`services`. CPU utilization ratios from an exporter need two scrapes `cpu_window` apart
in one poll (default 1s; 0 turns them off: monitord_host_cpu_seconds_total remains).

Series budget: the host collector's (14 + 8 CPU modes + 1/CPU + 6/filesystem + 2/disk +
10/interface) + 1/service + 4/backup + 2/file + 10; e.g. a 4-CPU server with 3
filesystems, 2 disks, 3 interfaces, 5 services, 2 backups and 2 files ≈ 105 series.

Failures: unreachable agent, refused connection, wrong token (401/403/429 → auth), TLS
failure, timeout, and garbage (truncated text, HTML, a body over `max_body_bytes`, JSON
where text was due) each raise their CollectorError; nothing is retried inside a poll.
The token goes only in the Authorization header; it is refused over plain http:// to a
non-loopback address unless `allow_plain_http: true`.

Inventory: `await collector.inventory(target)` returns the agent's /inventory JSON
(exporters: what their /metrics tell); the daemon calls it every `inventory_every`
polls and hands it to `monitord.history.db` (see docs/agent.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from collectors.agent.client import Response, fetch, make_client
from collectors.agent.mapping import (
    NODE_WANTED,
    WINDOWS_WANTED,
    AgentKind,
    Exclusions,
    cpu_modes,
    cpu_ratios,
    exporter_inventory,
    map_monitord,
    map_node_exporter,
    map_windows_exporter,
)
from collectors.agent.parse import Exposition, ParseError, parse
from collectors.hostagent import hostread
from collectors.hostagent.checks import AGENT_METRICS
from monitord.config import Duration, SecretValue, parse_options
from monitord.errors import ConfigError, MalformedResponse
from monitord.types import MetricSpec, Reach, Sample, Shared, Target

__all__ = ["KIND", "AgentCollector", "AgentKind", "Options", "build", "decode_body"]

log = logging.getLogger(__name__)

KIND: Final = "agent"
DEFAULT_PORTS: Final = {
    AgentKind.MONITORD: ("https", 9878),
    AgentKind.NODE_EXPORTER: ("http", 9100),
    AgentKind.WINDOWS_EXPORTER: ("http", 9182),
}
MAX_CPU_WINDOW: Final = 10.0


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the agent collector; the defaults here are the documented defaults.

    `url`: base URL (scheme, host, port; a path ending in /metrics is accepted);
    empty means the kind's default port on the target's address. `http_timeout` bounds
    each request (keep it below the job's `timeout`). `inventory_every`: the daemon
    fetches /inventory every N polls. `cpu_window`: exporters only (see module doc).
    `services`: exporters only, systemd units / Windows services to report as
    monitord_service_up.
    """

    url: str = ""
    token: SecretValue | None = None
    ca_file: str = ""
    kind: AgentKind = AgentKind.MONITORD
    http_timeout: Duration = 4.0
    max_body_bytes: int = 8 * 1024 * 1024
    inventory_every: int = 60
    cpu_window: Duration | Literal[0] = 1.0
    services: tuple[str, ...] = ()
    allow_plain_http: bool = False


class AgentCollector:
    """Pull one agent or exporter per poll; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 2  # the reports: lowest rank = device availability
    reach: ClassVar[Reach] = Reach.DEVICE
    metrics: ClassVar[tuple[MetricSpec, ...]] = (*hostread.METRICS, *AGENT_METRICS)

    def __init__(self, options: Options, shared: Shared) -> None:
        self.options = options
        self._shared = shared
        self._specs = {m.name: m for m in self.metrics}
        self._excl = Exclusions.defaults()

    def check_target(self, target: Target) -> None:
        """Config-time check against the target (its address gives the default url):
        raise ConfigError when the token would go over plain HTTP off this host."""
        _check_clear_text(self.options, self.url(target, "metrics"))

    async def collect(self, target: Target) -> list[Sample]:
        """One poll: GET /metrics (twice `cpu_window` apart for exporters) and map it."""
        opts = self.options
        url = self.url(target, "metrics")
        if opts.kind is AgentKind.MONITORD:
            exp = await self._scrape(url, target, self._specs.__contains__)
            samples, dropped = map_monitord(exp, target.name, self._specs)
            if not any(s.name == "monitord_host_memory_total_bytes" for s in samples):
                raise MalformedResponse(
                    f"{self._where(target, url)}: no monitord_host_* series; is this a"
                    f" monitord agent? (set kind: node_exporter or windows_exporter otherwise)"
                )
            if dropped:
                log.debug("agent series dropped target=%s count=%d", target.name, dropped)
            return samples
        wanted = NODE_WANTED if opts.kind is AgentKind.NODE_EXPORTER else WINDOWS_WANTED
        first = await self._scrape(url, target, wanted.__contains__)
        ratios = None
        if opts.cpu_window > 0:
            await asyncio.sleep(opts.cpu_window)
            second = await self._scrape(url, target, wanted.__contains__)
            ratios = cpu_ratios(
                cpu_modes(first, opts.kind), cpu_modes(second, opts.kind), opts.kind
            )
            first = second
        if opts.kind is AgentKind.NODE_EXPORTER:
            samples = map_node_exporter(first, target.name, self._excl, opts.services, ratios)
        else:
            samples = map_windows_exporter(
                first, target.name, self._excl, opts.services, ratios, time.time()
            )
        if not any(s.name == "monitord_host_memory_total_bytes" for s in samples):
            raise MalformedResponse(
                f"{self._where(target, url)}: no {opts.kind.value} memory series; is kind right?"
            )
        return samples

    @property
    def inventory_every(self) -> float:
        """Polls between two inventory fetches (capability `FetchesInventory`)."""
        return float(self.options.inventory_every)

    async def inventory(self, target: Target) -> dict[str, object]:
        """The target's inventory: the agent's /inventory, or what an exporter tells."""
        opts = self.options
        if opts.kind is not AgentKind.MONITORD:
            wanted = NODE_WANTED if opts.kind is AgentKind.NODE_EXPORTER else WINDOWS_WANTED
            url = self.url(target, "metrics")
            exp = await self._scrape(url, target, wanted.__contains__)
            return exporter_inventory(exp, opts.kind, target.name)
        url = self.url(target, "inventory")
        resp = await self._get(url, target)
        try:
            data = json.loads(resp.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponse(f"{self._where(target, url)}: not JSON") from exc
        if not isinstance(data, dict) or "hostname" not in data:
            raise MalformedResponse(f"{self._where(target, url)}: not an inventory object")
        data["target"] = target.name
        return data

    def url(self, target: Target, endpoint: str) -> str:
        """The URL of `endpoint` ("metrics" or "inventory") for `target`."""
        base = self.options.url
        if not base:
            scheme, port = DEFAULT_PORTS[self.options.kind]
            addr = f"[{target.address}]" if ":" in target.address else target.address
            base = f"{scheme}://{addr}:{port}"
        parts = urlsplit(base)
        path = parts.path.rstrip("/")
        if path.endswith("/metrics"):
            path = path[: -len("/metrics")]
        return urlunsplit((parts.scheme, parts.netloc, f"{path}/{endpoint}", "", ""))

    async def _scrape(self, url: str, target: Target, keep: Callable[[str], bool]) -> Exposition:
        resp = await self._get(url, target)
        return decode_body(resp.content_type, resp.body, keep, self._where(target, url))

    async def _get(self, url: str, target: Target) -> Response:
        opts = self.options
        client = self._shared.get(f"agent.http:{opts.ca_file}", lambda: make_client(opts.ca_file))
        token = opts.token.reveal() if opts.token is not None else None
        return await fetch(
            client, url, token=token, timeout=opts.http_timeout,
            max_bytes=opts.max_body_bytes, where=self._where(target, url),
        )  # fmt: skip

    def _where(self, target: Target, url: str) -> str:
        return f"agent {self.options.kind.value} target={target.name} url={url}"


def decode_body(
    content_type: str, body: bytes, keep: Callable[[str], bool], where: str
) -> Exposition:
    """A /metrics answer → parsed exposition; MalformedResponse for HTML, JSON, non-UTF-8
    or malformed text (pure: the fuzz tests feed it garbage)."""
    ctype = content_type.lower()
    head = body[:512].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<")):
        raise MalformedResponse(f"{where}: got HTML, not Prometheus text; check the url")
    if "json" in ctype or head.startswith((b"{", b"[")):
        raise MalformedResponse(f"{where}: got JSON, not Prometheus text; check the url")
    try:
        return parse(body.decode("utf-8"), keep)
    except UnicodeDecodeError as exc:
        raise MalformedResponse(f"{where}: body is not UTF-8") from exc
    except ParseError as exc:
        raise MalformedResponse(f"{where}: malformed Prometheus text: {exc}") from exc


def build(options: Mapping[str, object], shared: Shared) -> AgentCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    if opts.url:
        parts = urlsplit(opts.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("expected http(s)://HOST:PORT", field="url")
        if parts.query or parts.fragment or parts.username:
            raise ConfigError("no query, fragment or credentials in the url", field="url")
        _check_clear_text(opts, opts.url)
    if opts.kind is AgentKind.MONITORD and (opts.token is None or not opts.token):
        raise ConfigError("the monitord agent needs a token (file:/path or ${ENV})", field="token")
    if opts.ca_file and not os.access(opts.ca_file, os.R_OK):
        raise ConfigError(f"cannot read CA file {opts.ca_file}", field="ca_file")
    if not 1024 <= opts.max_body_bytes <= 256 * 1024 * 1024:
        raise ConfigError("must be between 1024 and 268435456", field="max_body_bytes")
    if opts.inventory_every < 1:
        raise ConfigError("must be at least 1", field="inventory_every")
    if not 0 <= opts.cpu_window <= MAX_CPU_WINDOW:
        raise ConfigError(f"must be between 0 and {MAX_CPU_WINDOW:g}s", field="cpu_window")
    if opts.http_timeout > 60:
        raise ConfigError("at most 60s; keep it below the job's timeout", field="http_timeout")
    return AgentCollector(opts, shared)


def _check_clear_text(opts: Options, url: str) -> None:
    """Refuse a token sent over http:// to a non-loopback host unless allowed explicitly."""
    parts = urlsplit(url)
    if (
        parts.scheme == "http"
        and opts.token is not None
        and not opts.allow_plain_http
        and not _loopback(parts.hostname or "")
    ):
        raise ConfigError(
            "the token would cross the network in clear text: use https:// (agent"
            " --tls-cert/--tls-key) or set allow_plain_http: true",
            field="url" if opts.url else "token",
        )


def _loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
