"""The decision cascade shared by online serving and backfills (pure, no I/O).

A winning rule decides; otherwise the model's best category; otherwise nothing (fallback, always
reviewed). Routing then says whether the decision is applied, suggested or reviewed. The online
`Categorizer` and `serving.backfill` both call `cascade`, so a stored transaction gets the
decision the service would give it for the same rule evaluation and model probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rules.engine import RuleMatch
from serving.routing import Route, RoutingPolicy, Source, route


@dataclass(frozen=True, slots=True)
class CascadeDecision:
    """What decided one transaction: the category, its confidence, route and source.

    `rule` is set when a rule decided; model name and version are the caller's to attach.
    """

    category: str | None
    confidence: float
    route: Route
    reason: str
    source: Source
    rule: RuleMatch | None = None


def cascade(
    winner: RuleMatch | None,
    model_best: tuple[str, float] | None,
    amount: Decimal,
    policy: RoutingPolicy,
) -> CascadeDecision:
    """Rule winner -> model top-1 -> fallback, then routing.

    Args:
        winner: the rule evaluation's winner, if any rule matched.
        model_best: the model's top category and its (rounded) probability; None without a
            model or prediction.
        amount: the transaction amount, signed or not (routing uses its absolute value).
        policy: the routing thresholds and review lists.
    """
    if winner is not None:
        confident = winner.confidence >= policy.auto_threshold
        where, reason = route(winner.confidence, winner.category, amount, policy, confident)
        return CascadeDecision(
            winner.category, winner.confidence, where, reason, Source.RULE, winner
        )
    if model_best is not None:
        category, confidence = model_best
        where, reason = route(confidence, category, amount, policy, False)
        return CascadeDecision(category, confidence, where, reason, Source.MODEL)
    _, reason = route(0.0, None, amount, policy, False)
    return CascadeDecision(None, 0.0, Route.REVIEW, reason, Source.FALLBACK)
