"""Where a categorization decision goes: applied automatically, suggested, or sent to review.

Pure functions only (no I/O): the service and the batch paths share one policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Route(StrEnum):
    """What happens to a decision."""

    AUTO = "auto"  # applied without asking anyone
    SUGGEST = "suggest"  # applied as a suggestion the user confirms
    REVIEW = "review"  # a person decides


class Source(StrEnum):
    """What decided the category."""

    RULE = "rule"
    MODEL = "model"
    FALLBACK = "fallback"  # neither a rule nor a model: no category, always reviewed


@dataclass(frozen=True)
class RoutingPolicy:
    """Confidence thresholds plus the categories and amounts a person must always see.

    `review_amount_over` compares with the absolute amount (money in or out alike).
    """

    auto_threshold: float = 0.9
    suggest_threshold: float = 0.6
    review_categories: frozenset[str] = frozenset()
    review_amount_over: Decimal | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.suggest_threshold <= self.auto_threshold <= 1.0:
            raise ValueError(
                "thresholds must satisfy 0 <= suggest_threshold <= auto_threshold <= 1, got "
                f"suggest={self.suggest_threshold}, auto={self.auto_threshold}"
            )
        if self.review_amount_over is not None and self.review_amount_over < 0:
            raise ValueError(f"review_amount_over must be >= 0, got {self.review_amount_over}")


def route(
    confidence: float,
    category: str | None,
    amount: Decimal,
    policy: RoutingPolicy,
    rule_match_confident: bool,
) -> tuple[Route, str]:
    """The route of one decision and the reason, in words a reviewer can read.

    Args:
        confidence: of the category (a rule's own confidence or the model's probability).
        category: None or "" when nothing decided (fallback): always review.
        amount: signed or not; the limit applies to its absolute value.
        rule_match_confident: a rule matched at or above its own confidence, so it wins
            outright regardless of the model thresholds.
    """
    if not category:
        return Route.REVIEW, "no rule matched and no model prediction is available"
    if category in policy.review_categories:
        return Route.REVIEW, f"category {category!r} always requires review"
    limit = policy.review_amount_over
    if limit is not None and abs(amount) > limit:
        return Route.REVIEW, f"amount {abs(amount)} is above the review limit {limit}"
    if rule_match_confident:
        return Route.AUTO, "a rule matched"
    if confidence >= policy.auto_threshold:
        return Route.AUTO, (
            f"confidence {confidence:.2f} is at or above the auto threshold "
            f"{policy.auto_threshold:.2f}"
        )
    if confidence >= policy.suggest_threshold:
        return Route.SUGGEST, (
            f"confidence {confidence:.2f} is between the suggest threshold "
            f"{policy.suggest_threshold:.2f} and the auto threshold {policy.auto_threshold:.2f}"
        )
    return Route.REVIEW, (
        f"confidence {confidence:.2f} is below the suggest threshold {policy.suggest_threshold:.2f}"
    )


_POLICY_FIELDS = frozenset(
    {"auto_threshold", "suggest_threshold", "review_categories", "review_amount_over"}
)


def policy_of(
    defaults: RoutingPolicy, overrides: Mapping[str, Mapping[str, Any]], tenant: str
) -> RoutingPolicy:
    """The tenant's policy: `defaults` with the tenant's entry of `overrides` applied.

    Raises:
        ValueError: an override names an unknown field or breaks the threshold order.
    """
    override = dict(overrides.get(tenant, {}))
    unknown = sorted(set(override) - _POLICY_FIELDS)
    if unknown:
        raise ValueError(
            f"routing override of tenant {tenant!r} has unknown field(s) {unknown}; "
            f"known: {sorted(_POLICY_FIELDS)}"
        )
    if "review_categories" in override:
        override["review_categories"] = frozenset(override["review_categories"])
    if override.get("review_amount_over") is not None:
        override["review_amount_over"] = Decimal(str(override["review_amount_over"]))
    return replace(defaults, **override)
