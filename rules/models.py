"""Typed rules: what a rule says, validated when it is created or imported, never at match time.

A rule assigns a category when its conditions hold, combined with `all` or `any`. Every
condition kind is a pydantic model with a literal `kind`, so a YAML file or an API body is
parsed into exactly one of them, and an invalid rule (bad regex, empty or inverted condition) is
refused with a message that names the rule and the field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TextField = Literal["description", "merchant", "memo"]
TextOp = Literal["contains", "equals", "starts_with", "ends_with", "regex", "fuzzy"]


def compile_regex(pattern: str, case_sensitive: bool = False) -> re2._Regexp:
    """Compile a user regex with RE2 (linear time: no pattern can hang the service).

    Raises:
        re2.error: the pattern is invalid (RE2 does not log it: it may hold user text).
    """
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    return re2.compile(pattern, options)


class CreatedBy(StrEnum):
    """Who made a rule: a person, the governed learner, or an import (starter set, YAML file)."""

    USER = "user"
    LEARNED = "learned"
    IMPORT = "import"


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextCondition(_Condition):
    """Text on description, merchant or memo; case-insensitive unless `case_sensitive`."""

    kind: Literal["text"] = "text"
    field: TextField = "description"
    op: TextOp
    value: str = Field(min_length=1, max_length=500)
    case_sensitive: bool = False
    threshold: float = Field(default=90.0, ge=0, le=100, description="fuzzy: min similarity")

    @field_validator("value")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text value is blank")
        return value

    @model_validator(mode="after")
    def _regex_compiles(self) -> TextCondition:
        if self.op == "regex":  # refused here, at creation or import, never at match time
            try:
                compile_regex(self.value, self.case_sensitive)
            except re2.error as exc:
                raw = exc.args[0] if exc.args else ""
                # RE2 reports errors as bytes; show them as text.
                reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
                raise ValueError(f"invalid regex {self.value!r}: {reason}") from exc
        return self


class AmountCondition(_Condition):
    """The absolute amount in major units (12.50), compared in the transaction's currency."""

    kind: Literal["amount"] = "amount"
    op: Literal["gt", "lt", "equals", "between"]
    value: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None

    @model_validator(mode="after")
    def _shape(self) -> AmountCondition:
        if self.op == "between":
            if self.low is None or self.high is None:
                raise ValueError("amount between needs low and high")
            if self.low > self.high:
                raise ValueError(f"amount range is inverted: low {self.low} > high {self.high}")
        elif self.value is None:
            raise ValueError(f"amount {self.op} needs a value")
        return self


class DirectionCondition(_Condition):
    """Money out (debit) or in (credit)."""

    kind: Literal["direction"] = "direction"
    value: Literal["debit", "credit"]


class CurrencyCondition(_Condition):
    """The transaction's currency is one of these ISO codes."""

    kind: Literal["currency"] = "currency"
    values: tuple[str, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _codes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(v.strip().upper() for v in values)
        bad = [v for v in upper if len(v) != 3 or not v.isalpha()]
        if bad:
            raise ValueError(f"not currency codes: {bad}")
        return upper


class DateCondition(_Condition):
    """Day of week (0 = Monday), day of month (1-31) or month (1-12) is one of `values`."""

    kind: Literal["date"] = "date"
    part: Literal["day_of_week", "day_of_month", "month"]
    values: tuple[int, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> DateCondition:
        low, high = {"day_of_week": (0, 6), "day_of_month": (1, 31), "month": (1, 12)}[self.part]
        bad = [v for v in self.values if not low <= v <= high]
        if bad:
            raise ValueError(f"{self.part} values must be {low}..{high}, got {bad}")
        return self


class MccCondition(_Condition):
    """The MCC equals one code, is in a set, or lies in an inclusive range."""

    kind: Literal["mcc"] = "mcc"
    op: Literal["equals", "in", "range"]
    values: tuple[str, ...] = ()
    low: str | None = None
    high: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> MccCondition:
        codes = [*self.values, *(c for c in (self.low, self.high) if c is not None)]
        bad = [c for c in codes if len(c) != 4 or not c.isdigit()]
        if bad:
            raise ValueError(f"MCCs are 4 digits, got {bad}")
        if self.op == "range":
            if self.low is None or self.high is None:
                raise ValueError("mcc range needs low and high")
            if self.low > self.high:
                raise ValueError(f"mcc range is inverted: {self.low} > {self.high}")
        elif self.op == "equals" and len(self.values) != 1:
            raise ValueError("mcc equals needs exactly one value")
        elif self.op == "in" and not self.values:
            raise ValueError("mcc in needs at least one value")
        return self


class AccountCondition(_Condition):
    """The account's name or last four digits is one of `values`."""

    kind: Literal["account"] = "account"
    values: tuple[str, ...] = Field(min_length=1)


Condition = Annotated[
    TextCondition
    | AmountCondition
    | DirectionCondition
    | CurrencyCondition
    | DateCondition
    | MccCondition
    | AccountCondition,
    Field(discriminator="kind"),
]


class Rule(BaseModel):
    """One categorization rule of a tenant (or global when `tenant` is None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    tenant: str | None = None
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=128)
    priority: int = Field(default=100, ge=0, le=1_000_000)
    confidence: float = Field(default=0.95, ge=0, le=1)
    enabled: bool = True
    created_by: CreatedBy = CreatedBy.USER
    group: str | None = Field(default=None, description="e.g. 'starter': switch a set off at once")
    match: Literal["all", "any"] = "all"
    conditions: tuple[Condition, ...] = Field(min_length=1)
    note: str | None = Field(default=None, description="why it exists, e.g. learned from c1, c2")
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class RuleValidationError(ValueError):
    """A rule that cannot be accepted; the message names the rule and the problem."""


def check_categories(rules: list[Rule], labels: set[str]) -> None:
    """Refuse rules whose category is not a label of the tenant's taxonomy.

    Raises:
        RuleValidationError: listing every offending rule.
    """
    unknown = [
        f"{r.id} ({r.name}): unknown category {r.category!r}"
        for r in rules
        if r.category not in labels
    ]
    if unknown:
        raise RuleValidationError("; ".join(unknown))
