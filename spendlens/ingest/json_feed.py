"""Parse the JSON bank feed into RawTransactions.

Accepted shapes (UTF-8):

* a JSON array of transactions: `[{...}, {...}]`
* an object with a `transactions` array: `{"transactions": [{...}], ...}` (other keys ignored)
* JSON Lines: one transaction object per line (blank lines ignored)

Each transaction is an object validated by `FeedTransaction`; unknown keys are ignored and
strings are stripped. Example:

    {"id": "txn_8842", "account": "acct-00012345", "date": "2024-11-05T13:05:00Z",
     "amount": "-12.50", "currency": "usd", "description": "STARBUCKS STORE 1234",
     "merchant_name": "Starbucks", "mcc": 5814}

Amounts may be JSON numbers or strings; they are read exactly (never through float). An
invalid item is rejected on its own, numbered by its 1-based position in the array (or its
line number in JSON Lines); valid items still load. Only input that is not JSON in one of the
shapes above raises `NotAStatementError`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from spendlens.ingest.types import (
    Direction,
    NotAStatementError,
    ParseResult,
    RawTransaction,
    Reject,
    Source,
)
from spendlens.money import is_currency_code, to_minor

DEFAULT_MAX_FIELD_CHARS = 2000
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
_EXCERPT_CHARS = 200
_TEXT_FIELDS = ("description", "merchant_name", "memo", "category")


class FeedTransaction(BaseModel):
    """One transaction of the JSON bank feed.

    `amount` is signed: negative is money out (debit), zero or positive is money in (credit),
    unless `direction` is given, in which case it alone decides and the sign is ignored.
    Free-text fields (`description`, `merchant_name`, `memo`, `category`) are limited to the
    parser's `max_field_chars` (2000 by default). Times keep their local wall-clock value; a
    UTC offset is dropped, so the date is the one the bank printed.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=128, description="The bank's transaction id.")
    account: str = Field(
        min_length=1,
        max_length=128,
        description="Account reference; if it ends in 4 digits they become the account tail.",
    )
    date: dt.date | dt.datetime = Field(
        description="ISO 8601 date (2024-11-05) or date-time (2024-11-05T13:05:00Z)."
    )
    amount: Decimal = Field(
        allow_inf_nan=False,
        description="Signed amount in major units: -12.50 is 12.50 out, unless `direction`.",
    )
    currency: str = Field(description="ISO 4217 code, e.g. USD (case-insensitive).")
    description: str = Field(min_length=1, description="The statement text of the transaction.")
    merchant_name: str | None = Field(default=None, description="Clean merchant name, if known.")
    mcc: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}$",
        description="ISO 18245 merchant category code: 4 digits (a JSON integer is accepted).",
    )
    direction: Literal["debit", "credit"] | None = Field(
        default=None, description="debit = money out, credit = money in; overrides the sign."
    )
    memo: str | None = Field(default=None, description="Extra free text from the bank.")
    category: str | None = Field(default=None, description="The bank's own category label.")
    posted_date: dt.date | None = Field(
        default=None, description="ISO 8601 date the bank posted the transaction."
    )

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # Parsed here so a bad value yields one message, not one per member of the union.
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date string")  # no epoch numbers
        text = value.strip()
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 date or date-time, e.g. 2024-11-05 or 2024-11-05T13:05:00Z"
            ) from None

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.upper()
        if not is_currency_code(code):
            raise ValueError("must be a 3-letter ISO 4217 code")
        return code

    @field_validator("mcc", mode="before")
    @classmethod
    def _mcc_from_int(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9999:
            return f"{value:04d}"
        return value

    @field_validator(*_TEXT_FIELDS)
    @classmethod
    def _text_limits(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = (info.context or {}).get("max_field_chars", DEFAULT_MAX_FIELD_CHARS)
        if value is not None and len(value) > limit:
            raise ValueError(f"too long ({len(value)} chars > {limit})")
        return value or None  # optional fields: "" means absent (description has min_length)


class _ItemError(ValueError):
    """One item cannot be loaded; the message is the reject reason."""


@dataclass(frozen=True, slots=True)
class _BadLine:
    """A JSON Lines line that is not JSON; rejected on its own."""

    reason: str


def feed_json_schema() -> dict[str, Any]:
    """The JSON Schema of one feed transaction (for docs and for producers of the feed)."""
    return FeedTransaction.model_json_schema()


def parse_json_feed(
    data: bytes,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ParseResult:
    """Parse a JSON feed (array, {"transactions": [...]} or JSON Lines).

    Returns:
        Rows, rejects numbered by item (or line, for JSON Lines), and `detected`: shape
        ("list", "object" or "jsonl"), rows, rejected.

    Raises:
        NotAStatementError: oversized, empty, not UTF-8, not JSON, or JSON of another shape.
    """
    text = _decode(data, max_file_bytes)
    result = ParseResult()
    context = {"max_field_chars": max_field_chars}
    items, shape = _split_items(text)
    result.detected["shape"] = shape
    for number, item, line in items:
        try:
            if isinstance(item, _BadLine):
                raise _ItemError(item.reason)
            row = _to_raw(number, FeedTransaction.model_validate(item, context=context))
        except ValidationError as exc:
            result.rejects.append(Reject(number, _render_errors(exc), _excerpt(item, line)))
        except _ItemError as exc:
            result.rejects.append(Reject(number, str(exc), _excerpt(item, line)))
        else:
            result.rows.append(row)
    result.detected.update(rows=str(len(result.rows)), rejected=str(len(result.rejects)))
    return result


def _decode(data: bytes, max_file_bytes: int) -> str:
    if len(data) > max_file_bytes:
        raise NotAStatementError(
            f"the file is {len(data):,} bytes, over the {max_file_bytes:,}-byte limit"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotAStatementError("the JSON feed is not UTF-8 text") from None
    if not text.strip():
        raise NotAStatementError("the file is empty")
    return text


def _loads(text: str) -> Any:
    # Decimal keeps amounts exact; NaN/Infinity arrive as floats for the model to refuse.
    return json.loads(text, parse_float=Decimal, parse_constant=float)


def _split_items(text: str) -> tuple[Iterator[tuple[int, Any, str | None]], str]:
    """The items to validate as (number, value, JSON Lines line), and the shape found."""
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        if _looks_like_json_lines(text):
            return _json_lines(text), "jsonl"
        raise NotAStatementError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("transactions"), list):
        return _numbered(document["transactions"]), "object"
    if isinstance(document, list):
        return _numbered(document), "list"
    raise NotAStatementError(
        "the JSON is not a transaction feed: expected a list of transactions, an object "
        'with a "transactions" list, or JSON Lines'
    )


def _looks_like_json_lines(text: str) -> bool:
    """At least two lines and the first non-blank one is a JSON object by itself."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return isinstance(_loads(lines[0]), dict)
    except json.JSONDecodeError:
        return False


def _numbered(items: list[Any]) -> Iterator[tuple[int, Any, str | None]]:
    for number, item in enumerate(items, start=1):
        yield number, item, None


def _json_lines(text: str) -> Iterator[tuple[int, Any, str | None]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, _loads(line), line
        except json.JSONDecodeError as exc:
            yield number, _BadLine(f"not valid JSON: {exc.msg} at column {exc.colno}"), line


def _excerpt(item: Any, line: str | None) -> str:
    raw = line if line is not None else json.dumps(item, default=str, ensure_ascii=False)
    return raw[:_EXCERPT_CHARS]


def _render_errors(exc: ValidationError) -> str:
    """Pydantic errors as "field: message; field: message"."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "item"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _to_raw(number: int, txn: FeedTransaction) -> RawTransaction:
    """Convert a validated item.

    Raises:
        _ItemError: the amount has more decimals than its currency.
    """
    if txn.direction is not None:
        direction = Direction(txn.direction)
    else:
        direction = Direction.DEBIT if txn.amount < 0 else Direction.CREDIT
    try:
        amount_minor = to_minor(abs(txn.amount), txn.currency)
    except ValueError as exc:
        raise _ItemError(f"amount: {exc}") from None
    when = txn.date
    posted_at = when.replace(tzinfo=None) if isinstance(when, dt.datetime) else None
    tail = txn.account[-4:]
    return RawTransaction(
        line_no=number,
        source=Source.JSON,
        txn_date=posted_at.date() if posted_at else when,
        description=txn.description,
        amount_minor=amount_minor,
        currency=txn.currency,
        direction=direction,
        posted_date=txn.posted_date,
        posted_at=posted_at,
        memo=txn.memo,
        merchant_hint=txn.merchant_name,
        mcc=txn.mcc,
        account_ref=txn.account,
        account_tail=tail if len(tail) == 4 and tail.isascii() and tail.isdigit() else None,
        source_ref=txn.id,
        category=txn.category,
    )
