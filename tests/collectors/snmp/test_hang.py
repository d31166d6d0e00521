"""An agent hang (SIGSTOP/SIGCONT of the snmpsim responders), short: bench/snmp_hang.py is
the 100-switch, 3-minute version. Every switch's interface data is complete on its
first good poll after the hang: no table left skipped, no max-repetitions left at 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collectors.snmp.hang import run_hang


@pytest.mark.peer
def test_interface_data_complete_on_the_first_good_poll_after_a_hang(tmp_path: Path) -> None:
    res = run_hang(
        tmp_path,
        switches=4,
        ports=24,
        processes=2,
        interval=2.0,
        timeout=1.8,
        warmup=5.0,
        hang=4.0,
        after=8.0,
        max_repetitions=3,  # long walks: a hang is likely to cut one mid-table
    )
    hang_start = res.resumed_at - 4.0
    for name, log in res.logs.items():
        assert any(ok and n == 26 for t, ok, n, _ in log.polls if t < hang_start), name
        # the hang was real: no good poll started while the agents were stopped
        assert not [t for t, ok, _, _ in log.polls if ok and hang_start + 0.5 < t < res.resumed_at]
    firsts = res.first_good_after()
    assert all(f is not None for f in firsts.values()), firsts
    assert res.incomplete() == [], firsts
