"""A recorded switch, through the state and the exposition, passes `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from collectors.snmp import SnmpCollector
from exporters.prometheus import ExpositionRenderer
from monitord.state import State
from monitord.types import Target
from tests.collectors.snmp.conftest import Recordings, poll_many, run
from tests.conftest import FakeClock


@pytest.mark.peer
def test_exposition_of_a_switch_passes_promtool(recordings: Recordings) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found (apt-get install prometheus)")
    clock = FakeClock()
    state = State(clock=clock)
    target = Target("gen-switch-48", "127.0.0.1")
    state.set_targets([target])
    polls = run(
        poll_many({"community": "gen-switch-48", "port": recordings.sim.port}, target, times=2)
    )
    for p in polls:
        assert p.error is None
        clock.advance(60)
        state.record(target, "snmp", p.samples, ok=True, interval=60)
    text = ExpositionRenderer(SnmpCollector.metrics).render(state.snapshot()).decode()
    assert (
        'monitord_interface_in_bytes_total{ifindex="10103",ifname="Gi1/0/3",'
        'target="gen-switch-48"} '
        f"{(1 << 53) + 12345}" in text
    )
    assert 'monitord_interface_info{ifalias="uplink \\"core\\"",ifindex="10101"' in text
    assert 'monitord_snmp_requests_total{target="gen-switch-48"} ' in text
    out = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
