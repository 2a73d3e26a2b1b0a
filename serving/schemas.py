"""The HTTP request and response bodies of the categorization service (pydantic v2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.routing import Route, Source
from spendlens.money import to_minor

MAX_BATCH = 10_000  # transactions per batch request; more is HTTP 413
TOP_K = 3  # alternatives per decision


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


class Explanation(BaseModel):
    """Why the decision came out as it did."""

    reason: str  # the routing reason, e.g. "confidence 0.72 is between ..."
    rule_id: str | None = None
    rule_name: str | None = None
    conditions: list[str] = Field(default_factory=list)  # the rule conditions that held
    merchant: str | None = None  # the normalized merchant the model saw
    merchant_id: str | None = None
    mcc_description: str | None = None


class CategorizeResponse(BaseModel):
    """One decision."""

    decision_id: str  # uuid4 hex
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
