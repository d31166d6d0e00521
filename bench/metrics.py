"""Render time of /metrics with 100,000 interface-like series, against a reference.

Reference (same run, same series): prometheus_client's `generate_latest` over a
registry holding one custom collector that yields fresh CounterMetricFamily /
GaugeMetricFamily objects from the same data (the client_python idiom).

monitord is measured three ways:
- steady: a scrape after 25 % of the targets polled since the previous scrape
  (15 s scrape interval, 60 s poll interval), the usual case;
- idle: a scrape with nothing new since the previous one;
- cold: the first scrape, nothing cached.

Run: python bench/metrics.py [--targets 500 --ifaces 50 --rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from exporters.prometheus import ExpositionRenderer
from monitord.state import State
from monitord.types import MetricSpec, Sample, SampleKind, Target

LABELS = ("target", "ifindex", "ifname")
METRICS = (
    ("monitord_interface_in_bytes_total", SampleKind.COUNTER),
    ("monitord_interface_out_bytes_total", SampleKind.COUNTER),
    ("monitord_interface_in_errors_total", SampleKind.COUNTER),
    ("monitord_interface_oper_up", SampleKind.GAUGE),
)
SPECS = tuple(MetricSpec(n, k, f"{n} (bench)", LABELS) for n, k in METRICS)


def poll_samples(t: int, ifaces: int, round_no: int) -> list[Sample]:
    out = []
    for i in range(1, ifaces + 1):
        labels = {"target": f"sw-{t:04d}", "ifindex": str(i), "ifname": f"GigabitEthernet1/0/{i}"}
        for n, (name, kind) in enumerate(METRICS):
            v = (
                (1 if i % 7 else 0)
                if kind is SampleKind.GAUGE
                else (t * 1_000_003 + i * 7919 + n + round_no * 1000)
            )
            out.append(Sample(name, labels, v, kind, bits=64))
    return out


class Reference(Collector):
    """client_python idiom: fresh metric families built from current data at each collect()."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        snap = self.state.snapshot()
        fams: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for spec in SPECS:
            base = spec.name[: -len("_total")] if spec.kind is SampleKind.COUNTER else spec.name
            cls = CounterMetricFamily if spec.kind is SampleKind.COUNTER else GaugeMetricFamily
            fams[spec.name] = cls(base, spec.help, labels=LABELS)
        for g in snap.groups.values():
            for sv in g.series.values():
                d = dict(sv.labels)
                fams[sv.name].add_metric([d["target"], d["ifindex"], d["ifname"]], sv.value)
        yield from fams.values()


def timed(fn, rounds: int) -> float:
    xs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=500)
    ap.add_argument("--ifaces", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()

    state = State()
    targets = [Target(f"sw-{t:04d}", "127.0.0.1") for t in range(a.targets)]
    state.set_targets(targets)
    for t, tgt in enumerate(targets):
        state.record(tgt, "snmp", poll_samples(t, a.ifaces, 0), ok=True)
    series = state.snapshot().series_count()

    renderer = ExpositionRenderer(SPECS)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(Reference(state))

    cold = timed(lambda: ExpositionRenderer(SPECS).render(state.snapshot()), a.rounds)
    renderer.render(state.snapshot())
    idle = timed(lambda: renderer.render(state.snapshot()), a.rounds)

    quarter = max(1, a.targets // 4)
    steady_times = []
    for r in range(a.rounds):
        for t in range(r * quarter, (r + 1) * quarter):
            t %= a.targets
            state.record(targets[t], "snmp", poll_samples(t, a.ifaces, r + 1), ok=True)
        t0 = time.perf_counter()
        body = renderer.render(state.snapshot())
        steady_times.append(time.perf_counter() - t0)
    steady = statistics.median(steady_times)
    ref = timed(lambda: generate_latest(reg), a.rounds)
    ref_body = generate_latest(reg)

    print(
        f"series: {series}  (targets={a.targets} x interfaces={a.ifaces} x {len(METRICS)} metrics)"
    )
    print(f"body size: monitord {len(body) / 1e6:.1f} MB, reference {len(ref_body) / 1e6:.1f} MB")
    print(f"reference generate_latest(custom collector): {ref * 1000:8.1f} ms")
    print(
        f"monitord cold (nothing cached):              {cold * 1000:8.1f} ms"
        f"   ratio ref/monitord = {ref / cold:5.1f}x"
    )
    print(
        f"monitord steady (25% of targets re-polled):  {steady * 1000:8.1f} ms"
        f"   ratio ref/monitord = {ref / steady:5.1f}x"
    )
    print(
        f"monitord idle (nothing changed):             {idle * 1000:8.3f} ms"
        f"   ratio ref/monitord = {ref / idle:5.0f}x"
    )
    print("goal: steady at least 3x faster than the reference")


if __name__ == "__main__":
    main()
