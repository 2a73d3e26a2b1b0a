"""Rule previews and rule-set reports, on hand-built transactions (no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rules.analysis import (
    NO_CATEGORY,
    preview,
    preview_chunks,
    rule_report,
    rule_report_chunks,
    toggle_rule,
    with_rules,
)
from rules.engine import CompiledRules, RuleInput
from rules.inputs import TxnRow
from rules.models import Rule

DAY = dt.date(2024, 11, 5)


def _row(
    merchant: str,
    amount: int = 450,
    *,
    label: str | None = None,
    date: dt.date = DAY,
    description: str | None = None,
) -> TxnRow:
    text = description or f"POS {merchant} #1234"
    return TxnRow(
        id=f"{merchant}-{amount}-{date.isoformat()}-{label}",
        date=date,
        input=RuleInput(
            description=text,
            merchant=merchant,
            memo=None,
            amount_minor=amount,
            currency="USD",
            direction="debit",
            date=date,
            mcc=None,
            account="checking",
            account_tail=None,
        ),
        label=label,
        description=text,
        merchant=merchant,
        amount_minor=amount,
        currency="USD",
    )


def _rule(rule_id: str, category: str, merchant: str, **extra: Any) -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "name": rule_id,
            "category": category,
            "conditions": [
                {"kind": "text", "field": "merchant", "op": "contains", "value": merchant}
            ],
            **extra,
        }
    )


# --- preview ---------------------------------------------------------------------------------


def test_preview_groups_changes_per_category_pair_with_label_agreement() -> None:
    coffee = _rule("coffee", "COFFEE", "starbucks")
    rows = [
        _row("STARBUCKS", label="COFFEE"),
        _row("STARBUCKS", 500, label="COFFEE"),
        _row("STARBUCKS", 600, label="GROCERIES"),
        _row("STARBUCKS", 700),
        _row("KING SOOPERS", label="GROCERIES"),
        _row("DUNKIN"),
    ]
    grocery = _rule("grocery", "GROCERIES", "king")
    before = CompiledRules.compile([grocery])
    after = CompiledRules.compile([grocery, coffee])

    report = preview(before, after, rows, samples=2)

    assert report.total == 6
    assert report.changed == 4
    (change,) = report.changes
    assert (change.before, change.after, change.count) == (NO_CATEGORY, "COFFEE", 4)
    assert (change.agree, change.disagree, change.unlabeled) == (2, 1, 1)
    assert (report.agree, report.disagree) == (2, 1)
    assert len(change.samples) == 2
    assert change.samples[0].merchant == "STARBUCKS"


def test_preview_of_identical_rules_changes_nothing() -> None:
    rules = [_rule("coffee", "COFFEE", "starbucks"), _rule("grocery", "GROCERIES", "king")]
    rows = [_row("STARBUCKS"), _row("KING SOOPERS"), _row("DUNKIN")]
    report = preview(CompiledRules.compile(rules), CompiledRules.compile(rules), rows)
    assert report.changes == ()
    assert (report.total, report.changed) == (3, 0)


def test_preview_separates_pairs_and_orders_them_largest_first() -> None:
    # A higher-priority rule takes coffee shops from COFFEE and unmatched DUNKIN from (none).
    old = _rule("coffee", "COFFEE", "starbucks")
    drinks = Rule.model_validate(
        {
            "id": "drinks",
            "name": "drinks",
            "category": "DRINKS",
            "priority": 200,
            "match": "any",
            "conditions": [
                {"kind": "text", "field": "merchant", "op": "contains", "value": "starbucks"},
                {"kind": "text", "field": "merchant", "op": "contains", "value": "dunkin"},
            ],
        }
    )
    rows = [_row("STARBUCKS"), _row("STARBUCKS", 500), _row("DUNKIN", label="DRINKS")]
    report = preview(CompiledRules.compile([old]), CompiledRules.compile([old, drinks]), rows)
    pairs = [(c.before, c.after, c.count, c.agree) for c in report.changes]
    assert pairs == [("COFFEE", "DRINKS", 2, 0), (NO_CATEGORY, "DRINKS", 1, 1)]


def test_preview_samples_mask_card_numbers_in_descriptions() -> None:
    rows = [_row("STARBUCKS", description="STARBUCKS CARD 4111 1111 1111 1111")]
    report = preview(
        CompiledRules.compile([]),
        CompiledRules.compile([_rule("coffee", "COFFEE", "starbucks")]),
        rows,
    )
    assert "4111 1111" not in report.changes[0].samples[0].description


def test_with_rules_replaces_same_ids_and_toggle_switches_one_rule() -> None:
    coffee = _rule("coffee", "COFFEE", "starbucks")
    new_coffee = _rule("coffee", "DRINKS", "starbucks")
    grocery = _rule("grocery", "GROCERIES", "king", enabled=False)
    assert [r.category for r in with_rules([coffee], [new_coffee])] == ["DRINKS"]

    before, after = toggle_rule([coffee, grocery], "coffee")
    assert [r.id for r in before] == ["coffee"]
    assert after == []
    before, after = toggle_rule([coffee, grocery], "grocery")
    assert [r.id for r in after] == ["coffee", "grocery"]
    assert all(r.enabled for r in after)
    with pytest.raises(KeyError):
        toggle_rule([coffee], "missing")


# --- report ----------------------------------------------------------------------------------


def test_report_finds_conflicts_shadowed_dead_rules_and_coverage() -> None:
    # Equal priority, different categories, same transactions: a conflict.
    coffee = _rule("coffee", "COFFEE", "starbucks")
    snacks = _rule("snacks", "SNACKS", "starbucks")
    # Lower priority, always beaten by `coffee` (or `snacks`) on its only matches: shadowed.
    food = _rule("food", "FOOD", "starbucks", priority=10)
    grocery = _rule("grocery", "GROCERIES", "king")
    # Matches only an old transaction: dead in the window.
    old_shop = _rule("old-shop", "SHOPPING", "oldshop")
    # Matches nothing at all: dead, and not shadowed (shadowed needs a match).
    never = _rule("never", "TRAVEL", "airline")
    off = _rule("off", "TRAVEL", "starbucks", enabled=False, priority=999)
    rules = [coffee, snacks, food, grocery, old_shop, never, off]
    rows = [
        _row("STARBUCKS"),
        _row("STARBUCKS", 500),
        _row("STARBUCKS", 600),
        _row("KING SOOPERS"),
        _row("OLDSHOP", date=dt.date(2024, 1, 2)),
        _row("DUNKIN"),
        _row("RENT"),
        _row("PAYROLL"),
    ]
    primary = {"COFFEE": "FOOD_AND_DRINK", "GROCERIES": "FOOD_AND_DRINK"}

    report = rule_report(
        rules,
        CompiledRules.compile(rules),
        rows,
        since=dt.date(2024, 10, 1),
        primary_of=lambda c: primary.get(c, c),
    )

    (conflict,) = report.conflicts
    assert (conflict.rule_a, conflict.category_a) == ("coffee", "COFFEE")
    assert (conflict.rule_b, conflict.category_b) == ("snacks", "SNACKS")
    assert (conflict.priority, conflict.count) == (100, 3)
    assert conflict.example.merchant == "STARBUCKS"

    shadowed = {s.rule_id: s for s in report.shadowed}
    assert set(shadowed) == {"food", "snacks"}  # snacks loses every tie to coffee (by id)
    assert (shadowed["food"].matched, shadowed["food"].by, shadowed["food"].by_count) == (
        3,
        "coffee",
        3,
    )
    assert shadowed["snacks"].by == "coffee"

    assert [d.rule_id for d in report.dead] == ["never", "old-shop"]  # `off` is disabled

    assert (report.total, report.matched) == (8, 5)
    assert report.coverage == pytest.approx(5 / 8)
    by_category = {c.category: (c.count, c.share) for c in report.categories}
    assert by_category == {"FOOD_AND_DRINK": (4, 0.5), "SHOPPING": (1, 0.125)}


def test_report_on_no_transactions_calls_every_enabled_rule_dead() -> None:
    rules = [_rule("coffee", "COFFEE", "starbucks")]
    report = rule_report(rules, CompiledRules.compile(rules), [], since=DAY)
    assert report.coverage == 0.0
    assert [d.rule_id for d in report.dead] == ["coffee"]
    assert report.conflicts == ()
    assert report.shadowed == ()
    assert report.categories == ()


# --- chunks ----------------------------------------------------------------------------------


def _mixed_rows(n: int) -> list[TxnRow]:
    """`n` rows over a few merchants, labels and dates, oldest first."""
    merchants = ["STARBUCKS", "KING SOOPERS", "DUNKIN", "SHELL", "STARBUCKS RESERVE"]
    labels = [None, "COFFEE", "GROCERIES", "FUEL"]
    return [
        _row(
            merchants[i % len(merchants)],
            100 + i,
            label=labels[i % len(labels)],
            date=DAY + dt.timedelta(days=i // 3),
        )
        for i in range(n)
    ]


def _cut(rows: list[TxnRow], size: int) -> list[list[TxnRow]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


CHUNK_RULES = [
    _rule("coffee", "COFFEE", "starbucks"),
    _rule("snack", "SNACKS", "starbucks"),  # same priority: a conflict, shadowed by coffee
    _rule("grocery", "GROCERIES", "king"),
    _rule("donut", "SNACKS", "dunkin", priority=50),
    _rule("fuel", "FUEL", "shell"),
    _rule("old", "TRAVEL", "airline"),  # never matches: dead
]


@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_preview_in_chunks_equals_preview_of_all_rows(size: int) -> None:
    rows = _mixed_rows(40)
    before = CompiledRules.compile(CHUNK_RULES[2:])
    after = CompiledRules.compile(CHUNK_RULES)
    whole = preview(before, after, rows, samples=2)
    assert whole.changed > 0
    assert preview_chunks(before, after, _cut(rows, size), samples=2) == whole


@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_report_in_chunks_equals_report_of_all_rows(size: int) -> None:
    rows = _mixed_rows(40)
    compiled = CompiledRules.compile(CHUNK_RULES)
    newest = rows[-1].date
    whole = rule_report(CHUNK_RULES, compiled, rows, since=newest - dt.timedelta(days=5))
    assert whole.conflicts
    assert whole.shadowed
    assert [d.rule_id for d in whole.dead] == ["old"]
    chunked = rule_report_chunks(
        CHUNK_RULES, compiled, _cut(rows, size), days=5, today=dt.date(2000, 1, 1)
    )
    assert chunked == whole


def test_report_in_chunks_ends_the_window_today_without_rows() -> None:
    compiled = CompiledRules.compile(CHUNK_RULES)
    report = rule_report_chunks(CHUNK_RULES, compiled, [], days=30, today=DAY)
    assert report.since == DAY - dt.timedelta(days=30)
    assert report.total == 0
    assert len(report.dead) == len(CHUNK_RULES)
