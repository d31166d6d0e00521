"""The agent collector's exposition parser: table tests, then hypothesis fuzzing of the
parser and of the whole decode → map path with malformed /metrics bodies."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.agent import AgentCollector, decode_body
from collectors.agent.mapping import (
    Exclusions,
    map_monitord,
    map_node_exporter,
    map_windows_exporter,
)
from collectors.agent.parse import ParseError, parse
from monitord.errors import MalformedResponse

SPECS = {m.name: m for m in AgentCollector.metrics}
WHERE = "agent monitord target=t url=http://127.0.0.1:1/metrics"


@pytest.mark.parametrize(
    ("text", "name", "labels", "value"),
    [
        ("a 1\n", "a", {}, 1.0),
        ("a_b:c{} 2.5\n", "a_b:c", {}, 2.5),
        ('a{x="1",y="two"} -3e2\n', "a", {"x": "1", "y": "two"}, -300.0),
        ('a{x="1",} 4\n', "a", {"x": "1"}, 4.0),
        ('a{ x = "sp" } 5 1700000000000\n', "a", {"x": "sp"}, 5.0),
        ('a{p="C:\\\\pagefile.sys"} 6\n', "a", {"p": "C:\\pagefile.sys"}, 6.0),
        ('a{q="say \\"hi\\"\\nbye"} 7\n', "a", {"q": 'say "hi"\nbye'}, 7.0),
        ('a{b="} 9"} 8\n', "a", {"b": "} 9"}, 8.0),
        ("a +Inf\n", "a", {}, math.inf),
        ("a -Inf\n", "a", {}, -math.inf),
        ("a 1.7096496e+09\n", "a", {}, 1.7096496e09),
        ("# HELP a text with { and }\n# TYPE a counter\na .5\n", "a", {}, 0.5),
        ("\n# a plain comment\n\na\t9\n", "a", {}, 9.0),
    ],
    ids=[
        "bare", "empty-labels", "labels-exponent", "trailing-comma", "spaces-timestamp",
        "escaped-backslash", "escaped-quote-newline", "brace-in-value", "inf", "minus-inf",
        "float-exponent", "help-type", "blank-lines-tab",
    ],
)  # fmt: skip
def test_valid_lines_parse(text: str, name: str, labels: dict[str, str], value: float) -> None:
    exp = parse(text)
    assert exp.values(name) == [(labels, value)]
    assert exp.count == 1


def test_nan_parses_and_types_are_kept() -> None:
    exp = parse("# TYPE a gauge\na NaN\n# TYPE b counter\nb 1\n")
    assert math.isnan(exp.values("a")[0][1]) and exp.types == {"a": "gauge", "b": "counter"}


def test_keep_filters_samples_and_types_but_still_validates_every_line() -> None:
    text = "# TYPE a gauge\na 1\nb 2\n"
    exp = parse(text, keep=lambda n: n == "b")
    assert list(exp.samples) == [("b", {}, 2.0)] and exp.types == {}
    with pytest.raises(ParseError):
        parse("a 1\nb{ 2\n", keep=lambda n: n == "a")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 0),
        ("a 1", 0),
        ("a 1\nb 2", 0),
        ("a\n", 1),
        ("a one\n", 1),
        ("a 1_000\n", 1),
        ("a 0x10\n", 1),
        ("1a 1\n", 1),
        ('a{x="1" y="2"} 1\n', 1),
        ('a{x="1",x="2"} 1\n', 1),
        ('a{x="\\t"} 1\n', 1),
        ('a{x=1} 1\n', 1),
        ('a{x="1"\n', 1),
        ("ok 1\n# TYPE a bogus\n", 2),
        ("# TYPE\n", 1),
        ("a 1 2 3\n", 1),
        ("a 1 12.5\n", 1),
        ("<html><body>hi</body></html>\n", 1),
    ],
    ids=[
        "empty", "no-final-newline", "truncated-last-line", "no-value", "word-value",
        "underscore-value", "hex-value", "bad-name", "no-comma", "duplicate-label",
        "bad-escape", "unquoted-value", "unclosed", "bad-type", "type-without-name",
        "extra-fields", "float-timestamp", "html",
    ],
)  # fmt: skip
def test_malformed_bodies_raise_parse_error_with_line(text: str, line: int) -> None:
    with pytest.raises(ParseError) as ei:
        parse(text)
    assert ei.value.line == line, str(ei.value)


def test_sample_cap_bounds_memory() -> None:
    text = "".join(f'a{{i="{i}"}} {i}\n' for i in range(50))
    assert parse(text, max_samples=50).count == 50
    with pytest.raises(ParseError, match="more than 10 samples"):
        parse(text, max_samples=10)


@pytest.mark.parametrize(
    ("ctype", "body", "what"),
    [
        ("text/html; charset=utf-8", b"a 1\n", "HTML"),
        ("text/plain", b"  <!DOCTYPE html><html></html>\n", "HTML"),
        ("application/json", b"a 1\n", "JSON"),
        ("text/plain", b'{"a": 1}\n', "JSON"),
        ("text/plain", b"a 1\n\xff\xfe\n", "UTF-8"),
        ("text/plain", b"a 1\nb", "truncated"),
    ],
    ids=["html-type", "html-body", "json-type", "json-body", "latin1", "truncated"],
)
def test_decode_body_rejects_what_is_not_exposition_text(
    ctype: str, body: bytes, what: str
) -> None:
    with pytest.raises(MalformedResponse) as ei:
        decode_body(ctype, body, SPECS.__contains__, WHERE)
    assert what in str(ei.value) and ei.value.reason == "malformed"


# -- fuzzing --------------------------------------------------------------------------------

_LINES = [
    "# HELP monitord_host_memory_total_bytes Physical memory",
    "# TYPE monitord_host_memory_total_bytes gauge",
    'monitord_host_memory_total_bytes{target="x"} 1024',
    'monitord_host_filesystem_size_bytes{target="x",mountpoint="/"} 5e9',
    'monitord_interface_in_bytes_total{target="x",ifindex="1",ifname="lo"} 12345',
    'monitord_host_cpu_seconds_total{target="x",mode="user"} 10.5',
    "node_memory_MemTotal_bytes 2.5e+10",
    "node_memory_MemAvailable_bytes 2e+10",
    'node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 2.7e+11',
    'node_cpu_seconds_total{cpu="0",mode="idle"} 100',
    'node_network_receive_bytes_total{device="eth0"} NaN',
    'node_network_flags{device="eth0"} 4099',
    'node_uname_info{machine="x86_64",nodename="vm",release="6.1",sysname="Linux"} 1',
    "windows_memory_physical_total_bytes 8e9",
    "windows_memory_available_bytes 3e9",
    'windows_cpu_time_total{core="0,0",mode="idle"} +Inf',
    'windows_logical_disk_size_bytes{volume="C:"} -1',
    'windows_service_state{name="spooler",state="running"} 1',
]
_NOISE = st.sampled_from(["{", "}", '"', "\\", ",", "=", " ", "\t", "\x00", "é", "#", "\r"])


@st.composite
def _mangled_bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.sampled_from(_LINES), min_size=0, max_size=12))
    out: list[str] = []
    for line in lines:
        if draw(st.booleans()):
            pos = draw(st.integers(0, len(line)))
            cut = draw(st.sampled_from(["insert", "delete", "truncate"]))
            if cut == "insert":
                line = line[:pos] + draw(_NOISE) + line[pos:]
            elif cut == "delete":
                line = line[:pos] + line[pos + 1 :]
            else:
                line = line[:pos]
        out.append(line)
    body = "\n".join(out)
    if draw(st.booleans()):
        body += "\n"
    return body.encode("utf-8", "surrogatepass")


def _decode_and_map(body: bytes) -> None:
    """What one poll does with a body: it either maps or raises MalformedResponse."""
    try:
        exp = decode_body("text/plain; version=0.0.4", body, lambda n: True, WHERE)
    except MalformedResponse:
        return
    samples, _ = map_monitord(exp, "t", SPECS)
    excl = Exclusions.defaults()
    samples += map_node_exporter(exp, "t", excl, ("ssh.service",))
    samples += map_windows_exporter(exp, "t", excl, ("Spooler",), None, 1.7e9)
    for s in samples:
        assert s.labels["target"] == "t" and math.isfinite(s.value)
        assert s.name in SPECS, s.name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_only_raises_parse_error(text: str) -> None:
    try:
        exp = parse(text)
    except ParseError:
        return
    assert text.endswith("\n") and exp.count >= 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_decode_to_malformed_or_samples(body: bytes) -> None:
    _decode_and_map(body)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mangled_bodies())
def test_fuzz_mangled_metrics_bodies_never_crash_the_collector(body: bytes) -> None:
    _decode_and_map(body)


def test_fuzz_corpus_is_not_vacuous() -> None:
    """The unmangled corpus parses and maps to real samples of all three kinds."""
    exp = decode_body("text/plain", ("\n".join(_LINES) + "\n").encode(), lambda n: True, WHERE)
    mon, dropped = map_monitord(exp, "t", SPECS)
    assert {s.name for s in mon} >= {
        "monitord_host_memory_total_bytes",
        "monitord_interface_in_bytes_total",
    }
    node = map_node_exporter(exp, "t", Exclusions.defaults())
    assert any(s.name == "monitord_host_memory_total_bytes" and s.value == 2.5e10 for s in node)
    win = map_windows_exporter(exp, "t", Exclusions.defaults(), ("spooler",), None, 0)
    assert any(s.name == "monitord_service_up" and s.value == 1 for s in win)
    assert dropped > 0  # node_/windows_ lines are not monitord series
