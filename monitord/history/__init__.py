"""History: what the monthly reports need, on disk (SQLite, WAL), and how it gets there.

Modules: `db` (the SQLite store: schema, events, alert events, inventory, findings,
retention), `accumulate` (mergeable accumulators), `recorder` (folds polls into windows),
`batch` (writes a closed window), `service` (the history inside the running daemon: jobs
for flush, findings, inventory, pruning and the monthly reports).

Rollups: accumulate each poll in memory, write them to the history.

`RollupRecorder.observe(view)` runs after every poll (cheap, in memory, no I/O);
`RollupRecorder.flush()` writes the windows that closed (of `window` seconds, default
60, aligned to the wall clock) to SQLite in one transaction, merging them into the
stored rows (sums add, extremes take the extreme, histograms add). A crash or
`kill -9` therefore loses at most the current window; a restart continues the same
hours and days. `flush(force=True)` (at shutdown) also writes the open window.

What it keeps (see `monitord.history.db` for the tables) follows the roles the running
collectors declare on their metric specs (`monitord.types.Role`, indexed by
`monitord.contract.RoleIndex`); no metric or collector name is written here:
- per (target, collector) and hour: polls run and good, the poll interval, restarts
  (a series of role UPTIME going back) and the last uptime;
- per target and day: the distributions of the series of role DISTRIBUTION (ICMP RTT and
  loss, CPU; `per` divides by another series: memory used / total), their max
  (DISTRIBUTION_MAX) and increases per poll (COUNTER_DISTRIBUTION: failed logins);
  the `partial` distribution (monitord_snmp_poll_partial: one 0/1 value per poll; n =
  polls, sum = polls that returned partial data) is the report's data completeness;
- per interface and day (roles INTERFACE_*): bytes in/out as rate x elapsed, peak rates,
  errors and discards, seconds observed and oper-up, oper-status changes, seconds at
  >= 80 % of the interface speed;
- per 5-minute slot, bytes in/out of WAN/internet interfaces (for the 95th percentile):
  interfaces of targets tagged `wan`, `uplink` or `internet`, interfaces whose ifAlias
  matches `wan_alias`, and `"target:ifname"` names listed in `wan_interfaces`;
- per object and day, first/last/min/max of the series of role DAILY_GAUGE and
  AGE_GAUGE (filesystem size, used, available by mountpoint; database size by database;
  backups by policy).

Distributions are sparse histograms: RTT in logarithmic buckets 2 % wide (a quantile
is within 1 % of the exact value), ratios in linear buckets of 0.01 (within 0.005).
"""

from __future__ import annotations

from monitord.history.accumulate import (
    DEFAULT_WAN_ALIAS,
    DIST_KINDS,
    SLOT,
    WAN_TAGS,
    Batch,
    DistAcc,
    GaugeAcc,
    HistKind,
    IfaceAcc,
    PollAcc,
    RateAcc,
    SeriesId,
    bucket_of,
    bucket_value,
    day_key,
    iface_object,
    iface_parts,
    quantile,
)
from monitord.history.batch import write_batch
from monitord.history.recorder import RollupRecorder

__all__ = [
    "DEFAULT_WAN_ALIAS",
    "DIST_KINDS",
    "SLOT",
    "WAN_TAGS",
    "Batch",
    "DistAcc",
    "GaugeAcc",
    "HistKind",
    "IfaceAcc",
    "PollAcc",
    "RateAcc",
    "RollupRecorder",
    "SeriesId",
    "bucket_of",
    "bucket_value",
    "day_key",
    "iface_object",
    "iface_parts",
    "quantile",
    "write_batch",
]
