"""Typed records that flow from the parsers into normalization and storage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    """Which way money moved, seen from the account holder."""

    DEBIT = "debit"  # money out
    CREDIT = "credit"  # money in


class Source(StrEnum):
    """Where a transaction came from."""

    CSV = "csv"
    JSON = "json"
    SMS = "sms"


class NotAStatementError(ValueError):
    """The whole input is unusable (binary, empty, no recognisable columns); one clear message."""


@dataclass(frozen=True, slots=True)
class RawTransaction:
    """One parsed but not yet normalized transaction. Text fields may still contain PII.

    `amount_minor` is the absolute amount in the currency's minor units (cents); the sign lives
    in `direction`. `line_no` is the 1-based line (CSV), item (JSON) or message (SMS) number.
    """

    line_no: int
    source: Source
    txn_date: dt.date
    description: str
    amount_minor: int
    currency: str
    direction: Direction
    posted_date: dt.date | None = None
    posted_at: dt.datetime | None = None
    memo: str | None = None
    merchant_hint: str | None = None
    mcc: str | None = None
    balance_minor: int | None = None
    account_ref: str | None = None
    account_tail: str | None = None
    source_ref: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that could not be loaded: where and why. `excerpt` is raw; the loader masks it."""

    line_no: int
    reason: str
    excerpt: str = ""


@dataclass(slots=True)
class ParseResult:
    """What a parser produced: good rows, rejected rows and what it detected about the input."""

    rows: list[RawTransaction] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    detected: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
