"""Tell a CSV statement, a JSON feed and an SMS export apart: extension first, then content."""

from __future__ import annotations

import csv
import re
from pathlib import PurePath

from spendlens.ingest.csv_statement import count_header_aliases, sniff_delimiter
from spendlens.ingest.text import decode_text
from spendlens.ingest.types import NotAStatementError, Source

_EXTENSIONS = {
    ".csv": Source.CSV,
    ".tsv": Source.CSV,
    ".json": Source.JSON,
    ".jsonl": Source.JSON,
    ".ndjson": Source.JSON,
}
_SNIFF_LINES = 50
_HEADER_SEARCH_ROWS = 30
# A line of an SMS export is an alert when it has a transaction word and a money amount.
_ALERT_WORD_RE = re.compile(
    r"\b(?:debited|credited|spent|withdrawn|received|paid|sent|purchase|payment|txn"
    r"|transaction|a/c|acct|card|upi|confirmed|avl bal|balance)\b",
    re.IGNORECASE,
)
_MONEY_RE = re.compile(
    r"(?:[$€£¥₹₦₱₩]|\b(?:rs|inr|usd|eur|gbp|ksh|kes|ngn|php|zar|aud|cad)\.?)\s?\d"
    r"|\b\d[\d,]*\.\d{2}\b",
    re.IGNORECASE,
)


def detect_format(data: bytes, filename: str | None = None) -> Source:
    """Which parser fits the input.

    A .csv/.tsv/.json/.jsonl/.ndjson extension decides on its own; any other name (.txt is
    used for both CSV and SMS exports) or none is decided by content: JSON starts with `[`
    or `{`; CSV has a consistent delimiter and a header-like row; SMS looks like bank alerts.

    Raises:
        NotAStatementError: empty, binary, or none of the three formats.
    """
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    text, _ = decode_text(data)
    if text.lstrip()[:1] in ("[", "{"):
        return Source.JSON
    lines = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    guess = sniff_delimiter(lines)
    consistent = guess.width >= 2 and guess.share >= 0.5
    if consistent and _has_header_row(lines, guess.delimiter):
        return Source.CSV
    if _looks_like_alerts(lines):
        return Source.SMS
    # Columns but unfamiliar headers: the CSV parser explains which columns it needs.
    if guess.width >= 3 and guess.share >= 0.8 and len(lines) >= 2:
        return Source.CSV
    name = f"{filename!r}" if filename else "the input"
    raise NotAStatementError(
        f"could not tell what {name} is: not JSON, no CSV header row and no bank alerts. "
        "If it is one of them, say which with --format csv|json|sms"
    )


def _has_header_row(lines: list[str], delimiter: str) -> bool:
    rows = csv.reader(lines[:_HEADER_SEARCH_ROWS], delimiter=delimiter)
    try:
        return any(count_header_aliases(row) >= 2 for row in rows)
    except csv.Error:
        return False


def _looks_like_alerts(lines: list[str]) -> bool:
    alerts = sum(1 for line in lines if _ALERT_WORD_RE.search(line) and _MONEY_RE.search(line))
    # Multi-line alerts put the amount and the greeting on different lines.
    return alerts >= 1 and alerts >= 0.3 * len(lines)
