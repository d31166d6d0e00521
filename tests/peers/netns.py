"""Test hosts in network namespaces: a namespace joined to this one by a veth pair.

    with netns_host("icmp") as host:
        host.address, host.address6      # inside the namespace (198.18.0.0/15, fd00::/8)
        host.host_address                # this namespace's end of the veth
        host.link_down(); host.link_up() # the namespace's end, by default
        host.run(["sysctl", "-w", "net.ipv4.icmp_echo_ignore_all=1"])
        host.spawn([sys.executable, "-c", RESPONDER], ready="ready")  # stopped on exit

Each host gets a /30 from 198.18.0.0/15 (RFC 2544 benchmarking) and a /64 from
fd00:6d64::/32 (ULA) that no interface here already uses. Next to the connected routes it
adds an `unreachable` guard route for the same prefixes with a high metric, so when the
veth is down traffic for the test host fails locally and can never follow the default route
off the machine. Everything is removed on exit, also when the test fails; namespaces left
by a killed test run (their pid is gone), and their guard routes, are removed the next time a
host is made.
Needs root (CAP_NET_ADMIN) and iproute2; when the host cannot be made the test fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import select
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

__all__ = ["NetnsHost", "netns_host"]

PREFIX = "mdt-"  # namespaces: mdt-<pid>-<suffix>-<token>
_V4_POOL = ipaddress.ip_network("198.18.0.0/15")
_V6_POOL = ipaddress.ip_network("fd00:6d64::/32")
_V6_BASE = int(_V6_POOL.network_address)
_GUARD_METRIC = 4_000_000
_CMD_TIMEOUT = 10.0


@dataclass
class NetnsHost:
    """A network namespace with one veth into this namespace, addressed and up."""

    name: str
    host_if: str
    peer_if: str
    host_address: str
    address: str
    host_address6: str
    address6: str
    prefix: str
    prefix6: str
    _procs: list[subprocess.Popen[str]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace; on `check`, fail the test if it fails."""
        return _run(["ip", "netns", "exec", self.name, *argv], check=check, timeout=timeout)

    def spawn(
        self, argv: Sequence[str], *, ready: str = "", timeout: float = 10.0
    ) -> subprocess.Popen[str]:
        """Start a long-running program inside the namespace; stopped by `close()`.

        With `ready`, wait (at most `timeout` s) until it prints a line starting with it;
        fail the test with its stderr if it exits or stays silent.
        """
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._procs.append(proc)
        if ready:
            assert proc.stdout is not None
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                    self._stop(proc)
                    pytest.fail(f"{argv[0]} in {self.name} not ready after {timeout}s")
                line = proc.stdout.readline()
                if line.startswith(ready):
                    break
                if not line:  # EOF: it exited
                    err = self._stop(proc)
                    pytest.fail(f"{argv[0]} in {self.name} exited: {err[-2000:]}")
        return proc

    def sysctl(self, key: str, value: str) -> None:
        """Set a sysctl of the namespace (network sysctls are per namespace)."""
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def link_down(self, side: str = "peer") -> None:
        """Take the veth down: `peer` (inside the namespace) or `host` (this end)."""
        self._set_link(side, "down")

    def link_up(self, side: str = "peer") -> None:
        """Bring the veth back up, forget stale neighbours, wait until both ends have carrier."""
        self._set_link(side, "up")
        # Entries left INCOMPLETE/FAILED while the link was down would delay resolution by
        # up to a retransmit interval; start afresh like a host that was just plugged in.
        _run(["ip", "neigh", "flush", "dev", self.host_if], check=False)
        _run(["ip", "-n", self.name, "neigh", "flush", "dev", self.peer_if], check=False)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self._operstate(None) == "UP" and self._operstate(self.name) == "UP":
                return
            time.sleep(0.01)
        pytest.fail(f"veth {self.host_if}/{self.peer_if} did not come back up within 5s")

    def close(self) -> None:
        """Delete the namespace, the veth and the guard routes (idempotent, never raises)."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:
            self._stop(proc)
        _run(["ip", "netns", "del", self.name], check=False)
        _run(["ip", "link", "del", self.host_if], check=False)
        _run(
            ["ip", "route", "del", "unreachable", self.prefix, "metric", str(_GUARD_METRIC)],
            check=False,
        )
        _run(
            ["ip", "-6", "route", "del", "unreachable", self.prefix6, "metric", str(_GUARD_METRIC)],
            check=False,
        )

    @staticmethod
    def _stop(proc: subprocess.Popen[str]) -> str:
        """Stop a program started by `spawn` (ours, by its Popen); return its stderr."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        err = proc.stderr.read() if proc.stderr is not None else ""
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        return err

    def _set_link(self, side: str, state: str) -> None:
        if side == "peer":
            _run(["ip", "-n", self.name, "link", "set", self.peer_if, state])
        elif side == "host":
            _run(["ip", "link", "set", self.host_if, state])
        else:
            raise ValueError(f"side must be 'peer' or 'host', not {side!r}")

    def _operstate(self, netns: str | None) -> str:
        ns = ["-n", netns] if netns else []
        ifname = self.peer_if if netns else self.host_if
        out = _run(["ip", *ns, "-j", "link", "show", ifname], check=False).stdout
        try:
            return str(json.loads(out)[0].get("operstate", ""))
        except (ValueError, IndexError, KeyError):
            return ""


@contextlib.contextmanager
def netns_host(name_suffix: str) -> Iterator[NetnsHost]:
    """Create a namespace test host, yield it, and always tear it down."""
    _remove_stale()
    token = f"{random.getrandbits(24):06x}"
    name = f"{PREFIX}{os.getpid()}-{name_suffix}-{token}"
    v4, v6 = _free_prefixes()
    hosts4 = list(v4.hosts())
    host = NetnsHost(
        name=name,
        host_if=f"mdh{token}",
        peer_if=f"mdp{token}",
        host_address=str(hosts4[0]),
        address=str(hosts4[1]),
        host_address6=str(v6.network_address + 1),
        address6=str(v6.network_address + 2),
        prefix=str(v4),
        prefix6=str(v6),
    )
    try:
        _setup(host, v4.prefixlen, v6.prefixlen)
        yield host
    finally:
        host.close()


def _setup(h: NetnsHost, len4: int, len6: int) -> None:
    ns = ["ip", "-n", h.name]
    _run(["ip", "netns", "add", h.name])
    _run(
        ["ip", "link", "add", h.host_if, "type", "veth", "peer", "name", h.peer_if, "netns", h.name]
    )
    # IPv6 drops an interface's addresses when it goes admin-down unless told to keep them,
    # and duplicate address detection would leave the link-local address tentative a while.
    for key in ("keep_addr_on_down=1", "accept_dad=0"):
        _run(["sysctl", "-q", "-w", f"net.ipv6.conf.{h.host_if}.{key}"])
        h.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{h.peer_if}.{key}"])
    _run(["ip", "addr", "add", f"{h.host_address}/{len4}", "dev", h.host_if])
    _run(["ip", "-6", "addr", "add", f"{h.host_address6}/{len6}", "dev", h.host_if, "nodad"])
    _run([*ns, "addr", "add", f"{h.address}/{len4}", "dev", h.peer_if])
    _run([*ns, "-6", "addr", "add", f"{h.address6}/{len6}", "dev", h.peer_if, "nodad"])
    _run([*ns, "link", "set", "lo", "up"])
    _run([*ns, "link", "set", h.peer_if, "up"])
    _run(["ip", "link", "set", h.host_if, "up"])
    # The test host answers only over its veth; it has no route anywhere else.
    h.link_up()
    # Guards: when a connected route goes away (our end down), traffic fails here instead of
    # following the default route off the machine. Added last, once the connected routes
    # exist, so that `_remove_stale` of a concurrent run never takes them for orphans.
    _run(["ip", "route", "add", "unreachable", h.prefix, "metric", str(_GUARD_METRIC)])
    _run(["ip", "-6", "route", "add", "unreachable", h.prefix6, "metric", str(_GUARD_METRIC)])


def _free_prefixes() -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    used = _used_networks()
    for _ in range(256):
        k = random.randrange(1, _V4_POOL.num_addresses // 4)
        v4 = ipaddress.IPv4Network((int(_V4_POOL.network_address) + 4 * k, 30))
        v6 = ipaddress.IPv6Network((_V6_BASE + (k << 64), 64))
        if not any(v4.overlaps(n) or v6.overlaps(n) for n in used if n.version in (4, 6)):
            return v4, v6
    pytest.fail("no free /30 in 198.18.0.0/15 for a netns test host")


def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for fam in ("-4", "-6"):
        for route in json.loads(_run(["ip", fam, "-j", "route", "show", "table", "all"]).stdout):
            dst = route.get("dst", "")
            if dst and dst != "default":
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.ip_network(dst, strict=False))
    return nets


def _remove_stale() -> None:
    out = _run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split(" ", 1)[0]
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _run(["ip", "netns", "del", name], check=False)
    # Guard routes whose test host is gone (its run was killed): no interface here holds an
    # address in the prefix any more. (Not "no connected route": a live host whose end of
    # the veth is down has no connected route, and needs its guard most.)
    held = [
        ipaddress.ip_address(a["local"])
        for link in json.loads(_run(["ip", "-j", "addr", "show"], check=False).stdout or "[]")
        for a in link.get("addr_info", [])
        if "local" in a
    ]
    for fam, pool in (("-4", _V4_POOL), ("-6", _V6_POOL)):
        routes = json.loads(_run(["ip", fam, "-j", "route", "show"], check=False).stdout or "[]")
        for r in routes:
            dst = str(r.get("dst", ""))
            if r.get("type") != "unreachable" or r.get("metric") != _GUARD_METRIC:
                continue
            net = _net_within(dst, pool)
            if net is not None and not any(ip in net for ip in held):
                _run(
                    ["ip", fam, "route", "del", "unreachable", dst, "metric", str(_GUARD_METRIC)],
                    check=False,
                )


def _net_within(
    dst: str, pool: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        net = ipaddress.ip_network(dst, strict=False)
    except ValueError:
        return None
    if net.version != pool.version or not net.subnet_of(pool):  # type: ignore[arg-type]
        return None
    return net


def _run(
    argv: Sequence[str], *, check: bool = True, timeout: float = _CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        pytest.fail(f"cannot run {argv[0]!r}: install iproute2 (needed for netns test hosts)")
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)} did not finish within {timeout}s")
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} failed with {proc.returncode}: {proc.stderr.strip()} "
            "(netns test hosts need root / CAP_NET_ADMIN)"
        )
    return proc
