"""Walk correctness: where a walk stops, and what it does when the agent misbehaves.

Stopping rules against snmpsim (endOfMibView, leaving the subtree); broken-agent
behaviour (non-increasing OIDs, tooBig, genErr on GETBULK, dropped big requests, slow
answers, concurrency) against the scripted loopback agent in `agent.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

import collectors.snmp as snmp
from collectors.snmp.client import (
    Community,
    RequestLimiter,
    RequestTimeout,
    Session,
    WalkResult,
    get,
    open_session,
    walk,
)
from monitord.errors import ConnectionRefused, TargetTimeout
from monitord.secrets import Secret
from monitord.types import Shared, Target
from tests.collectors.snmp.agent import Faults, ScriptedAgent, columns, interface_table
from tests.collectors.snmp.conftest import Recordings, by_series, poll_many, run
from tests.peers.snmpsim import free_udp_port

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)


async def session_to(
    port: int,
    community: str,
    *,
    version: int = 1,
    timeout: float = 1.0,
    retries: int = 1,
    limit: int = 8,
) -> Session:
    return await open_session(
        "127.0.0.1",
        port,
        Community(version, Secret(community)),
        timeout=timeout,
        retries=retries,
        limiter=RequestLimiter(limit),
    )


# --- stopping rules, against snmpsim -----------------------------------------------


@pytest.mark.peer
def test_walk_stops_on_end_of_mib_view(recordings: Recordings) -> None:
    """The last OID of a recording: snmpsim answers endOfMibView (with the same OID) forever."""

    async def go() -> tuple[dict, WalkResult, int]:
        s = await session_to(recordings.sim.port, "bundled-linksys-system")
        try:
            rows: dict = {}
            res = await walk(
                s, [(1, 3, 6, 1, 2, 1, 1, 8), (1, 3, 6, 1, 2, 1, 99)], rows, max_repetitions=25
            )
            return rows, res, s.stats.requests
        finally:
            await s.aclose()

    rows, res, requests = run(go())  # type: ignore[misc]
    assert rows[(1, 3, 6, 1, 2, 1, 1, 8)] == {(0,): (0x43, 4)}
    assert rows[(1, 3, 6, 1, 2, 1, 99)] == {}
    assert requests == res.requests == 1


@pytest.mark.peer
@pytest.mark.parametrize("version", [0, 1], ids=["v1-getnext", "v2c-getbulk"])
def test_walk_stops_when_leaving_the_subtree(recordings: Recordings, version: int) -> None:
    async def go() -> tuple[dict, WalkResult]:
        s = await session_to(recordings.sim.port, "gen-switch-48", version=version)
        try:
            rows: dict = {}
            res = await walk(s, [(*IF, 2), (*IF, 8), (*IFX, 1)], rows, max_repetitions=10)
            return rows, res
        finally:
            await s.aclose()

    rows, res = run(go())  # type: ignore[misc]
    assert [len(rows[c]) for c in [(*IF, 2), (*IF, 8), (*IFX, 1)]] == [50, 50, 50]
    assert rows[(*IF, 2)][(10101,)] == (0x04, b"GigabitEthernet1/0/1")
    assert res.bulk is (version == 1)
    # GETNEXT: one row per request, plus the one that leaves; GETBULK: far fewer
    assert res.requests == (51 if version == 0 else 6)


# --- broken agents -----------------------------------------------------------------


def with_agent(values: dict, faults: Faults, body):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        agent = ScriptedAgent(values, faults=faults)
        await agent.start()
        try:
            return await body(agent)
        finally:
            await agent.stop()

    return run(go())


@pytest.mark.peer
def test_walk_stops_on_non_increasing_oids() -> None:
    values = interface_table(6)
    cols = columns(values, IF)

    async def body(agent: ScriptedAgent) -> tuple[dict, WalkResult]:
        s = await session_to(agent.port, "public")
        try:
            rows: dict = {}
            res = await walk(s, cols, rows, max_repetitions=4)
            return rows, res
        finally:
            await s.aclose()

    rows, res = with_agent(values, Faults(repeat_after=(*IF, 8, 3)), body)
    assert (*IF, 8) in res.non_increasing
    assert sorted(rows[(*IF, 8)]) == [(1,), (2,), (3,)]  # up to the point the agent broke
    assert len(rows[(*IF, 2)]) == 6 and len(rows[(*IF, 7)]) == 6
    assert res.requests < 10


@pytest.mark.peer
def test_too_big_shrinks_max_repetitions() -> None:
    values = interface_table(40)
    cols = [(*IF, 2), (*IF, 10)]

    async def body(agent: ScriptedAgent) -> tuple[dict, WalkResult, list[int]]:
        s = await session_to(agent.port, "public")
        try:
            rows: dict = {}
            res = await walk(s, cols, rows, max_repetitions=25)
            return rows, res, agent.seen.repetitions
        finally:
            await s.aclose()

    rows, res, asked = with_agent(values, Faults(too_big_above=12), body)
    assert len(rows[(*IF, 2)]) == 40 and len(rows[(*IF, 10)]) == 40
    assert res.bulk and res.max_repetitions == 6
    assert asked[:3] == [25, 12, 6]


@pytest.mark.peer
def test_gen_err_on_getbulk_falls_back_to_getnext_and_is_remembered() -> None:
    values = interface_table(5)

    async def body(agent: ScriptedAgent) -> tuple[list, list[str]]:
        opts = {"community": "public", "port": agent.port, "profiles": ["system", "interfaces"]}
        polls = await poll_many(opts, Target("generr", "127.0.0.1"), times=2)
        return polls, agent.seen.pdus

    polls, pdus = with_agent(values, Faults(gen_err_on_bulk=True), body)
    for p in polls:
        assert p.error is None, p.error
        s = by_series(p.samples)
        assert (
            s[("monitord_snmp_max_repetitions", (("table", "ifTable"), ("target", "generr")))].value
            == 0
        )
        assert len([x for x in p.samples if x.name == "monitord_interface_in_bytes_total"]) == 5
    # the first poll tried GETBULK once per table; the second went straight to GETNEXT
    second = pdus[len(pdus) // 2 :]
    assert pdus.count("GetBulkRequestPDU") == 2 and "GetBulkRequestPDU" not in second[2:]


@pytest.mark.peer
def test_timeouts_on_big_requests_shrink_to_what_works() -> None:
    values = interface_table(8)
    cols = columns(values, IF)

    async def body(agent: ScriptedAgent) -> tuple[dict, WalkResult, list[int]]:
        s = await session_to(agent.port, "public", timeout=0.2, retries=1)
        try:
            rows: dict = {}
            res = await walk(s, cols, rows, max_repetitions=16)
            return rows, res, agent.seen.repetitions
        finally:
            await s.aclose()

    rows, res, asked = with_agent(values, Faults(drop_bulk_above=3), body)
    assert all(len(rows[c]) == 8 for c in cols)
    assert res.max_repetitions == 1 and res.bulk
    assert asked[:3] == [16, 8, 1]  # a retry with half, then one with a single row


@pytest.mark.peer
def test_truncated_getbulk_responses_lose_nothing() -> None:
    values = interface_table(30)
    cols = columns(values, IF)

    async def body(agent: ScriptedAgent) -> dict:
        s = await session_to(agent.port, "public")
        try:
            rows: dict = {}
            await walk(s, cols, rows, max_repetitions=25)
            return rows
        finally:
            await s.aclose()

    rows = with_agent(values, Faults(max_response_varbinds=17), body)
    for c in cols:
        assert len(rows[c]) == 30
        assert all(rows[c][(i,)][1] == values[(*c, i)] for i in range(1, 31))


# --- deadlines, concurrency, failures ----------------------------------------------


@pytest.mark.peer
def test_walk_budget_returns_partial_data_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """Labels are walked once in full; later polls cut short by the budget keep what they got.

    (A poll cut short before the interfaces' names are known gives no interface series:
    names come from a complete label walk only, so one port is never two series.)
    """
    values = interface_table(30)
    caplog.set_level(logging.INFO, logger="collectors.snmp.collector")

    async def body(agent: ScriptedAgent) -> list:
        opts = {
            "community": "public",
            "port": agent.port,
            "profiles": ["system", "interfaces"],
            "max_repetitions": 2,
            "walk_budget": "0.6s",
            "request_timeout": "0.5s",
            "label_refresh": 100,
        }
        shared = Shared()
        try:
            first = await poll_many(opts, Target("slowpoke", "127.0.0.1"), 1, shared)
            agent.faults.delay = 0.05
            return first + await poll_many(opts, Target("slowpoke", "127.0.0.1"), 2, shared)
        finally:
            await shared.aclose()

    t0 = time.monotonic()
    first, *polls = with_agent(values, Faults(), body)
    assert time.monotonic() - t0 < 4
    assert first.error is None
    assert len([x for x in first.samples if x.name == "monitord_interface_admin_up"]) == 30
    for p in polls:
        assert isinstance(p.error, TargetTimeout), p.error
        assert "walk_budget of 0.6s" in str(p.error) and "slowpoke" in str(p.error)
        s = by_series(p.samples)
        assert s[("monitord_snmp_poll_partial", (("target", "slowpoke"),))].value == 1
        assert s[("monitord_device_uptime_seconds", (("target", "slowpoke"),))].value == 1000
        statuses = [x for x in p.samples if x.name == "monitord_interface_admin_up"]
        assert 0 < len(statuses) < 30  # partial: some interfaces, not all
        assert all(x.value == 1 for x in statuses)
        assert {x.labels["ifname"] for x in statuses} <= {f"e{i}" for i in range(1, 31)}
    overruns = [r for r in caplog.records if "over budget" in r.getMessage()]
    assert len(overruns) == 1 and "target=slowpoke" in overruns[0].getMessage()


@pytest.mark.peer
def test_without_walk_budget_the_poll_timeout_still_yields_partial_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No walk_budget: the collector's deadline follows the job's timeout (through the Runner)."""
    from collectors import COLLECTORS
    from exporters.prometheus import specs_by_name
    from monitord.config import parse_config_text
    from monitord.daemon import collector_specs
    from monitord.runner import Runner, SelfMetrics
    from monitord.state import State

    values = interface_table(30)
    caplog.set_level(logging.INFO)

    async def body(agent: ScriptedAgent) -> tuple[bool, State, float]:
        text = f"""
targets:
  - name: slowpoke
    address: 127.0.0.1
    collectors:
      snmp: {{community: "${{COMMUNITY}}", port: {agent.port}, profiles: [system, interfaces],
              max_repetitions: 2, request_timeout: 0.5s, timeout: 2s}}
"""
        shared = Shared()
        try:
            cfg = parse_config_text(text, "t.yaml", COLLECTORS, shared, {"COMMUNITY": "public"})
            state = State()
            runner = Runner(state, SelfMetrics(), specs_by_name(collector_specs(cfg)))
            (tc,) = cfg.targets
            # one complete poll names the interfaces; the next one is cut short
            assert await runner.poll(tc.target, tc.collectors[0])
            agent.faults.delay = 0.05
            t0 = time.monotonic()
            ok = await runner.poll(tc.target, tc.collectors[0])
            return ok, state, time.monotonic() - t0
        finally:
            await shared.aclose()

    ok, state, took = with_agent(values, Faults(), body)
    assert not ok and took < 2.0  # ended by its own budget, before the runner's deadline
    group = state.group("slowpoke", "snmp")
    assert group is not None and group.reason == "timeout"
    assert "budget=1.5s" in caplog.text  # 2 s less the 0.5 s margin
    names = {k[0] for k, v in group.series.items() if v.ts == group.last_poll_ts}  # this poll's
    assert "monitord_snmp_poll_partial" in names and "monitord_interface_admin_up" in names


@pytest.mark.peer
def test_global_request_cap_holds_across_targets() -> None:
    values = interface_table(3)

    async def body(agent: ScriptedAgent) -> tuple[list, int]:
        shared = Shared(limits={"snmp": 3})
        try:
            opts = {"community": "public", "port": agent.port, "profiles": ["system", "interfaces"]}
            collectors = [snmp.build(opts, shared) for _ in range(10)]
            results = await asyncio.gather(
                *(c.collect(Target(f"t{i}", "127.0.0.1")) for i, c in enumerate(collectors))
            )
            return results, agent.seen.max_in_flight
        finally:
            await shared.aclose()

    results, max_in_flight = with_agent(values, Faults(delay=0.03), body)
    assert all(len([s for s in r if s.name == "monitord_interface_info"]) == 3 for r in results)
    assert max_in_flight == 3


@pytest.mark.peer
def test_a_dead_agent_does_not_stall_a_live_one() -> None:
    values = interface_table(4)

    async def body(agent: ScriptedAgent) -> tuple[float, float, object]:
        dead_port = free_udp_port()
        shared = Shared()
        dead_sock = __import__("socket").socket(
            __import__("socket").AF_INET, __import__("socket").SOCK_DGRAM
        )
        dead_sock.bind(
            ("127.0.0.1", dead_port)
        )  # bound, never answers: a dead agent, not a closed port
        try:
            live = snmp.build({"community": "public", "port": agent.port}, shared)
            dead = snmp.build(
                {"community": "public", "port": dead_port, "request_timeout": "0.5s"}, shared
            )

            async def timed(c, name):  # type: ignore[no-untyped-def]
                t = time.monotonic()
                try:
                    await c.collect(Target(name, "127.0.0.1"))
                    err = None
                except TargetTimeout as exc:
                    err = exc
                return time.monotonic() - t, err

            (t_live, e_live), (t_dead, e_dead) = await asyncio.gather(
                timed(live, "live"), timed(dead, "dead")
            )
            assert e_live is None
            return t_live, t_dead, e_dead
        finally:
            dead_sock.close()
            await shared.aclose()

    t_live, t_dead, err = with_agent(values, Faults(), body)
    assert t_live < 0.5 and 0.9 < t_dead < 2.0
    assert isinstance(err, TargetTimeout) and "0.5s x 2 attempt(s)" in str(err)


@pytest.mark.peer
def test_closed_port_is_connection_refused() -> None:
    port = free_udp_port()
    [p] = run(poll_many({"community": "public", "port": port}, Target("closed", "127.0.0.1")))
    assert isinstance(p.error, ConnectionRefused)
    assert f"UDP port {port}" in str(p.error)


@pytest.mark.peer
def test_cancelled_poll_releases_its_socket() -> None:
    values = interface_table(20)

    async def body(agent: ScriptedAgent) -> None:
        shared = Shared()
        c = snmp.build({"community": "public", "port": agent.port, "max_repetitions": 1}, shared)
        task = asyncio.create_task(c.collect(Target("cancelme", "127.0.0.1")))
        await asyncio.sleep(0.15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the device lock was released: the next poll runs (and is not overlapped)
        agent.faults.delay = 0.0
        samples = await c.collect(Target("cancelme", "127.0.0.1"))
        assert len([s for s in samples if s.name == "monitord_interface_info"]) == 20
        await shared.aclose()

    with_agent(values, Faults(delay=0.02), body)


@pytest.mark.peer
def test_get_drops_missing_oids_and_keeps_the_rest(recordings: Recordings) -> None:
    async def go() -> dict:
        s = await session_to(recordings.sim.port, "gen-switch-48", version=0)
        try:
            return await get(
                s,
                [
                    (1, 3, 6, 1, 2, 1, 1, 3, 0),
                    (1, 3, 6, 1, 2, 1, 1, 99, 0),
                    (1, 3, 6, 1, 2, 1, 1, 5, 0),
                ],
            )
        finally:
            await s.aclose()

    got = run(go())
    assert got == {
        (1, 3, 6, 1, 2, 1, 1, 3, 0): (0x43, 123456789),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): (0x04, b"gen-sw-48"),
    }


@pytest.mark.peer
def test_request_timeout_counts_attempts() -> None:
    async def body(agent: ScriptedAgent) -> tuple[int, int, int]:
        s = await session_to(agent.port, "public", timeout=0.1, retries=2)
        try:
            with pytest.raises(RequestTimeout):
                await get(s, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
            return s.stats.requests, s.stats.retries, s.stats.timeouts
        finally:
            await s.aclose()

    assert with_agent(interface_table(1), Faults(drop_all=True), body) == (3, 2, 1)
