"""Parse bank-statement CSV exports into RawTransactions.

The pipeline reads top to bottom: decode the bytes -> pick the delimiter -> find the header
row -> map columns to fields -> decide the file's decimal mark and date order -> convert each
row. A bad row becomes a `Reject` carrying its physical line number; only input that is not a
statement at all raises `NotAStatementError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, NamedTuple

from spendlens.ingest.amounts import (
    AmountError,
    DecimalMark,
    ParsedAmount,
    guess_decimal_mark,
    parse_amount,
)
from spendlens.ingest.dates import DateError, DateOrder, detect_date_order, parse_datetime
from spendlens.ingest.text import decode_text
from spendlens.ingest.types import (
    Direction,
    NotAStatementError,
    ParseResult,
    RawTransaction,
    Reject,
    Source,
)
from spendlens.money import is_currency_code, to_minor

FIELDS = (
    "date",
    "posted_date",
    "description",
    "memo",
    "amount",
    "debit",
    "credit",
    "direction",
    "currency",
    "balance",
    "mcc",
    "category",
    "account_tail",
    "reference",
)

# Header names per field, already normalized (see `_normalize`): lower case, punctuation and
# underscores as single spaces. A currency in parentheses ("Amount (EUR)") is stripped first.
# Earlier aliases are stronger: with both "Details" and "Description" columns (Chase),
# "Description" is the description.
ALIASES: dict[str, tuple[str, ...]] = {
    "date": (
        "date",
        "transaction date",
        "trans date",
        "txn date",
        "value date",
        "booking date",
        "buchungstag",
        "buchungsdatum",
        "valuta",
        "wertstellung",
        "datum",
    ),
    "posted_date": ("posted date", "posting date", "post date"),
    "description": (
        "description",
        "narration",
        "details",
        "transaction details",
        "payee",
        "particulars",
        "name",
        "merchant",
        "transaction description",
        "original description",
        "verwendungszweck",
    ),
    "memo": ("memo", "notes", "reference text", "remarks", "buchungstext"),
    "amount": ("amount", "value", "transaction amount", "betrag", "montant"),
    "debit": (
        "debit",
        "debits",
        "withdrawal",
        "withdrawals",
        "money out",
        "paid out",
        "debit amount",
        "withdrawal amt",
        "withdrawal amount",
    ),
    "credit": (
        "credit",
        "credits",
        "deposit",
        "deposits",
        "money in",
        "paid in",
        "credit amount",
        "deposit amt",
        "deposit amount",
    ),
    "direction": ("transaction type", "type", "dr cr", "cr dr", "credit debit", "debit credit"),
    "currency": ("currency", "ccy", "currency code", "währung", "waehrung"),
    "balance": ("balance", "running balance", "closing balance"),
    "mcc": ("mcc", "merchant category code", "category code"),
    "category": ("category", "label", "categorie"),
    "account_tail": ("card no", "card number", "card", "account number", "account"),
    "reference": (
        "reference",
        "ref",
        "ref no",
        "chq ref no",
        "transaction id",
        "id",
        "reference number",
    ),
}
_FIELD_BY_ALIAS = {
    alias: (name, rank) for name, aliases in ALIASES.items() for rank, alias in enumerate(aliases)
}
_MONEY_FIELDS = ("amount", "debit", "credit", "balance")

_DIRECTION_WORDS = {
    "debit": Direction.DEBIT,
    "dr": Direction.DEBIT,
    "d": Direction.DEBIT,
    "withdrawal": Direction.DEBIT,
    "credit": Direction.CREDIT,
    "cr": Direction.CREDIT,
    "c": Direction.CREDIT,
    "deposit": Direction.CREDIT,
}
# Summary rows banks put around the transactions; skipped unless they have a date and an amount.
_SUMMARY_PREFIXES = (
    "total",
    "subtotal",
    "sub total",
    "grand total",
    "opening balance",
    "closing balance",
    "balance brought forward",
    "brought forward",
    "balance carried forward",
    "carried forward",
    "end of statement",
    "summe",
    "anfangssaldo",
    "endsaldo",
)

_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50
_HEADER_SEARCH_ROWS = 30
_EXCERPT_CHARS = 200

_NON_WORD_RE = re.compile(r"[\W_]+")
_SUMMARY_RE = re.compile(
    r"[\W_]*(?:" + "|".join(p.replace(" ", r"[\W_]+") for p in _SUMMARY_PREFIXES) + ")",
    re.IGNORECASE,
)
_HEADER_CURRENCY_RE = re.compile(r"^(?P<name>.*?)\s*[(\[]\s*(?P<ccy>[A-Za-z]{3})\s*[)\]]\s*$")
_NON_DIGIT_RE = re.compile(r"[^0-9]")
_NUMERIC_DATE_RE = re.compile(r"^\s*(\d{1,2})([-/.])(\d{1,2})\2\d")


@dataclass(frozen=True)
class CsvOptions:
    """How to read one CSV file; the defaults auto-detect everything."""

    # field -> header name (case-insensitive) or 0-based column index as a string.
    column_map: Mapping[str, str] = field(default_factory=dict)
    date_order: Literal["auto", "dmy", "mdy"] = "auto"
    # Used, and reported as a warning, when auto-detection cannot decide.
    ambiguous_date_order: Literal["dmy", "mdy"] = "mdy"
    decimal_mark: Literal["auto", ".", ","] = "auto"
    amount_sign: Literal["negative_is_debit", "positive_is_debit"] = "negative_is_debit"
    default_currency: str = "USD"
    max_field_chars: int = 2000
    max_file_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        unknown = sorted(set(self.column_map) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) in column map: {unknown}; fields: {FIELDS}")
        if not is_currency_code(self.default_currency):
            raise ValueError(f"default currency {self.default_currency!r} is not a 3-letter code")
        if self.max_field_chars < 1 or self.max_file_bytes < 1:
            raise ValueError("max_field_chars and max_file_bytes must be positive")


@dataclass(frozen=True, slots=True)
class DelimiterGuess:
    """The delimiter that splits the sample most consistently, and how consistently."""

    delimiter: str
    width: int  # the most common number of fields per line
    share: float  # fraction of non-blank sample lines with exactly `width` fields


@dataclass(frozen=True, slots=True)
class _Record:
    """One CSV record: `cells` is None when the csv module could not read it."""

    line_no: int  # physical line where the record starts
    end_line: int  # physical line where it ends (quoted fields may span lines)
    cells: list[str] | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which column holds which field, and what the header row looked like."""

    columns: dict[str, int]
    width: int
    header: tuple[str, ...] | None  # None for headerless files
    header_line: int | None
    currency_hint: str | None  # from a header like "Amount (EUR)"


class _RowError(ValueError):
    """One row cannot be loaded; the message is the reject reason."""


def parse_csv(data: bytes, options: CsvOptions = CsvOptions()) -> ParseResult:
    """Parse a bank-statement CSV export.

    Returns:
        Rows, rejects (with 1-based physical line numbers), warnings, and `detected`: encoding,
        delimiter, header_line, mapping, decimal_mark, date_order, rows, rejected, skipped.

    Raises:
        NotAStatementError: empty, binary or oversized input, or no usable header row.
    """
    text, encoding = decode_text(data, options.max_file_bytes)
    lines = io.StringIO(text, newline="").readlines()
    delimiter = sniff_delimiter(lines).delimiter
    records = list(_read_records(lines, delimiter))
    layout, body_start = _locate_columns(records, options.column_map)
    body = records[body_start:]
    decimal_mark = _decide_decimal_mark(body, layout, options)
    date_order, date_how, date_warning = _decide_date_order(body, layout, options)

    result = ParseResult(
        detected={
            "encoding": encoding,
            "delimiter": delimiter,
            "header_line": str(layout.header_line) if layout.header_line else "none",
            "mapping": _describe_mapping(layout),
            "decimal_mark": decimal_mark,
            "date_order": f"{date_order} ({date_how})",
        }
    )
    if date_warning:
        result.warnings.append(date_warning)
    converter = _RowConverter(layout, options, decimal_mark, date_order)
    skipped = 0
    for record in body:
        if record.cells is not None and not any(c.strip() for c in record.cells):
            continue  # blank lines are layout, not data
        try:
            row = converter.convert(record)
        except _RowError as exc:
            result.rejects.append(Reject(record.line_no, str(exc), _excerpt(lines, record)))
            continue
        if row is None:
            skipped += 1
        else:
            result.rows.append(row)
    result.detected.update(
        rows=str(len(result.rows)), rejected=str(len(result.rejects)), skipped=str(skipped)
    )
    return result


# --- dialect ----------------------------------------------------------------------------------


def sniff_delimiter(lines: Sequence[str]) -> DelimiterGuess:
    """Pick the delimiter giving the most lines with the same field count (>= 2) in the sample.

    csv.Sniffer is not used: it often picks ',' in decimal-comma files ("-1.234,56").
    Ties go to the delimiter producing more fields.
    """
    sample = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    best = DelimiterGuess(",", 1, 0.0)
    for delimiter in _DELIMITERS:
        widths = Counter(len(r.cells) for r in _read_records(sample, delimiter) if r.cells)
        multi = [(count, width) for width, count in widths.items() if width >= 2]
        if not multi:
            continue
        count, width = max(multi)
        guess = DelimiterGuess(delimiter, width, count / len(sample))
        if (guess.share, guess.width) > (best.share, best.width):
            best = guess
    return best


def _read_records(lines: Sequence[str], delimiter: str) -> Iterator[_Record]:
    reader = csv.reader(lines, delimiter=delimiter)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(); skip the record
            yield _Record(start, reader.line_num, None, f"malformed CSV record: {exc}")
        else:
            yield _Record(start, reader.line_num, cells)
        start = reader.line_num + 1


# --- header and column mapping ----------------------------------------------------------------


def _normalize(header: str) -> str:
    return _NON_WORD_RE.sub(" ", header.casefold()).strip()


class _Alias(NamedTuple):
    """What a header cell names: a field, how strong the alias is (0 best), a currency."""

    field: str
    rank: int
    currency: str | None  # from "Amount (EUR)"


def _alias_field(header: str) -> _Alias | None:
    currency = None
    m = _HEADER_CURRENCY_RE.match(header.strip())
    if m:
        header, currency = m["name"], m["ccy"].upper()
    found = _FIELD_BY_ALIAS.get(_normalize(header))
    return _Alias(found[0], found[1], currency) if found else None


def count_header_aliases(cells: Sequence[str]) -> int:
    """How many cells of a row are known header names (a header row scores >= 2)."""
    return sum(1 for cell in cells if _alias_field(cell) is not None)


def _locate_columns(records: list[_Record], column_map: Mapping[str, str]) -> tuple[_Layout, int]:
    """Find the header row (skipping preamble lines) and map its columns to fields.

    Returns the layout and the index of the first body record.
    """
    best: _HeaderMatch | None = None
    for index, record in enumerate(records[:_HEADER_SEARCH_ROWS]):
        cells = record.cells
        if not cells or not any(c.strip() for c in cells):
            continue
        match = _map_columns(cells, column_map)
        # A header names at least one column; a row whose date cell is a date is data, even
        # if an index-based map makes it look complete.
        if match.complete and match.named and not _holds_a_date(cells, match.columns):
            layout = _Layout(match.columns, len(cells), tuple(cells), record.line_no, match.hint)
            return layout, index + 1
        if best is None or match.score > best.score:
            best = match

    headerless = _headerless_layout(records, column_map)
    if headerless is not None:
        return headerless, 0
    raise NotAStatementError(_no_header_message(best))


@dataclass(frozen=True, slots=True)
class _HeaderMatch:
    """How well one row works as the header row."""

    cells: Sequence[str]
    columns: dict[str, int]
    hint: str | None  # a currency named in an amount header, "Amount (EUR)"
    unmatched: list[str]  # column-map targets that are not in this row
    named: int  # cells recognised by alias or by a column-map header name

    @property
    def complete(self) -> bool:
        return not self.unmatched and not _missing_fields(self.columns)

    @property
    def score(self) -> int:
        return len(self.columns) - len(self.unmatched)


def _holds_a_date(cells: Sequence[str], columns: Mapping[str, int]) -> bool:
    """True when the cell mapped to the date field reads as a date in either order."""
    index = columns.get("date", columns.get("posted_date"))
    if index is None or index >= len(cells):
        return False
    for order in ("dmy", "mdy"):
        try:
            parse_datetime(cells[index], order)
        except DateError:
            continue
        return True
    return False


def _column_index(target: str) -> int | None:
    """The 0-based index a column-map value names, or None when it names a header."""
    target = target.strip()
    return int(target) if target.isascii() and target.isdigit() else None


def _map_columns(cells: Sequence[str], column_map: Mapping[str, str]) -> _HeaderMatch:
    """Map one candidate header row: column-map entries first, then the strongest alias."""
    columns: dict[str, int] = {}
    unmatched: list[str] = []
    named = 0
    first_by_name = {_normalize(cell): i for i, cell in reversed(list(enumerate(cells)))}
    for name, target in column_map.items():
        index = _column_index(target)
        if index is None:
            index = first_by_name.get(_normalize(target))
            named += index is not None
        if index is None or index >= len(cells):
            unmatched.append(target)
        else:
            columns[name] = index
    taken = set(columns.values())
    strongest: dict[str, tuple[int, int]] = {}  # field -> (alias rank, column)
    hint = None
    for index, cell in enumerate(cells):
        alias = _alias_field(cell)
        if alias is None or index in taken:
            continue
        named += 1
        current = strongest.get(alias.field)
        if alias.field not in columns and (current is None or alias.rank < current[0]):
            strongest[alias.field] = (alias.rank, index)
        if alias.currency and alias.field in _MONEY_FIELDS:
            hint = hint or alias.currency
    columns.update((name, index) for name, (_, index) in strongest.items())
    return _HeaderMatch(cells, _resolve_columns(columns, column_map), hint, unmatched, named)


def _resolve_columns(columns: dict[str, int], column_map: Mapping[str, str]) -> dict[str, int]:
    """Apply the precedence rules between fields that can stand in for each other."""
    columns = dict(columns)
    if "description" not in columns and "memo" in columns:
        columns["description"] = columns.pop("memo")
    explicit_split = "debit" in column_map or "credit" in column_map
    if "amount" in columns and not explicit_split:
        columns.pop("debit", None)
        columns.pop("credit", None)
    elif "debit" in columns or "credit" in columns:
        columns.pop("amount", None)
    return columns


def _missing_fields(columns: Mapping[str, int]) -> list[str]:
    missing = []
    if "date" not in columns and "posted_date" not in columns:
        missing.append("date")
    if not {"amount", "debit", "credit"} & columns.keys():
        missing.append("amount (or debit/credit)")
    if "description" not in columns:
        missing.append("description")
    return missing


def _headerless_layout(records: list[_Record], column_map: Mapping[str, str]) -> _Layout | None:
    """A layout from an index-only column map, for files without a header row."""
    indices = {name: _column_index(target) for name, target in column_map.items()}
    columns = {name: index for name, index in indices.items() if index is not None}
    if not columns or len(columns) < len(indices):
        return None
    columns = _resolve_columns(columns, column_map)
    if _missing_fields(columns):
        return None
    widths = Counter(len(r.cells) for r in records if r.cells)
    width = max(widths.most_common(1)[0][0] if widths else 0, max(columns.values()) + 1)
    return _Layout(columns, width, None, None, None)


def _no_header_message(best: _HeaderMatch | None) -> str:
    if best is None:
        return "no header row found: the file has no readable rows"
    seen = ", ".join(repr(c.strip()[:40]) for c in best.cells[:20])
    if best.unmatched:
        names = ", ".join(repr(t) for t in best.unmatched)
        return f"the column map names {names}, not a column of this file. Headers seen: {seen}"
    missing = _missing_fields(best.columns)
    example = missing[0].split()[0]
    return (
        f"no header row with the columns a statement needs: missing {', '.join(missing)}. "
        f"Headers seen: {seen}. If the columns are there under other names, map them, "
        f'e.g. --map {example}="<header>"'
    )


def _describe_mapping(layout: _Layout) -> str:
    def label(index: int) -> str:
        return layout.header[index].strip() if layout.header else f"column {index}"

    ordered = sorted(layout.columns.items(), key=lambda item: FIELDS.index(item[0]))
    return ", ".join(f"{name}={label(index)}" for name, index in ordered)


# --- per-file decisions -----------------------------------------------------------------------


def _column_values(body: list[_Record], layout: _Layout, names: Sequence[str]) -> list[str]:
    indices = [layout.columns[n] for n in names if n in layout.columns]
    return [r.cells[i] for r in body if r.cells for i in indices if i < len(r.cells) and r.cells[i]]


def _decide_decimal_mark(body: list[_Record], layout: _Layout, options: CsvOptions) -> DecimalMark:
    if options.decimal_mark != "auto":
        return options.decimal_mark
    return guess_decimal_mark(
        _column_values(body, layout, ("amount", "debit", "credit", "balance"))
    )


def _decide_date_order(
    body: list[_Record], layout: _Layout, options: CsvOptions
) -> tuple[DateOrder, str, str | None]:
    """The order for all-numeric dates, how it was chosen, and a warning when it was a guess."""
    if options.date_order != "auto":
        return options.date_order, "given", None
    samples = _column_values(body, layout, ("date", "posted_date"))
    detected = detect_date_order(samples)
    if detected:
        return detected, "detected", None
    example, separators = _ambiguous_date_example(samples)
    if example is None:  # ISO or month-name dates: the order does not matter
        return options.ambiguous_date_order, "not needed", None
    if separators == {"."}:  # 05.11.2024 is a European, day-first convention
        return "dmy", "dotted dates are day-first", None
    assumed = options.ambiguous_date_order
    other = "dmy" if assumed == "mdy" else "mdy"
    first = "month" if assumed == "mdy" else "day"
    warning = (
        f"could not tell whether dates such as {example!r} are day-first or month-first; "
        f"read them {first}-first ({assumed}). If wrong, re-run with --date-order {other}"
    )
    return assumed, "assumed", warning


def _ambiguous_date_example(samples: Sequence[str]) -> tuple[str | None, set[str]]:
    """A numeric date that reads two ways, and the separators all numeric dates use."""
    example, separators = None, set()
    for sample in samples:
        m = _NUMERIC_DATE_RE.match(sample)
        if m:
            separators.add(m[2])
            if example is None and m[1] != m[3]:
                example = sample.strip()
    return example, separators


# --- rows -------------------------------------------------------------------------------------


class _RowConverter:
    """Turns body records into RawTransactions with the per-file decisions baked in."""

    def __init__(
        self, layout: _Layout, options: CsvOptions, decimal_mark: DecimalMark, order: DateOrder
    ) -> None:
        cols = layout.columns
        self._layout = layout
        self._date = cols.get("date")
        self._posted = cols.get("posted_date")
        self._description = cols["description"]
        self._memo = cols.get("memo")
        self._amount = cols.get("amount")
        self._debit = cols.get("debit")
        self._credit = cols.get("credit")
        self._direction = cols.get("direction")
        self._currency = cols.get("currency")
        self._balance = cols.get("balance")
        self._mcc = cols.get("mcc")
        self._category = cols.get("category")
        self._account = cols.get("account_tail")
        self._reference = cols.get("reference")
        date_col = self._date if self._date is not None else self._posted
        self._amount_columns = [
            c for c in (self._amount, self._debit, self._credit) if c is not None
        ]
        # A shorter row is fine while it still reaches these columns (exporters drop trailing
        # empty cells); the split debit/credit layout only needs the first of the pair.
        self._min_width = max(date_col or 0, self._description, min(self._amount_columns)) + 1
        self._decimal_mark = decimal_mark
        # Most cells are plain "-1,234.56": read those without parse_amount's general machinery.
        self._group = "," if decimal_mark == "." else "."
        mark, group = re.escape(decimal_mark), re.escape(self._group)
        self._plain_amount = re.compile(
            rf"(-?)((?:\d{{1,3}}(?:{group}\d{{3}})+|\d{{1,18}})(?:{mark}\d+)?)"
        )
        self._order = order
        self._debit_sign = options.amount_sign == "negative_is_debit"
        self._default_currency = layout.currency_hint or options.default_currency.upper()
        self._max_chars = options.max_field_chars
        self._dates: dict[str, tuple[dt.datetime, bool] | None] = {}

    def convert(self, record: _Record) -> RawTransaction | None:
        """One transaction, or None for rows skipped on purpose (footer, repeated header).

        Raises:
            _RowError: the row is malformed; the message says why.
        """
        cells = record.cells
        if cells is None:
            raise _RowError(record.error)
        if self._is_not_a_transaction(cells):
            return None
        self._check_shape(record, cells)
        txn_date, posted_date, posted_at = self._read_dates(cells)
        description, memo = self._read_texts(cells)
        amount_minor, direction, currency = self._read_money(cells)
        return RawTransaction(
            line_no=record.line_no,
            source=Source.CSV,
            txn_date=txn_date,
            description=description,
            amount_minor=amount_minor,
            currency=currency,
            direction=direction,
            posted_date=posted_date,
            posted_at=posted_at,
            memo=memo,
            mcc=self._cell(cells, self._mcc) or None,
            balance_minor=self._read_balance(cells, currency),
            account_tail=self._read_account_tail(cells),
            source_ref=self._cell(cells, self._reference) or None,
            category=self._cell(cells, self._category) or None,
        )

    @staticmethod
    def _cell(cells: list[str], index: int | None) -> str:
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()

    def _is_not_a_transaction(self, cells: list[str]) -> bool:
        """A repeated header row, or a summary row ("Total", "Closing balance")."""
        header = self._layout.header
        if header is not None and len(cells) == len(header) and tuple(cells) == header:
            return True  # exports paginated with the header repeated on each page
        first = next((c for c in cells if c.strip()), "")
        labels = (first, self._cell(cells, self._description))
        if not any(_SUMMARY_RE.match(label) for label in labels):
            return False
        # "TOTAL WINE & MORE" with a date and an amount is a shop, not a summary.
        date_text = self._cell(cells, self._date if self._date is not None else self._posted)
        dated = bool(date_text) and self._parse_date(date_text) is not None
        return not (dated and any(self._cell(cells, i) for i in self._amount_columns))

    def _check_shape(self, record: _Record, cells: list[str]) -> None:
        longest = max(map(len, cells), default=0)
        spans = record.end_line > record.line_no
        hint = f" (record spans lines {record.line_no}-{record.end_line}: unbalanced quote?)"
        if longest > self._max_chars:
            raise _RowError(
                f"field too long ({longest} chars > {self._max_chars})" + (hint if spans else "")
            )
        width = self._layout.width
        too_wide = len(cells) > width and any(c.strip() for c in cells[width:])
        if too_wide or len(cells) < self._min_width:
            raise _RowError(
                f"wrong number of columns (expected {width}, got {len(cells)})"
                + (hint if spans else "")
            )

    def _parse_date(self, text: str) -> tuple[dt.datetime, bool] | None:
        # Statements repeat the same few dates thousands of times.
        if text not in self._dates:
            try:
                self._dates[text] = parse_datetime(text, self._order)
            except DateError:
                self._dates[text] = None
        return self._dates[text]

    def _read_dates(self, cells: list[str]) -> tuple[dt.date, dt.date | None, dt.datetime | None]:
        """Transaction date, posting date and, when either carries a time, the timestamp."""
        txn = posted = None
        if self._date is not None:
            text = self._cell(cells, self._date)
            if not text:
                raise _RowError("missing date")
            txn = self._parse_date(text)
            if txn is None:
                raise _RowError(f"bad date {text[:40]!r}")
        posted_text = self._cell(cells, self._posted)
        if posted_text:
            posted = self._parse_date(posted_text)
            if posted is None:
                raise _RowError(f"bad posted date {posted_text[:40]!r}")
        if txn is None:
            if posted is None:
                raise _RowError("missing date")
            txn = posted  # only a posting date: it is also the transaction date
        (txn_at, txn_timed), posted_date = txn, posted[0].date() if posted else None
        if txn_timed:
            return txn_at.date(), posted_date, txn_at
        return txn_at.date(), posted_date, posted[0] if posted and posted[1] else None

    def _read_texts(self, cells: list[str]) -> tuple[str, str | None]:
        description = self._cell(cells, self._description)
        memo = self._cell(cells, self._memo) or None
        if not description:
            if memo is None:
                raise _RowError("missing description")
            description, memo = memo, None
        return description, memo

    def _parse(self, text: str, label: str) -> ParsedAmount:
        plain = self._plain_amount.fullmatch(text)
        if plain:
            number = Decimal(plain[2].replace(self._group, "").replace(",", "."))
            return ParsedAmount(number, bool(plain[1]), None, None)
        try:
            return parse_amount(text, self._decimal_mark)
        except AmountError:
            raise _RowError(f"unparseable {label} {text[:40]!r}") from None

    def _read_money(self, cells: list[str]) -> tuple[int, Direction, str]:
        if self._amount is not None:
            text = self._cell(cells, self._amount)
            if not text:
                raise _RowError("no amount")
            parsed = self._parse(text, "amount")
            direction = self._signed_direction(parsed, self._cell(cells, self._direction))
        else:
            parsed, direction = self._split_amount(cells)
        currency = self._read_currency(cells, parsed)
        try:
            return to_minor(parsed.value, currency), direction, currency
        except ValueError as exc:
            raise _RowError(f"too many decimals: {exc}") from None

    def _signed_direction(self, parsed: ParsedAmount, direction_text: str) -> Direction:
        """Direction column beats a CR/DR marker, which beats the sign."""
        named = _DIRECTION_WORDS.get(direction_text.casefold().rstrip("."))
        if named is not None:
            return named
        if parsed.marker is not None:
            return Direction(parsed.marker)
        return Direction.DEBIT if parsed.negative == self._debit_sign else Direction.CREDIT

    def _split_amount(self, cells: list[str]) -> tuple[ParsedAmount, Direction]:
        """Separate debit and credit columns: the filled one decides the direction."""
        debit_text = self._cell(cells, self._debit)
        credit_text = self._cell(cells, self._credit)
        debit = self._parse(debit_text, "debit") if debit_text else None
        credit = self._parse(credit_text, "credit") if credit_text else None
        if debit is not None and credit is not None:
            if debit.value and credit.value:
                raise _RowError("both debit and credit given")
            if credit.value:
                return credit, Direction.CREDIT
            return debit, Direction.DEBIT
        if debit is not None:
            return debit, Direction.DEBIT
        if credit is not None:
            return credit, Direction.CREDIT
        raise _RowError("no amount")

    def _read_currency(self, cells: list[str], parsed: ParsedAmount) -> str:
        text = self._cell(cells, self._currency)
        if text:
            code = text.upper()
            if not is_currency_code(code):
                raise _RowError(f"bad currency {text[:20]!r}")
            return code
        return parsed.currency or self._default_currency

    def _read_balance(self, cells: list[str], currency: str) -> int | None:
        text = self._cell(cells, self._balance)
        if not text:
            return None
        parsed = self._parse(text, "balance")
        try:
            minor = to_minor(parsed.value, currency)
        except ValueError as exc:
            raise _RowError(f"too many decimals in balance: {exc}") from None
        return -minor if parsed.negative or parsed.marker == "debit" else minor

    def _read_account_tail(self, cells: list[str]) -> str | None:
        digits = _NON_DIGIT_RE.sub("", self._cell(cells, self._account))
        return digits[-4:] if len(digits) >= 4 else None


def _excerpt(lines: Sequence[str], record: _Record) -> str:
    raw = "".join(lines[record.line_no - 1 : record.end_line])
    return raw.rstrip("\r\n")[:_EXCERPT_CHARS]
