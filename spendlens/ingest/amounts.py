"""Parse the money strings banks write: separators, symbols, parentheses, CR/DR markers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

DecimalMark = Literal[".", ","]

# Symbols and prefixes seen in statements and alerts, longest first so "Rs." beats "R".
CURRENCY_SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "C$": "CAD",
    "A$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "RS.": "INR",
    "RS": "INR",
    "INR": "INR",
    "KSH.": "KES",
    "KSH": "KES",
    "KES": "KES",
    "₦": "NGN",
    "₱": "PHP",
    "₩": "KRW",
    "CHF": "CHF",
    "ZAR": "ZAR",
}
_SYMBOL_RE = re.compile(
    "|".join(re.escape(s) for s in sorted(CURRENCY_SYMBOLS, key=len, reverse=True)),
    re.IGNORECASE,
)
_ISO_RE = re.compile(r"\b([A-Z]{3})\b")
_TRAILING_CURRENCY_RE = re.compile(r"\s*(" + _SYMBOL_RE.pattern + r"|[A-Z]{3})$", re.IGNORECASE)
# No \b: banks also glue the marker to the digits ("45.00CR").
_MARKER_RE = re.compile(r"(?<![A-Za-z])(CR|DR|CREDIT|DEBIT)\.?\s*$", re.IGNORECASE)
_SEPARATORS = " '\u00a0\u202f\u2009"
_NUMBER_RE = re.compile(r"^\d[\d.,' \u00a0\u202f\u2009]*$")


class AmountError(ValueError):
    """The text is not an amount we can read exactly."""


@dataclass(frozen=True, slots=True)
class ParsedAmount:
    """An amount as written: absolute value, sign, CR/DR marker and currency if the text had one."""

    value: Decimal
    negative: bool
    marker: Literal["credit", "debit"] | None
    currency: str | None


def guess_decimal_mark(samples: list[str]) -> DecimalMark:
    """Decide whether a column writes decimals with '.' or ',' (decimal comma files).

    A value like `1.234,56` or `12,5` can only be decimal-comma; `1,234.56` or `12.50` only
    decimal-point. The majority of unambiguous samples wins; with none, '.' is assumed.
    """
    comma = point = 0
    for raw in samples:
        text = raw.strip().rstrip("-").strip()
        last_comma, last_point = text.rfind(","), text.rfind(".")
        if last_comma >= 0 and last_point >= 0:
            if last_comma > last_point:
                comma += 1
            else:
                point += 1
        elif re.search(r",\d{1,2}\D*$", text):
            comma += 1
        elif re.search(r"\.\d{1,2}\D*$", text) or re.search(r"\.\d{4,}\D*$", text):
            point += 1
    return "," if comma > point else "."


def parse_amount(text: str, decimal_mark: DecimalMark = ".") -> ParsedAmount:
    """Parse one amount string exactly.

    Handles `1,234.56`, `1.234,56` (with decimal_mark=","), `1 234,56`, `1'234.56`,
    `1,00,000.00`, `$45.20`, `-$45`, `(45.00)`, `45.00-`, `45.00 CR`, `USD 45`, `Rs.500`.

    Raises:
        AmountError: empty, not a number, or ambiguous in a way we refuse to guess.
    """
    s = text.strip()
    if not s:
        raise AmountError("empty amount")
    if len(s) > 64:
        raise AmountError("amount text too long")
    negative = False
    marker: Literal["credit", "debit"] | None = None
    currency: str | None = None

    m = _MARKER_RE.search(s)
    if m:
        marker = "credit" if m.group(1).upper().startswith("C") else "debit"
        s = s[: m.start()].strip()
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    for _ in range(3):  # sign and symbol may come in either order: -$5, $-5, USD -5
        changed = False
        if s and s[0] in "-\u2212+":
            negative = negative or s[0] != "+"
            s, changed = s[1:].strip(), True
        if s and s[-1] in "-\u2212":
            negative, s, changed = True, s[:-1].strip(), True
        sym = _SYMBOL_RE.match(s)
        if sym:
            currency = CURRENCY_SYMBOLS[sym.group(0).upper()]
            s, changed = s[sym.end() :].strip(), True
        else:
            iso = _ISO_RE.match(s)
            if iso:
                currency, s, changed = iso.group(1), s[iso.end() :].strip(), True
        tail = _TRAILING_CURRENCY_RE.search(s)
        if tail:
            found = tail.group(1).upper()
            currency = CURRENCY_SYMBOLS.get(found, found)
            s, changed = s[: tail.start()].strip(), True
        if s.startswith("(") and s.endswith(")"):
            negative, s, changed = True, s[1:-1].strip(), True
        if not changed:
            break
    if not s or not _NUMBER_RE.match(s):
        raise AmountError(f"not a number: {text.strip()[:40]!r}")
    return ParsedAmount(_to_decimal(s, decimal_mark, text), negative, marker, currency)


def _to_decimal(s: str, decimal_mark: DecimalMark, original: str) -> Decimal:
    for sep in _SEPARATORS:
        s = s.replace(sep, "")
    group = "," if decimal_mark == "." else "."
    if s.count(decimal_mark) > 1:
        raise AmountError(f"more than one decimal mark in {original.strip()[:40]!r}")
    if decimal_mark in s and group in s and s.rfind(group) > s.rfind(decimal_mark):
        raise AmountError(f"digit grouping after the decimal mark in {original.strip()[:40]!r}")
    s = s.replace(group, "").replace(decimal_mark, ".")
    try:
        return Decimal(s)
    except InvalidOperation as exc:
        raise AmountError(f"not a number: {original.strip()[:40]!r}") from exc
