"""The monthly reports (REPORTS.md): data from the history → view models.

One module per report (`network`, `servers`, `security`, `inventory`, `kpi`) builds a
`model.Report` from a `store.Source` for one `period.Period`; `exporters.reports`
renders it (HTML, PDF, CSV; Spanish or English). `cli` is `monitord report` and the
function the daemon's monthly job calls.
"""

from __future__ import annotations

__all__: list[str] = []
