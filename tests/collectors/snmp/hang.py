"""An agent hang across many switches: the soak behind bench/snmp_hang.py and test_hang.py.

Generated switches are served by several snmpsim processes, each on its own loopback
address (127.0.0.11, .12, ...); the daemon's own `Runner` polls every switch on its
interval into a `State`. After `warmup` seconds every responder is stopped with SIGSTOP
for `hang` seconds, then continued (SIGCONT), and the run goes on for `after` seconds.
For each switch it records the first good poll after the hang and whether its
interface data was complete: every interface's octet counters and statuses fresh in
that poll. Bounded in time: warmup + hang + after, plus the responders' start-up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collectors import COLLECTORS
from exporters.prometheus import specs_by_name
from monitord.config import parse_config_text
from monitord.daemon import collector_specs
from monitord.runner import Runner, SelfMetrics
from monitord.state import GroupView, State
from monitord.types import Shared
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim

__all__ = ["HangResult", "run_hang"]

_FRESH = (
    "monitord_interface_in_bytes_total",
    "monitord_interface_out_bytes_total",
    "monitord_interface_oper_up",
    "monitord_interface_admin_up",
)


@dataclass
class SwitchLog:
    """What happened to one switch's polls."""

    polls: list[tuple[float, bool, int, float]] = field(default_factory=list)
    # (monotonic time, ok, interfaces with all of _FRESH in this poll, poll_partial)


@dataclass
class HangResult:
    """The outcome of one run."""

    switches: int
    interfaces: int  # per switch
    resumed_at: float
    logs: dict[str, SwitchLog]

    def first_good_after(self) -> dict[str, tuple[float, int, float] | None]:
        """Per switch: (seconds after the resume, complete interfaces, partial) of its first
        good poll that started after the resume, or None when it had none."""
        out: dict[str, tuple[float, int, float] | None] = {}
        for name, log in self.logs.items():
            first = next(
                ((t, n, p) for t, ok, n, p in log.polls if ok and t > self.resumed_at), None
            )
            out[name] = None if first is None else (first[0] - self.resumed_at, first[1], first[2])
        return out

    def incomplete(self) -> list[str]:
        """Switches whose first good poll after the hang lacked interface data (or never came)."""
        return sorted(
            n
            for n, f in self.first_good_after().items()
            if f is None or f[1] != self.interfaces or f[2] != 0
        )


def _config(targets: list[tuple[str, str, int]], interval: float, timeout: float, reps: int) -> str:
    rows = "".join(
        f"  - {{name: {name}, address: {host}, collectors: {{snmp: {{community: "
        f'"${{C_{name.replace("-", "_").upper()}}}", port: {port}, max_repetitions: {reps}, '
        f"profiles: [system, interfaces], request_timeout: 1s, retries: 1}}}}}}\n"
        for name, host, port in targets
    )
    return f"defaults: {{interval: {interval}s, timeout: {timeout}s}}\ntargets:\n{rows}"


def _signal_all(sims: list[SnmpSim], sig: int) -> None:
    for sim in sims:
        proc = sim._proc  # the responder's process (started in its own session)
        assert proc is not None
        os.killpg(os.getpgid(proc.pid), sig)


async def _drive(
    runner: Runner,
    cfg_targets: list,  # type: ignore[type-arg]
    interval: float,
    end: float,
    stagger: float,
) -> None:
    async def one(i: int, tc: object) -> None:
        await asyncio.sleep(stagger * i)
        nxt = time.monotonic()
        while nxt < end:
            await runner.poll(tc.target, tc.collectors[0])  # type: ignore[attr-defined]
            nxt += interval
            while nxt < time.monotonic():  # a missed run is skipped, as the scheduler does
                nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async with asyncio.TaskGroup() as tg:
        for i, tc in enumerate(cfg_targets):
            tg.create_task(one(i, tc))


def run_hang(
    workdir: Path,
    *,
    switches: int,
    ports: int,
    processes: int,
    interval: float,
    timeout: float,
    warmup: float,
    hang: float,
    after: float,
    max_repetitions: int = 25,
    say: Callable[[str], None] = lambda _: None,
) -> HangResult:
    """Run the soak (see the module docstring) and return what every switch's polls did."""
    sims: list[SnmpSim] = []
    targets: list[tuple[str, str, int]] = []
    env: dict[str, str] = {}
    try:
        for p in range(processes):
            sim = SnmpSim(workdir / f"sim{p}")
            sim.host = f"127.0.0.{11 + p}"
            for i in range(p, switches, processes):
                name = f"sw-{i:03d}"
                sim.add_records(f"c{i:03d}", switch(ports, seed=i + 1, name=name))
                env[f"C_{name.replace('-', '_').upper()}"] = f"c{i:03d}"
            sims.append(sim)
        for sim in sims:  # snmpsim indexes its recordings before it answers: start all first
            sim.start(timeout=600)
        for p, sim in enumerate(sims):
            for i in range(p, switches, processes):
                targets.append((f"sw-{i:03d}", sim.host, sim.port))
        targets.sort()
        say(f"{processes} snmpsim responders up: {switches} switches x {ports + 2} interfaces")
        return asyncio.run(
            _run(
                sims,
                targets,
                env,
                ports + 2,
                (interval, timeout, max_repetitions),
                (warmup, hang, after),
                say,
            )
        )
    finally:
        for sim in sims:
            proc = sim._proc
            if proc is not None and proc.poll() is None:
                os.killpg(os.getpgid(proc.pid), signal.SIGCONT)
            sim.stop()


async def _run(
    sims: list[SnmpSim],
    targets: list[tuple[str, str, int]],
    env: dict[str, str],
    interfaces: int,
    polling: tuple[float, float, int],
    phases: tuple[float, float, float],
    say: Callable[[str], None],
) -> HangResult:
    interval, timeout, reps = polling
    warmup, hang, after = phases
    shared = Shared()
    logs = {name: SwitchLog() for name, _, _ in targets}

    def on_poll(view: GroupView) -> None:
        fresh: dict[str, set[str]] = {}
        partial = 0.0
        for (name, labels), sv in view.series.items():
            if sv.ts != view.last_poll_ts:
                continue
            if name in _FRESH:
                fresh.setdefault(dict(labels)["ifindex"], set()).add(name)
            elif name == "monitord_snmp_poll_partial":
                partial = sv.value
        complete = sum(1 for names in fresh.values() if len(names) == len(_FRESH))
        logs[view.target.name].polls.append(
            (time.monotonic(), view.last_poll_ok, complete, partial)
        )

    try:
        cfg = parse_config_text(
            _config(targets, interval, timeout, reps), "hang.yaml", COLLECTORS, shared, env
        )
        state = State()
        runner = Runner(state, SelfMetrics(), specs_by_name(collector_specs(cfg)), on_poll=on_poll)
        t0 = time.monotonic()
        end = t0 + warmup + hang + after
        stagger = interval / max(1, len(targets))
        driver = asyncio.create_task(_drive(runner, list(cfg.targets), interval, end, stagger))
        await asyncio.sleep(warmup)
        say(f"t={time.monotonic() - t0:.0f}s SIGSTOP every responder for {hang:.0f}s")
        _signal_all(sims, signal.SIGSTOP)
        await asyncio.sleep(hang)
        _signal_all(sims, signal.SIGCONT)
        resumed = time.monotonic()
        say(f"t={resumed - t0:.0f}s SIGCONT; running {after:.0f}s more")
        await driver
    finally:
        await shared.aclose()
    return HangResult(len(targets), interfaces, resumed, logs)
