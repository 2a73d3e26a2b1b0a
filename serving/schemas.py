"""The HTTP request and response bodies of the categorization service (pydantic v2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.routing import Route, Source
from spendlens.money import to_minor

MAX_BATCH = 10_000  # transactions per batch request; more is HTTP 413
TOP_K = 3  # alternatives per decision
# Requests of up to this many transactions get word weights (each explained row costs a scoring
# call's worth of occluded copies); larger ones get merchant evidence only.
EXPLAIN_MAX_ROWS = 16


class CategorizeRequest(BaseModel):
    """One transaction to categorize.

    `amount` is signed: negative is money out (debit), positive money in (credit), unless
    `direction` says which way it went (then the sign is ignored).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, max_length=2000)
    amount: Decimal = Field(allow_inf_nan=False, max_digits=18, decimal_places=6)
    direction: Literal["debit", "credit"] | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    date: dt.date
    mcc: str | None = Field(default=None, pattern=r"^\d{4}$")
    account: str | None = Field(default=None, min_length=1, max_length=128)
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    # The stored transaction this request is about, if any: feedback then labels it.
    transaction_id: str | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _amount_fits_currency(self) -> CategorizeRequest:
        to_minor(self.amount, self.currency)  # ValueError: more decimals than the currency has
        return self

    @property
    def amount_minor(self) -> int:
        """The absolute amount in the currency's minor units."""
        return abs(to_minor(self.amount, self.currency))

    @property
    def resolved_direction(self) -> Literal["debit", "credit"]:
        """Which way the money moved: `direction`, else the amount's sign."""
        if self.direction is not None:
            return self.direction
        return "debit" if self.amount < 0 else "credit"


class Alternative(BaseModel):
    """A category the model also considered, with its probability."""

    category: str
    confidence: float = Field(ge=0, le=1)


class WordWeight(BaseModel):
    """A word of the description and how much the chosen category's probability drops
    without it."""

    word: str
    weight: float


class Explanation(BaseModel):
    """Why the decision came out as it did."""

    reason: str  # the routing reason, e.g. "confidence 0.72 is between ..."
    rule_id: str | None = None
    rule_name: str | None = None
    conditions: list[str] = Field(default_factory=list)  # the rule conditions that held
    merchant: str | None = None  # the normalized merchant the model saw
    merchant_id: str | None = None
    mcc_description: str | None = None
    # Model decisions: the words that carried the category (requests of up to 16 rows) and what
    # the model knew of the merchant (transactions seen, confirmed labels, ...).
    words: list[WordWeight] = Field(default_factory=list)
    merchant_evidence: dict[str, Any] = Field(default_factory=dict)


class CategorizeResponse(BaseModel):
    """One decision."""

    decision_id: str  # UUIDv7 hex: time-ordered (serving.decisions.new_decision_id)
    primary_category: str | None  # the taxonomy's top-level parent of `category`
    category: str | None  # the detailed category; None when nothing decided
    confidence: float = Field(ge=0, le=1)
    route: Route
    source: Source
    rule_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    alternatives: list[Alternative] = Field(default_factory=list, max_length=TOP_K)
    explanation: Explanation


class BatchRequest(BaseModel):
    """Up to MAX_BATCH transactions; the service answers 413 for more, before validating them."""

    model_config = ConfigDict(extra="forbid")

    transactions: list[CategorizeRequest] = Field(max_length=MAX_BATCH)


class BatchResponse(BaseModel):
    """One decision per transaction, in request order."""

    count: int
    results: list[CategorizeResponse]


class FeedbackRequest(BaseModel):
    """A correction of a decision the service returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_id: str = Field(min_length=1, max_length=32)
    category: str = Field(min_length=1, max_length=128)
    by: str | None = Field(default=None, min_length=1, max_length=128)


class LearnedDecision(BaseModel):
    """What governed learning decided for a merchant after the feedback."""

    action: str
    merchant_id: str
    rule_id: str | None = None
    ambiguous: bool = False
    reason: str = ""


class FeedbackResponse(BaseModel):
    """The correction is stored; `learned` lists what governed learning then decided."""

    stored: bool
    stored_on: Literal["transaction", "decision"]
    learned: list[LearnedDecision] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The JSON of every 4xx answer of the service."""

    error: str
    detail: list[dict[str, object]] = Field(default_factory=list)


# --- review queue, transactions and reports ---------------------------------------------------

MAX_PAGE = 1_000  # transactions per listing page
MAX_REVIEW_PAGE = 500  # decisions per review-queue page


class ReviewQueueQuery(BaseModel):
    """Query parameters of GET /review/queue."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_REVIEW_PAGE)


class ReviewItem(BaseModel):
    """A decision waiting for a reviewer; the description is PII-masked."""

    decision_id: str
    created_at: dt.datetime
    description: str
    merchant: str | None = None
    merchant_id: str | None = None
    amount: str | None = None  # signed decimal, negative for a debit
    amount_minor: int | None = None  # absolute, in the currency's minor units
    currency: str | None = None
    direction: Literal["debit", "credit"] | None = None
    date: dt.date | None = None
    category: str | None  # the suggestion; None when nothing was suggested
    primary_category: str | None = None
    confidence: float = Field(ge=0, le=1)
    reason: str
    source: Source
    transaction_id: str | None = None
    alternatives: list[Alternative] = Field(default_factory=list)


class ReviewQueueResponse(BaseModel):
    """The oldest unresolved review decisions; `open` counts all of them."""

    open: int
    count: int
    items: list[ReviewItem]


class ResolveRequest(BaseModel):
    """A reviewer's answer: no `category` accepts the suggestion, a category overrides it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str | None = Field(default=None, min_length=1, max_length=128)
    by: str | None = Field(default=None, min_length=1, max_length=128)


class ResolveResponse(BaseModel):
    """The decision is resolved; the answer is stored as feedback and learning ran."""

    decision_id: str
    category: str
    accepted: bool  # the suggestion was taken
    resolved_by: str
    stored_on: Literal["transaction", "decision"]
    learned: list[LearnedDecision] = Field(default_factory=list)


class IngestQuery(BaseModel):
    """Query parameters (or multipart form fields) of POST /transactions/ingest."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "csv", "json", "sms"] = "auto"
    account: str | None = Field(default=None, min_length=1, max_length=128)
    filename: str | None = Field(default=None, min_length=1, max_length=255)


class IngestReject(BaseModel):
    """A row that was not loaded: its line (CSV) or item (JSON) number and why."""

    line: int
    reason: str
    excerpt: str = ""  # PII-masked


class IngestResponse(BaseModel):
    """What an upload did: loader counts, rejects, and how its stored rows were categorized."""

    batch_id: str
    filename: str
    source: Literal["csv", "json", "sms"] | None
    rows_total: int
    loaded: int
    duplicates: int
    linked: int
    rejected: int
    categorized: int
    review: int  # of the categorized rows, how many were routed to review
    uncategorized: int
    rejects: list[IngestReject] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ExportQuery(BaseModel):
    """Query parameters of GET /transactions/export.csv: the listing's filters, no paging."""

    model_config = ConfigDict(extra="forbid")

    date_from: dt.date | None = None
    date_until: dt.date | None = None
    category: str | None = Field(default=None, min_length=1, max_length=128)
    search: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExportQuery:
        if self.date_from and self.date_until and self.date_from > self.date_until:
            raise ValueError("date_from must not be after date_until")
        return self


class TransactionQuery(ExportQuery):
    """Query parameters of GET /transactions: the filters plus a page size and cursor."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)


class TransactionOut(BaseModel):
    """A stored transaction and the category shown for it."""

    id: str
    date: dt.date
    description: str  # PII-masked
    merchant: str
    merchant_id: str
    amount: str  # signed decimal, negative for a debit
    amount_minor: int  # absolute
    currency: str
    direction: Literal["debit", "credit"]
    mcc: str | None = None
    account_id: str
    category: str | None
    # "label": a person's (or an import's) label; else the machine category's source.
    category_source: Literal["label", "rule", "model", "fallback"] | None
    confidence: float | None = None


class TransactionList(BaseModel):
    """One page, newest first; pass `next_cursor` as `cursor` for the next (None: last page)."""

    total: int
    count: int
    next_cursor: str | None
    items: list[TransactionOut]


class SpendQuery(BaseModel):
    """Query parameters of GET /reports/spend (inclusive dates; both optional)."""

    model_config = ConfigDict(extra="forbid")

    date_from: dt.date | None = None
    date_until: dt.date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> SpendQuery:
        if self.date_from and self.date_until and self.date_from > self.date_until:
            raise ValueError("date_from must not be after date_until")
        return self


class SpendLine(BaseModel):
    """Debits of one month, category and currency (`category` None: uncategorized)."""

    month: str
    category: str | None
    currency: str
    total_minor: int
    total: str  # decimal
    count: int


class CreditLine(BaseModel):
    """Credits (refunds, income) of one month and currency."""

    month: str
    currency: str
    total_minor: int
    total: str
    count: int


class SpendReportResponse(BaseModel):
    """Spending by month and category; credits are listed apart, never netted."""

    date_from: dt.date | None
    date_until: dt.date | None
    credits_handling: str
    lines: list[SpendLine]
    credits: list[CreditLine]
