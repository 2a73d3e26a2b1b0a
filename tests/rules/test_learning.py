"""Governed learning from corrections: when a rule is learned, kept, updated or disabled."""

from __future__ import annotations

import datetime as dt

import pytest

from rules.learning import Correction, LearningDecision, decide, decide_all, learned_rule_id
from rules.models import CreatedBy, DirectionCondition, Rule, TextCondition

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=3)
GROCERIES = "FOOD_AND_DRINK_GROCERIES"
ELECTRONICS = "GENERAL_MERCHANDISE_ELECTRONICS"


def fix(
    cid: str,
    category: str = GROCERIES,
    *,
    tenant: str = "A",
    merchant: str = "m1",
    name: str = "CORNER SHOP",
) -> Correction:
    """A correction made the day before NOW; a higher number in the id is a later minute."""
    minute = int("".join(ch for ch in cid if ch.isdigit()) or 0)
    at = NOW - dt.timedelta(days=1) + dt.timedelta(minutes=minute)
    return Correction(cid, tenant, merchant, name, category, at, "user@example.com")


def learned(corrections: list[Correction], now: dt.datetime = NOW) -> Rule:
    """The rule a first decision over `corrections` creates."""
    result = decide(corrections, None, now=now)
    assert result.action == "create"
    assert result.rule is not None
    return result.rule


def test_agreeing_corrections_create_a_learned_merchant_rule() -> None:
    result = decide([fix("c2"), fix("c1")], None, now=NOW)

    assert result.action == "create"
    assert not result.ambiguous
    assert result.reason == "learned from corrections c1, c2"
    rule = result.rule
    assert rule is not None
    assert rule.id == learned_rule_id("A", "m1")
    assert rule.tenant == "A"
    assert rule.category == GROCERIES
    assert rule.created_by is CreatedBy.LEARNED
    assert rule.conditions == (TextCondition(field="merchant", op="equals", value="CORNER SHOP"),)
    assert rule.priority == 10_000
    assert rule.confidence == 0.98
    assert rule.enabled
    assert rule.note == "learned from corrections c1, c2"
    assert rule.created_at == rule.updated_at == NOW


@pytest.mark.parametrize(
    ("corrections", "min_agreeing", "reason"),
    [
        ([fix("c1")], 2, "1 of 2 agreeing corrections needed (c1)"),
        ([fix("c1"), fix("c2")], 3, "2 of 3 agreeing corrections needed (c1, c2)"),
        # The same correction delivered twice is one piece of evidence, not two.
        ([fix("c1"), fix("c1")], 2, "1 of 2 agreeing corrections needed (c1)"),
    ],
    ids=["one-of-two", "two-of-three", "duplicate-id"],
)
def test_too_few_agreeing_corrections_learn_nothing(
    corrections: list[Correction], min_agreeing: int, reason: str
) -> None:
    result = decide(corrections, None, min_agreeing=min_agreeing, now=NOW)

    assert result == LearningDecision("none", "m1", None, False, reason, "A")


def test_disagreeing_corrections_are_ambiguous_and_learn_nothing() -> None:
    result = decide([fix("c1"), fix("c2", ELECTRONICS), fix("c3")], None, now=NOW)

    assert result.action == "none"
    assert result.rule is None
    assert result.ambiguous
    assert result.reason == (f"corrections disagree: {GROCERIES} (c1, c3), {ELECTRONICS} (c2)")


def test_a_contradiction_disables_the_existing_learned_rule_and_records_why() -> None:
    rule = learned([fix("c1"), fix("c2")])

    result = decide([fix("c1"), fix("c2"), fix("c3", ELECTRONICS)], rule, now=LATER)

    assert result.action == "disable"
    assert result.ambiguous
    assert result.rule is not None
    assert result.rule.id == rule.id
    assert not result.rule.enabled
    assert result.rule.category == GROCERIES
    assert result.rule.note == (
        f"disabled: corrections disagree: {GROCERIES} (c1, c2), {ELECTRONICS} (c3)"
    )
    assert result.rule.created_at == NOW
    assert result.rule.updated_at == LATER


def test_ambiguity_is_sticky_later_agreeing_evidence_learns_nothing() -> None:
    """Policy: once corrections disagree, only a person's rule decides the merchant."""
    history = [fix("c1"), fix("c2", ELECTRONICS)] + [fix(f"c{i}") for i in range(3, 10)]
    rule = learned([fix("c1"), fix("c3")])
    disabled = rule.model_copy(update={"enabled": False})

    fresh = decide(history, None, now=LATER)
    after_disable = decide(history, disabled, now=LATER)

    assert (fresh.action, fresh.ambiguous, fresh.rule) == ("none", True, None)
    assert (after_disable.action, after_disable.ambiguous, after_disable.rule) == (
        "none",
        True,
        None,
    )


def test_an_agreeing_rule_with_the_same_evidence_needs_no_change() -> None:
    rule = learned([fix("c1"), fix("c2")])

    result = decide([fix("c1"), fix("c2")], rule, now=LATER)

    assert result.action == "none"
    assert result.rule is None
    assert result.reason == "rule already agrees: learned from corrections c1, c2"


def test_new_agreeing_evidence_updates_the_note_and_keeps_created_at() -> None:
    rule = learned([fix("c1"), fix("c2")])

    result = decide([fix("c1"), fix("c2"), fix("c3")], rule, now=LATER)

    assert result.action == "update"
    assert result.rule is not None
    assert result.rule.note == "learned from corrections c1, c2, c3"
    assert result.rule.id == rule.id
    assert (result.rule.created_at, result.rule.updated_at) == (NOW, LATER)


def test_a_rule_disabled_earlier_is_re_enabled_when_the_evidence_agrees_again() -> None:
    """E.g. the contradicting correction was deleted: the remaining ones are unanimous."""
    rule = learned([fix("c1"), fix("c2")]).model_copy(update={"enabled": False})

    result = decide([fix("c1"), fix("c2")], rule, now=LATER)

    assert result.action == "update"
    assert result.rule is not None
    assert result.rule.enabled


def test_a_rule_whose_evidence_now_points_elsewhere_is_disabled() -> None:
    rule = learned([fix("c1"), fix("c2")])

    result = decide([fix("c3", ELECTRONICS)], rule, now=LATER)

    assert result.action == "disable"
    assert result.rule is not None
    assert not result.rule.enabled
    assert result.reason == (
        f"rule says {GROCERIES} but 1 of 2 agreeing corrections needed (c3) say {ELECTRONICS}"
    )


def test_the_latest_merchant_name_is_matched() -> None:
    rule = learned([fix("c1", name="CORNER SHP"), fix("c2", name="CORNER SHOP LTD")])

    assert rule.conditions == (
        TextCondition(field="merchant", op="equals", value="CORNER SHOP LTD"),
    )


def test_rule_ids_are_stable_across_calls_and_distinct_per_tenant_and_merchant() -> None:
    ids = {
        learned_rule_id("A", "m1"),
        learned_rule_id("B", "m1"),
        learned_rule_id("A", "m2"),
        learned_rule_id("Am", "1"),  # concatenation must not collide with ("A", "m1")
    }

    assert len(ids) == 4
    assert learned([fix("c1"), fix("c2")]).id == learned([fix("c5"), fix("c7")], LATER).id


def test_long_evidence_lists_are_capped_in_the_note() -> None:
    rule = learned([fix(f"c{i}") for i in range(1, 14)])

    assert (
        rule.note == "learned from corrections c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 and 3 more"
    )


@pytest.mark.parametrize(
    ("corrections", "existing", "message"),
    [
        ([], None, "at least one correction"),
        ([fix("c1"), fix("c2", tenant="B")], None, "one tenant and one merchant"),
        ([fix("c1"), fix("c2", merchant="m2")], None, "one tenant and one merchant"),
        (
            [fix("c1", tenant="B"), fix("c2", tenant="B")],
            learned([fix("c1"), fix("c2")]),
            "is not the learned rule",
        ),
        (
            [fix("c1"), fix("c2")],
            Rule(
                id=learned_rule_id("A", "m1"),
                tenant="A",
                name="a person's rule",
                category=GROCERIES,
                created_by=CreatedBy.USER,
                conditions=(DirectionCondition(value="debit"),),
            ),
            "is not the learned rule",
        ),
    ],
    ids=["empty", "two-tenants", "two-merchants", "foreign-tenant-rule", "user-rule"],
)
def test_decide_refuses_inputs_outside_its_contract(
    corrections: list[Correction], existing: Rule | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide(corrections, existing, now=NOW)


def test_decide_all_groups_by_tenant_and_merchant() -> None:
    corrections = [
        fix("c1", merchant="m1"),
        fix("c2", merchant="m2", name="TECH HUB", category=ELECTRONICS),
        fix("c3", merchant="m1"),
        fix("c4", merchant="m2", name="TECH HUB", category=ELECTRONICS),
        fix("c5", merchant="m3"),
    ]

    decisions = decide_all(corrections, [], now=NOW)

    assert [(d.tenant, d.merchant_id, d.action) for d in decisions] == [
        ("A", "m1", "create"),
        ("A", "m2", "create"),
        ("A", "m3", "none"),
    ]
    assert decisions[1].rule is not None
    assert decisions[1].rule.category == ELECTRONICS


def test_tenant_b_corrections_never_create_or_change_tenant_a_rules() -> None:
    rule_a = learned([fix("c1"), fix("c2")])
    # Tenant B corrects the same merchant id the other way, often enough to learn its own rule.
    b_corrections = [fix(f"b{i}", ELECTRONICS, tenant="B") for i in range(1, 4)]

    decisions = decide_all(b_corrections, [rule_a], now=LATER)

    assert len(decisions) == 1
    (only,) = decisions
    assert (only.tenant, only.action, only.ambiguous) == ("B", "create", False)
    assert only.rule is not None
    assert only.rule.tenant == "B"
    assert only.rule.id != rule_a.id


def test_decide_all_passes_each_merchant_its_own_learned_rule_only() -> None:
    rule_a = learned([fix("c1"), fix("c2")])
    user_rule = Rule(
        id="user-rule",
        tenant="A",
        name="mine",
        category=ELECTRONICS,
        conditions=(TextCondition(field="merchant", op="equals", value="CORNER SHOP"),),
    )
    corrections = [fix("c1"), fix("c2"), fix("c3", ELECTRONICS)]

    (decision,) = decide_all(corrections, [user_rule, rule_a], now=LATER)

    assert decision.action == "disable"
    assert decision.rule is not None
    assert decision.rule.id == rule_a.id
