"""Message catalogs (messages/<lang>.yaml) and locale formatting of report values (Babel).

Spanish (es_CO) by default: dates dd/mm/aaaa, thousands '.', decimal ','; English
(en_US) on request. Two rendering modes: `doc` (HTML/PDF: units, scaled sizes, "—"
for no data) and `csv` (plain numbers in the column's unit, empty for no data).

In `doc` mode a number and what measures it are never split across lines: the space
between a number and its percent sign or unit ("10 %", "20 Mb/s", "2 h 5 min", "5 días",
literal or from a catalog message) and any space inside a number (a locale grouping
with spaces) is a NO-BREAK SPACE (U+00A0, which DejaVu and Liberation render as a
space). CSV fields never carry it: they are written with plain spaces, as before.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from monitord.reports.model import (
    BitRate,
    Bytes,
    Day,
    Dur,
    Light,
    Msg,
    Num,
    Pct,
    Spark,
    Ts,
    Value,
)

__all__ = ["LANGUAGES", "NBSP", "Catalog", "Formatter", "MissingMessage", "load_catalog", "slug"]

LANGUAGES = ("es", "en")
NBSP = "\u00a0"
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


class MissingMessage(KeyError):
    """A key that the catalog lacks (a bug: every key used must exist in every language)."""


class Catalog:
    """One language's messages, flattened to dotted keys."""

    def __init__(self, lang: str, data: Mapping[str, Any]) -> None:
        self.lang = lang
        self.messages: dict[str, str] = {}
        _flatten(data, "", self.messages)
        self.locale = self.messages["locale"]

    def get(self, key: str) -> str:
        """The message under `key`; MissingMessage if absent."""
        try:
            return self.messages[key]
        except KeyError:
            raise MissingMessage(f"message {key!r} missing from the {self.lang} catalog") from None

    def fields(self, key: str) -> set[str]:
        """Placeholder names of a message."""
        text = _PLURAL.sub(lambda b: "{" + b.group(1) + "}", self.get(key))
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@cache
def load_catalog(lang: str) -> Catalog:
    """The packaged catalog of `lang` (es or en)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r} (known: {', '.join(LANGUAGES)})")
    text = resources.files("exporters.reports").joinpath(f"messages/{lang}.yaml").read_text("utf-8")
    return Catalog(lang, yaml.safe_load(text))


class Formatter:
    """Formats typed values and messages in one language and time zone."""

    def __init__(self, lang: str = "es", tz: str | ZoneInfo = "America/Bogota") -> None:
        self.cat = load_catalog(lang)
        self.lang = lang
        self.locale = self.cat.locale
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)

    def t(self, key: str, **params: Value) -> str:
        """A catalog message with its parameters formatted."""
        return self.msg(Msg(key, params))

    def msg(self, m: Msg) -> str:
        """Format a `Msg`; ICU plural blocks pick their form by the language's plural rules."""
        text = self.cat.get(m.key)
        if not m.params:
            return glue(text)
        if ", plural," in text:
            text = _PLURAL.sub(lambda b: self._plural(b, m.params), text)
        values = {k: self.text(v) for k, v in m.params.items()}
        return glue(text.format_map(_Defaults(values)))

    def _plural(self, block: re.Match[str], params: Mapping[str, Value]) -> str:
        """`{n, plural, one {# sede} other {# sedes}}` -> '1 sede' / '3 sedes' (CLDR rules)."""
        value = params.get(block.group(1))
        n = value.value if isinstance(value, Num | Pct) else value
        forms = dict(_BRANCH.findall(block.group(2)))
        if not isinstance(n, int | float):
            form = forms.get("other", "")
        else:
            category = _locale(self.locale).plural_form(abs(n))
            exact = forms.get(f"={n:g}")
            form = exact if exact is not None else forms.get(category, forms.get("other", ""))
        return str(form).replace("#", self.text(value).replace("{", "{{").replace("}", "}}"))

    def number(self, v: float, digits: int = 0, grouping: bool = True) -> str:
        """A locale number with exactly `digits` decimals."""
        pattern = ("#,##0" if grouping else "0") + ("." + "0" * digits if digits else "")
        return format_decimal(v, format=pattern, locale=self.locale)

    def text(self, v: Value) -> str:
        """A value as document text."""
        if v is None:
            return "—"
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return self.cat.get("words.yes" if v else "words.no")
        if isinstance(v, int):
            return self._doc_number(v)
        if isinstance(v, Msg):
            return self.msg(v)
        if isinstance(v, Pct):
            if v.value is None:
                return "—"
            sign = self.cat.get("formats.percent_sign").replace(" ", NBSP)
            return self._doc_number(v.value * 100, v.digits) + sign
        if isinstance(v, Num):
            if v.value is None:
                return "—"
            unit = NBSP + self.cat.get(f"units.{v.unit}") if v.unit else ""
            return self._doc_number(v.value, v.digits) + unit
        if isinstance(v, Bytes):
            return "—" if v.value is None else self._si(v.value, "B")
        if isinstance(v, BitRate):
            return "—" if v.value is None else self._si(v.value * 8, "b/s")
        if isinstance(v, Dur):
            return "—" if v.value is None else self.duration(v.value)
        if isinstance(v, Ts):
            return "—" if v.value is None else self.datetime(v.value, v.seconds)
        if isinstance(v, Day):
            return (
                "—"
                if v.value is None
                else format_date(v.value, self.cat.get("formats.date"), locale=self.locale)
            )
        if isinstance(v, Light):
            return self.cat.get(f"lights.{v.color.value}")
        if isinstance(v, Spark):
            return " ".join(self._doc_number(x, 1) if x is not None else "—" for x in v.values)
        raise TypeError(f"cannot format {type(v).__name__}")

    def _doc_number(self, v: float, digits: int = 0) -> str:
        """A number for a document: a grouping space never breaks it."""
        return self.number(v, digits).replace(" ", NBSP).replace("\u202f", NBSP)

    def csv(self, v: Value) -> str:
        """A value as a CSV field: plain numbers in the column's base unit."""
        if v is None:
            return ""
        if isinstance(v, Pct):
            return "" if v.value is None else self.number(v.value * 100, v.digits + 1, False)
        if isinstance(v, Num):
            return "" if v.value is None else self.number(v.value, v.digits, False)
        if isinstance(v, Bytes | BitRate):
            if v.value is None:
                return ""
            return self.number(round(v.value * (8 if isinstance(v, BitRate) else 1)), 0, False)
        if isinstance(v, Dur):
            return "" if v.value is None else self.number(v.value / 60, 2, False)
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, Spark):
            return " ".join(self.number(x, 2, False) if x is not None else "" for x in v.values)
        # words, dates and sentences as the document says them, with plain spaces
        return self.text(v).replace(NBSP, " ")

    def csv_unit(self, v: Value) -> str:
        """The unit a CSV column states in its heading, from a sample value."""
        if isinstance(v, Pct):
            return "%"
        if isinstance(v, Bytes):
            return "B"
        if isinstance(v, BitRate):
            return "b/s"
        if isinstance(v, Dur):
            return self.cat.get("duration.min")
        if isinstance(v, Num) and v.unit:
            return self.cat.get(f"units.{v.unit}")
        return ""

    def datetime(self, ts: float, seconds: bool = False) -> str:
        """Local date and time (with seconds when asked)."""
        return format_datetime(
            datetime.fromtimestamp(ts, self.tz),
            self.cat.get("formats.datetime_s" if seconds else "formats.datetime"),
            locale=self.locale,
        )

    def date(self, ts: float) -> str:
        """Local date."""
        return format_date(
            datetime.fromtimestamp(ts, self.tz).date(),
            self.cat.get("formats.date"),
            locale=self.locale,
        )

    def month(self, ts: float) -> str:
        """'octubre de 2026'."""
        return format_date(
            datetime.fromtimestamp(ts, self.tz).date(),
            self.cat.get("formats.month"),
            locale=self.locale,
        )

    def duration(self, seconds: float) -> str:
        """'2 d 3 h', '1 h 30 min', '10 min', '45 s'."""
        u = {k: self.cat.get(f"duration.{k}") for k in ("d", "h", "min", "s")}
        s = round(seconds)
        d, rem = divmod(s, 86400)
        h, rem = divmod(rem, 3600)
        m, sec = divmod(rem, 60)
        sp = NBSP  # a figure and its unit stay on one line; the parts may wrap
        if d:
            return f"{d}{sp}{u['d']} {h}{sp}{u['h']}" if h else f"{d}{sp}{u['d']}"
        if h:
            return f"{h}{sp}{u['h']} {m}{sp}{u['min']}" if m else f"{h}{sp}{u['h']}"
        if m:
            return f"{m}{sp}{u['min']} {sec}{sp}{u['s']}" if sec else f"{m}{sp}{u['min']}"
        return f"{sec}{sp}{u['s']}"

    def _si(self, v: float, unit: str) -> str:
        for size, prefix in _SI:
            if abs(v) >= size:
                return f"{self._doc_number(v / size, 1)}{NBSP}{prefix}{unit}"
        return f"{self._doc_number(v, 0)}{NBSP}{unit}"


def glue(text: str) -> str:
    """`text` with a NO-BREAK SPACE between each number and the unit or percent sign after
    it ("12 meses", "30 días", "5 minutos", "10 %"): a line never starts with the unit."""
    return _UNIT_AFTER_NUMBER.sub(NBSP, text)


# a space after a digit and before a unit word (not the start of a longer word: "3 sedes")
_UNIT_AFTER_NUMBER = re.compile(
    r"(?<=\d) (?=(?:%|‰|°C|"
    r"d[ií]as?|days?|horas?|hours?|minutos?|minutes?|min|segundos?|seconds?|"
    r"semanas?|weeks?|mes(?:es)?|months?|años?|years?|ms|s|h|d|"
    r"[kMGT]?i?B|[kMGT]?b/s|[kMGT]?bps)(?![\w/]))"
)


def slug(text: str) -> str:
    """A file-name-safe ASCII title: 'Disponibilidad por sede' -> 'disponibilidad_por_sede'."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = "".join(c.lower() if c.isalnum() else "_" for c in ascii_)
    return "_".join(p for p in out.split("_") if p)


_PLURAL = re.compile(r"\{(\w+), plural,((?:\s*=?\w+\s*\{[^{}]*\})+)\s*\}")
_BRANCH = re.compile(r"(=?\w+)\s*\{([^{}]*)\}")


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _flatten(d: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            _flatten(v, key + ".", out)
        else:
            out[key] = str(v)
