"""Values equal what net-snmp's `snmpbulkwalk` (the reference client) returns for the same device.

The devices are recordings replayed by snmpsim, so nothing moves between the two reads
and every value must be equal: the interface counters, statuses, names, aliases and
speeds, sysUpTime and the system group.
"""

from __future__ import annotations

import pytest

from monitord.types import Target
from tests.collectors.snmp.conftest import Recordings, device_files, poll_many, run
from tests.collectors.snmp.expect import check_interfaces, check_system, from_netsnmp
from tests.peers.snmpd import parse_snmp_output, snmpbulkwalk

CASES = ["gen-switch-48", "bundled-linux-full-walk", "bundled-winxp-full-walk"]
CASES += [f"dev-{f.stem}" for f in device_files()]  # every real recording, when available


@pytest.mark.peer
@pytest.mark.parametrize("community", CASES)
def test_values_equal_snmpbulkwalk(recordings: Recordings, community: str) -> None:
    sim = recordings.sim
    auth = ["-v2c", "-c", community]
    # The Windows agent goes silent once a request reaches its anonymised `xx` OIDs, just
    # past ifXTable: one repetition per request keeps snmpbulkwalk's read-ahead short.
    reps = 1 if community.startswith("dev-windows") else 10
    reference: dict[tuple[int, ...], tuple[int, object]] = {}
    for oid in ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"):
        out = snmpbulkwalk(sim.host, sim.port, auth, oid, max_repetitions=reps)
        reference |= from_netsnmp(parse_snmp_output(out))
    assert any(
        o[:9] == (1, 3, 6, 1, 2, 1, 2, 2, 1) or o[:10] == (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
        for o in reference
    )
    opts = {
        "community": community,
        "port": sim.port,
        "profiles": ["system", "interfaces"],
        "walk_budget": "10s",
    }
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert p.error is None, p.error
    assert check_interfaces(p.samples, reference, community) > 0
    check_system(p.samples, reference, community)
