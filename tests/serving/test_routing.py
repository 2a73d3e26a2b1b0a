"""Routing: rule matches, model confidence bands and forced review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from serving.routing import Route, RoutingPolicy, route

POLICY = RoutingPolicy(
    auto_threshold=0.9,
    suggest_threshold=0.6,
    review_categories=frozenset({"Transfer.Wire"}),
    review_amount_over=Decimal("5000"),
)
SMALL = Decimal("-12.50")


def test_confident_prediction_is_applied_automatically() -> None:
    assert route(0.95, "Food.Coffee", SMALL, POLICY, False)[0] is Route.AUTO


def test_confidence_exactly_at_the_auto_threshold_is_automatic() -> None:
    assert route(0.9, "Food.Coffee", SMALL, POLICY, False)[0] is Route.AUTO


def test_middling_confidence_is_a_suggestion() -> None:
    where, reason = route(0.72, "Food.Coffee", SMALL, POLICY, False)
    assert where is Route.SUGGEST
    assert "0.72" in reason


def test_confidence_exactly_at_the_suggest_threshold_is_a_suggestion() -> None:
    assert route(0.6, "Food.Coffee", SMALL, POLICY, False)[0] is Route.SUGGEST


def test_low_confidence_prediction_goes_to_review() -> None:
    where, reason = route(0.3, "Food.Coffee", SMALL, POLICY, False)
    assert where is Route.REVIEW
    assert "below the suggest threshold" in reason


def test_confident_rule_match_wins_outright_even_with_low_confidence_number() -> None:
    where, reason = route(0.5, "Food.Coffee", SMALL, POLICY, True)
    assert where is Route.AUTO
    assert "rule" in reason


def test_amount_above_limit_requires_review_even_for_a_rule_match() -> None:
    where, reason = route(0.99, "Food.Coffee", Decimal("-5000.01"), POLICY, True)
    assert where is Route.REVIEW
    assert "above the review limit" in reason


def test_amount_at_the_limit_does_not_force_review() -> None:
    assert route(0.99, "Food.Coffee", Decimal("5000"), POLICY, False)[0] is Route.AUTO


def test_review_category_requires_review_even_when_confident() -> None:
    where, reason = route(0.99, "Transfer.Wire", SMALL, POLICY, True)
    assert where is Route.REVIEW
    assert "Transfer.Wire" in reason


def test_no_category_goes_to_review() -> None:
    assert route(0.0, None, SMALL, POLICY, False)[0] is Route.REVIEW


def test_default_policy_has_no_forced_review() -> None:
    assert route(0.95, "Anything", Decimal("1000000"), RoutingPolicy(), False)[0] is Route.AUTO


@pytest.mark.parametrize(("auto", "suggest"), [(0.5, 0.6), (1.1, 0.6), (0.9, -0.1)])
def test_inconsistent_thresholds_are_refused(auto: float, suggest: float) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        RoutingPolicy(auto_threshold=auto, suggest_threshold=suggest)
