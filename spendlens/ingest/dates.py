"""Parse the dates banks write (ISO, day-first, month-first, month names, optional time)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Literal

DateOrder = Literal["dmy", "mdy"]

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_TIME = (
    r"(?:[ T:]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?:\.\d+)?"
    r"\s*(?P<ampm>[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_YEAR = r"(?P<y>\d{2}|\d{4})"
_ISO_RE = re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME)
_COMPACT_RE = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})$")
_NUMERIC_RE = re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})(?:[-/.]" + _YEAR + ")?" + _TIME)
_DMONY_RE = re.compile(
    r"^(?P<d>\d{1,2})(?:st|nd|rd|th)?[-/ .]?(?P<mon>[A-Za-z]{3,9})\.?[-/ .,]*" + _YEAR + "?" + _TIME
)
_MONDY_RE = re.compile(
    r"^(?P<mon>[A-Za-z]{3,9})\.?[-/ .]?(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[-/ .]*"
    + _YEAR
    + "?"
    + _TIME
)


class DateError(ValueError):
    """The text is not a date we can read."""


def _year(raw: str | None, default_year: int | None) -> int:
    if raw is None:
        if default_year is None:
            raise DateError("date has no year")
        return default_year
    year = int(raw)
    return year + 2000 if year < 100 else year


def _build(y: int, m: int, d: int, match: re.Match[str]) -> dt.datetime:
    hour = int(match.group("H")) if match.group("H") else 0
    minute = int(match.group("M")) if match.group("M") else 0
    second = int(match.group("S")) if match.group("S") else 0
    ampm = (match.group("ampm") or "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    try:
        return dt.datetime(y, m, d, hour, minute, second)
    except ValueError as exc:
        raise DateError(str(exc)) from exc


def parse_datetime(
    text: str, order: DateOrder = "mdy", default_year: int | None = None
) -> tuple[dt.datetime, bool]:
    """Parse a date (with optional time) and say whether a time was present.

    Args:
        text: e.g. `2024-11-05`, `05/11/2024 13:05`, `05-Nov-24`, `Nov 5, 2024`, `11/05`.
        order: how to read all-numeric dates like `05/11/24`.
        default_year: year for dates written without one (SMS alerts); refused when None.

    Raises:
        DateError: not a date, or an impossible one.
    """
    s = " ".join(text.strip().split())
    if not s or len(s) > 40:
        raise DateError("empty date" if not s else "date text too long")
    m = _ISO_RE.match(s)
    if m:
        return _build(int(m["y"]), int(m["m"]), int(m["d"]), m), bool(m["H"])
    m = _COMPACT_RE.match(s)
    if m:
        return dt.datetime(int(m["y"]), int(m["m"]), int(m["d"])), False
    m = _NUMERIC_RE.match(s)
    if m:
        a, b = int(m["a"]), int(m["b"])
        day, month = (a, b) if order == "dmy" else (b, a)
        return _build(_year(m["y"], default_year), month, day, m), bool(m["H"])
    for regex in (_DMONY_RE, _MONDY_RE):
        m = regex.match(s)
        if m and m["mon"].lower() in _MONTHS:
            return _build(
                _year(m["y"], default_year), _MONTHS[m["mon"].lower()], int(m["d"]), m
            ), bool(m["H"])
    raise DateError(f"not a date: {text.strip()[:40]!r}")


def parse_date(text: str, order: DateOrder = "mdy", default_year: int | None = None) -> dt.date:
    """Parse a date, dropping any time of day (see `parse_datetime`)."""
    return parse_datetime(text, order, default_year)[0].date()


def detect_date_order(samples: Iterable[str]) -> DateOrder | None:
    """Tell day-first from month-first by looking for a component above 12.

    Returns None when every sample reads both ways (or the samples disagree), so the caller
    must fall back to an explicit option.
    """
    day_first = month_first = False
    for raw in samples:
        m = _NUMERIC_RE.match(" ".join(raw.strip().split()))
        if not m:
            continue
        a, b = int(m["a"]), int(m["b"])
        day_first = day_first or (a > 12 >= b)
        month_first = month_first or (b > 12 >= a)
    if day_first and not month_first:
        return "dmy"
    if month_first and not day_first:
        return "mdy"
    return None
