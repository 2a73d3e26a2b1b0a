"""YAML import and export of rules: validation reports, derived ids, round trips."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules.io import dump_rules_yaml, load_rules_yaml, rule_id_from_name
from rules.models import (
    AccountCondition,
    AmountCondition,
    CreatedBy,
    CurrencyCondition,
    DateCondition,
    DirectionCondition,
    MccCondition,
    Rule,
    RuleValidationError,
    TextCondition,
)

GOOD = """
rules:
  - id: coffee
    name: Coffee shops
    category: FOOD_AND_DRINK_COFFEE
    priority: 500
    conditions:
      - {kind: text, field: merchant, op: contains, value: starbucks}
  - name: Groceries by MCC
    category: FOOD_AND_DRINK_GROCERIES
    conditions: [{kind: mcc, op: equals, values: ["5411"]}]
"""


def _error(text: str, *, labels: set[str] | None = None, tenant: str | None = None) -> str:
    """The message of the RuleValidationError that loading `text` must raise."""
    with pytest.raises(RuleValidationError) as info:
        load_rules_yaml(text, labels=labels, tenant=tenant)
    return str(info.value)


def test_load_parses_rules_in_file_order_with_import_as_creator() -> None:
    rules = load_rules_yaml(GOOD)

    assert [r.name for r in rules] == ["Coffee shops", "Groceries by MCC"]
    assert rules[0].conditions == (
        TextCondition(field="merchant", op="contains", value="starbucks"),
    )
    assert rules[0].priority == 500
    assert all(r.created_by is CreatedBy.IMPORT for r in rules)


def test_missing_id_is_derived_stably_from_the_name() -> None:
    first = load_rules_yaml(GOOD)[1].id
    again = load_rules_yaml(GOOD)[1].id

    assert first == again == rule_id_from_name("Groceries by MCC")
    assert first.startswith("groceries-by-mcc-")


def test_names_that_slug_alike_get_different_ids() -> None:
    assert rule_id_from_name("Coffee!") != rule_id_from_name("coffee")
    assert rule_id_from_name("☕").startswith("rule-")


def test_every_problem_is_reported_in_one_error_by_position_and_id() -> None:
    text = """
rules:
  - id: ok
    name: fine
    category: FOOD_AND_DRINK_COFFEE
    conditions: [{kind: text, op: contains, value: cafe}]
  - id: bad-regex
    name: bad regex
    category: FOOD_AND_DRINK_COFFEE
    conditions: [{kind: text, field: merchant, op: regex, value: "(["}]
  - id: bad-confidence
    name: too sure
    category: FOOD_AND_DRINK_COFFEE
    confidence: 3
    conditions: [{kind: direction, value: debit}]
  - id: ok
    name: duplicate
    category: NOT_A_CATEGORY
    conditions: [{kind: amount, op: between, low: 5, high: 2}]
  - just a string
"""
    message = _error(text, labels={"FOOD_AND_DRINK_COFFEE"})
    lines = message.splitlines()[1:]

    assert message.startswith("5 problem(s)")
    assert lines[0].startswith("rule 2 (bad-regex): conditions.0: invalid regex '(['")
    assert (
        lines[1] == "rule 3 (bad-confidence): confidence: Input should be less than or equal to 1"
    )
    assert lines[2] == "rule 4 (ok): duplicate id, first used by rule 1"
    assert lines[3] == "rule 4 (ok): conditions.0: amount range is inverted: low 5 > high 2"
    assert lines[4] == "rule 5: expected a mapping, got str"


def test_unknown_categories_are_refused_only_when_labels_are_given() -> None:
    text = (
        "rules: [{id: r, name: r, category: NOPE, conditions: [{kind: direction, value: debit}]}]"
    )

    assert load_rules_yaml(text)[0].category == "NOPE"
    assert "rule 1 (r): unknown category 'NOPE'" in _error(text, labels={"INCOME"})


def test_invalid_yaml_reports_the_line() -> None:
    message = _error("rules:\n  - id: a\n    name: [unclosed\n")

    assert message.startswith("invalid YAML: line 4")


@pytest.mark.parametrize(
    "text",
    ["rules: 3", "- a\n- b\n", "just text", "rule: []"],
    ids=["rules-not-list", "list", "scalar", "no-rules-key"],
)
def test_a_file_must_be_a_mapping_with_a_rules_list(text: str) -> None:
    assert "a rules file is a mapping with a 'rules' list" in _error(text)


@pytest.mark.parametrize("text", ["", "rules: []", "rules:"])
def test_empty_files_hold_no_rules(text: str) -> None:
    assert load_rules_yaml(text) == []


def test_tenant_is_applied_and_a_foreign_tenant_is_refused() -> None:
    rules = load_rules_yaml(GOOD, tenant="acme")
    assert {r.tenant for r in rules} == {"acme"}

    foreign = GOOD.replace("priority: 500", "priority: 500\n    tenant: other")
    assert "rule 1 (coffee): tenant 'other' is not 'acme'" in _error(foreign, tenant="acme")


def test_created_by_in_the_file_wins_over_the_default() -> None:
    text = GOOD.replace("priority: 500", "priority: 500\n    created_by: user")

    rules = load_rules_yaml(text, created_by=CreatedBy.IMPORT)

    assert [r.created_by for r in rules] == [CreatedBy.USER, CreatedBy.IMPORT]


def _every_kind_rule() -> Rule:
    return Rule(
        id="everything",
        tenant="t1",
        name="Every condition kind",
        category="FOOD_AND_DRINK_COFFEE",
        priority=7,
        confidence=0.5,
        enabled=False,
        created_by=CreatedBy.LEARNED,
        group="g",
        match="any",
        conditions=(
            TextCondition(field="memo", op="regex", value=r"^a: \d+ 'b'$", case_sensitive=True),
            TextCondition(op="fuzzy", value="cafe", threshold=80),
            AmountCondition(op="between", low=Decimal("0.10"), high=Decimal("12.50")),
            AmountCondition(op="gt", value=Decimal("3")),
            DirectionCondition(value="credit"),
            CurrencyCondition(values=("EUR", "USD")),
            DateCondition(part="day_of_week", values=(0, 6)),
            MccCondition(op="in", values=("0742", "5411")),
            MccCondition(op="range", low="3000", high="3299"),
            AccountCondition(values=("1234",)),
        ),
        note="why: because",
        created_at=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        updated_at=dt.datetime(2024, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize("creator", list(CreatedBy))
def test_dump_then_load_gives_equal_rules(creator: CreatedBy) -> None:
    minimal = Rule(
        id="m",
        name="m",
        category="INCOME",
        created_by=creator,
        conditions=(DirectionCondition(value="credit"),),
    )
    rules = [_every_kind_rule(), minimal]

    assert load_rules_yaml(dump_rules_yaml(rules)) == rules


def test_dump_leaves_out_defaults_and_writes_one_condition_per_line() -> None:
    rule = Rule(
        id="coffee",
        name="Coffee",
        category="FOOD_AND_DRINK_COFFEE",
        conditions=(TextCondition(field="merchant", op="contains", value="starbucks"),),
    )

    assert dump_rules_yaml([rule]) == (
        "rules:\n"
        "- id: coffee\n"
        "  name: Coffee\n"
        "  category: FOOD_AND_DRINK_COFFEE\n"
        "  created_by: user\n"
        "  conditions:\n"
        "  - {kind: text, field: merchant, op: contains, value: starbucks}\n"
    )


def test_dump_is_deterministic_and_keeps_mcc_codes_as_strings() -> None:
    rule = Rule(
        id="vet",
        name="Vets",
        category="MEDICAL_VETERINARY_SERVICES",
        conditions=(MccCondition(op="equals", values=("0742",)),),
    )
    text = dump_rules_yaml([rule])

    assert text == dump_rules_yaml([rule])
    assert "values: ['0742']" in text
    assert load_rules_yaml(text)[0].conditions == rule.conditions
