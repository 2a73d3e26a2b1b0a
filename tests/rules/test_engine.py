"""The rules engine: each condition kind, ranking, and equivalence with a plain reference."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import random
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from rapidfuzz import fuzz

from rules.engine import CompiledRules, Evaluation, RuleInput, describe, rank_key
from rules.models import (
    AccountCondition,
    AmountCondition,
    Condition,
    CurrencyCondition,
    DateCondition,
    DirectionCondition,
    MccCondition,
    Rule,
    TextCondition,
    compile_regex,
)
from spendlens.money import from_minor

BASE = RuleInput(
    description="SQ *STARBUCKS #1234 SEATTLE WA",
    merchant="Starbucks",
    memo=None,
    amount_minor=1250,  # 12.50
    currency="USD",
    direction="debit",
    date=dt.date(2024, 3, 16),  # a Saturday (day_of_week 5)
    mcc="5814",
    account="US-BOFA-7916622115",
    account_tail="2115",
)


def txn(**changes: Any) -> RuleInput:
    """The base transaction with some fields changed."""
    return dataclasses.replace(BASE, **changes)


def rule(*conditions: Condition, **fields: Any) -> Rule:
    """A rule with defaults for everything but its conditions."""
    values: dict[str, Any] = {"id": "r1", "name": "rule", "category": "COFFEE"}
    values.update(fields)
    return Rule(conditions=conditions, **values)


def matches(condition: Condition, transaction: RuleInput) -> bool:
    """Whether a one-condition rule matches the transaction."""
    return CompiledRules.compile([rule(condition)]).evaluate(transaction).winner is not None


def text(op: str, value: str, **kw: Any) -> TextCondition:
    """A text condition (field defaults to description)."""
    return TextCondition(op=op, value=value, **kw)


CONDITION_CASES: list[tuple[str, Condition, RuleInput, bool]] = [
    ("contains", text("contains", "starbucks"), BASE, True),
    ("contains miss", text("contains", "peet"), BASE, False),
    ("equals", text("equals", "STARBUCKS", field="merchant"), BASE, True),
    ("equals is whole text", text("equals", "starbuck", field="merchant"), BASE, False),
    ("starts_with", text("starts_with", "sq *"), BASE, True),
    ("starts_with only at start", text("starts_with", "starbucks"), BASE, False),
    ("ends_with", text("ends_with", "seattle wa"), BASE, True),
    ("ends_with only at end", text("ends_with", "seattle"), BASE, False),
    ("regex searches", text("regex", r"#\d{4}\b"), BASE, True),
    ("regex miss", text("regex", r"^starbucks"), BASE, False),
    ("regex folds case", text("regex", r"starbucks"), BASE, True),
    (
        "fuzzy ignores extra tokens",
        text("fuzzy", "starbucks coffee", field="merchant"),
        BASE,
        True,
    ),
    ("fuzzy tolerates typos", text("fuzzy", "starbuck", field="merchant"), BASE, True),
    ("fuzzy below threshold", text("fuzzy", "dunkin donuts", threshold=80), BASE, False),
    ("case-sensitive contains hit", text("contains", "STAR", case_sensitive=True), BASE, True),
    ("case-sensitive contains miss", text("contains", "star", case_sensitive=True), BASE, False),
    (
        "case-sensitive equals miss",
        text("equals", "starbucks", field="merchant", case_sensitive=True),
        BASE,
        False,
    ),
    ("case-sensitive regex miss", text("regex", "starbucks", case_sensitive=True), BASE, False),
    ("memo contains", text("contains", "latte", field="memo"), txn(memo="Latte x2"), True),
    ("memo None never contains", text("contains", "latte", field="memo"), BASE, False),
    ("memo None never matches regex", text("regex", ".*", field="memo"), BASE, False),
    ("memo None never fuzzy", text("fuzzy", "x", field="memo", threshold=0), BASE, False),
    ("amount gt", AmountCondition(op="gt", value=Decimal("12.49")), BASE, True),
    ("amount gt is strict", AmountCondition(op="gt", value=Decimal("12.50")), BASE, False),
    ("amount lt", AmountCondition(op="lt", value=Decimal(20)), BASE, True),
    ("amount lt miss", AmountCondition(op="lt", value=Decimal("12.5")), BASE, False),
    ("amount equals", AmountCondition(op="equals", value=Decimal("12.5")), BASE, True),
    ("amount equals miss", AmountCondition(op="equals", value=Decimal("12.505")), BASE, False),
    (
        "amount between inclusive",
        AmountCondition(op="between", low=Decimal(10), high=Decimal("12.50")),
        BASE,
        True,
    ),
    (
        "amount between miss",
        AmountCondition(op="between", low=Decimal(13), high=Decimal(20)),
        BASE,
        False,
    ),
    (
        "amount is absolute",
        AmountCondition(op="gt", value=Decimal(12)),
        txn(amount_minor=-1250),
        True,
    ),
    (
        "amount in yen units",
        AmountCondition(op="equals", value=Decimal(1250)),
        txn(currency="JPY"),
        True,
    ),
    (
        "amount in dinar units",
        AmountCondition(op="equals", value=Decimal("1.25")),
        txn(currency="KWD"),
        True,
    ),
    ("direction", DirectionCondition(value="debit"), BASE, True),
    ("direction miss", DirectionCondition(value="credit"), BASE, False),
    ("currency", CurrencyCondition(values=("eur", "usd")), BASE, True),
    ("currency miss", CurrencyCondition(values=("EUR",)), BASE, False),
    ("day_of_week", DateCondition(part="day_of_week", values=(5, 6)), BASE, True),
    ("day_of_week miss", DateCondition(part="day_of_week", values=(0,)), BASE, False),
    ("day_of_month", DateCondition(part="day_of_month", values=(16,)), BASE, True),
    ("day_of_month miss", DateCondition(part="day_of_month", values=(1, 15)), BASE, False),
    ("month", DateCondition(part="month", values=(3,)), BASE, True),
    ("month miss", DateCondition(part="month", values=(4,)), BASE, False),
    ("mcc equals", MccCondition(op="equals", values=("5814",)), BASE, True),
    ("mcc equals miss", MccCondition(op="equals", values=("5812",)), BASE, False),
    ("mcc in", MccCondition(op="in", values=("5812", "5814")), BASE, True),
    ("mcc in miss", MccCondition(op="in", values=("5411",)), BASE, False),
    ("mcc range", MccCondition(op="range", low="5800", high="5814"), BASE, True),
    ("mcc range miss", MccCondition(op="range", low="5815", high="5899"), BASE, False),
    (
        "mcc None never in range",
        MccCondition(op="range", low="0000", high="9999"),
        txn(mcc=None),
        False,
    ),
    ("account by tail", AccountCondition(values=("2115",)), BASE, True),
    ("account by name", AccountCondition(values=("US-BOFA-7916622115",)), BASE, True),
    ("account miss", AccountCondition(values=("9999",)), BASE, False),
]


@pytest.mark.parametrize(
    ("condition", "transaction", "expected"),
    [pytest.param(c, t, e, id=name) for name, c, t, e in CONDITION_CASES],
)
def test_each_condition_kind_and_operator(
    condition: Condition, transaction: RuleInput, expected: bool
) -> None:
    assert matches(condition, transaction) is expected
    assert reference_matches(rule(condition), transaction) is expected  # the reference agrees


def test_all_needs_every_condition_and_any_needs_one() -> None:
    hit, miss = text("contains", "starbucks"), DirectionCondition(value="credit")
    assert CompiledRules.compile([rule(hit, miss)]).evaluate(BASE).winner is None
    found = CompiledRules.compile([rule(hit, miss, match="any")]).evaluate(BASE).winner
    assert found is not None
    assert found.fired == ("description contains 'starbucks'",)  # only what held


def test_fired_lists_every_condition_of_an_all_rule() -> None:
    conditions = (
        text("contains", "starbucks", field="merchant"),
        AmountCondition(op="lt", value=Decimal(20)),
        MccCondition(op="in", values=("5812", "5814")),
        DateCondition(part="day_of_week", values=(5,)),
    )
    found = CompiledRules.compile([rule(*conditions)]).evaluate(BASE).winner
    assert found is not None
    assert found.fired == (
        "merchant contains 'starbucks'",
        "amount < 20",
        "mcc in 5812, 5814",
        "day of week in 5",
    )


RANKING_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("priority first", {"priority": 100}, {"priority": 200, "confidence": 0.1}, "b"),
    ("then confidence", {"confidence": 0.99}, {"confidence": 0.5}, "a"),
    ("then specificity", {"extra": True}, {}, "a"),
    ("then id", {}, {}, "a"),
]


@pytest.mark.parametrize(
    ("a_fields", "b_fields", "expected"),
    [pytest.param(a, b, e, id=name) for name, a, b, e in RANKING_CASES],
)
def test_ranking_priority_then_confidence_then_specificity_then_id(
    a_fields: dict[str, Any], b_fields: dict[str, Any], expected: str
) -> None:
    def make(rule_id: str, fields: dict[str, Any]) -> Rule:
        fields = dict(fields)
        extra = (DirectionCondition(value="debit"),) if fields.pop("extra", False) else ()
        return rule(text("contains", "starbucks"), *extra, id=rule_id, **fields)

    # b is listed first so that input order never decides
    evaluation = CompiledRules.compile([make("b", b_fields), make("a", a_fields)]).evaluate(BASE)
    assert evaluation.winner is not None
    assert evaluation.winner.rule_id == expected
    assert {m.rule_id for m in evaluation.matches} == {"a", "b"}
    assert evaluation.matches[0] == evaluation.winner


def test_rank_key_orders_highest_priority_first() -> None:
    low = CompiledRules.compile([rule(text("contains", "star"), priority=1)]).evaluate(BASE)
    high = CompiledRules.compile([rule(text("contains", "star"), priority=9)]).evaluate(BASE)
    assert low.winner is not None
    assert high.winner is not None
    assert rank_key(high.winner, 1) < rank_key(low.winner, 1)


def test_disabled_rules_are_ignored() -> None:
    rules = [
        rule(text("contains", "starbucks"), id="off", enabled=False, priority=999),
        rule(text("contains", "starbucks"), id="on"),
    ]
    compiled = CompiledRules.compile(rules)
    assert len(compiled) == 1
    evaluation = compiled.evaluate(BASE)
    assert [m.rule_id for m in evaluation.matches] == ["on"]


CONFLICT_CASES = [
    ("same priority, other category", 100, "FOOD", ("b",)),
    ("same priority, same category", 100, "COFFEE", ()),
    ("lower priority", 50, "FOOD", ()),
]


@pytest.mark.parametrize(
    ("priority", "category", "expected"),
    [pytest.param(p, c, e, id=name) for name, p, c, e in CONFLICT_CASES],
)
def test_conflicts_are_equal_priority_matches_of_another_category(
    priority: int, category: str, expected: tuple[str, ...]
) -> None:
    rules = [
        rule(text("contains", "starbucks"), id="a", confidence=0.99),
        rule(text("contains", "seattle"), id="b", priority=priority, category=category),
    ]
    evaluation = CompiledRules.compile(rules).evaluate(BASE)
    assert tuple(m.rule_id for m in evaluation.conflicts) == expected


def test_no_match_has_no_winner_and_no_conflicts() -> None:
    evaluation = CompiledRules.compile([rule(text("contains", "peet"))]).evaluate(BASE)
    assert evaluation == Evaluation(winner=None, matches=())
    assert evaluation.conflicts == ()


def test_catastrophic_regex_is_linear_time() -> None:
    compiled = CompiledRules.compile([rule(text("regex", "(a+)+$"), id="evil")])
    hostile = txn(description="a" * 5000 + "b")
    started = time.perf_counter()
    evaluations = compiled.evaluate_many([hostile] * 20)
    assert time.perf_counter() - started < 0.5
    assert all(e.winner is None for e in evaluations)
    assert compiled.evaluate(txn(description="a" * 5000)).winner is not None


# --- equivalence with a plain reference evaluator ----------------------------------------


@cache
def _regex(pattern: str, case_sensitive: bool) -> Any:
    return compile_regex(pattern, case_sensitive)


def reference_holds(c: Condition, t: RuleInput) -> bool:
    """Whether one condition holds, written as plainly as possible."""
    if isinstance(c, TextCondition):
        raw: str | None = getattr(t, c.field)
        if raw is None:
            return False
        if c.op == "regex":
            return _regex(c.value, c.case_sensitive).search(raw) is not None
        value, subject = (c.value, raw) if c.case_sensitive else (c.value.lower(), raw.lower())
        if c.op == "contains":
            return value in subject
        if c.op == "equals":
            return value == subject
        if c.op == "starts_with":
            return subject.startswith(value)
        if c.op == "ends_with":
            return subject.endswith(value)
        return bool(fuzz.token_set_ratio(value, subject) >= c.threshold)
    if isinstance(c, AmountCondition):
        amount = from_minor(abs(t.amount_minor), t.currency)
        if c.op == "between":
            assert c.low is not None
            assert c.high is not None
            return c.low <= amount <= c.high
        assert c.value is not None
        return {"gt": amount > c.value, "lt": amount < c.value, "equals": amount == c.value}[c.op]
    if isinstance(c, DirectionCondition):
        return t.direction == c.value
    if isinstance(c, CurrencyCondition):
        return t.currency.upper() in c.values
    if isinstance(c, DateCondition):
        part = {"day_of_week": t.date.weekday(), "day_of_month": t.date.day, "month": t.date.month}
        return part[c.part] in c.values
    if isinstance(c, MccCondition):
        if t.mcc is None:
            return False
        if c.op == "range":
            assert c.low is not None
            assert c.high is not None
            return c.low <= t.mcc <= c.high
        return t.mcc in c.values
    return t.account in c.values or t.account_tail in c.values


def reference_matches(r: Rule, t: RuleInput) -> bool:
    """Whether a rule matches, checking every condition."""
    held = [reference_holds(c, t) for c in r.conditions]
    return all(held) if r.match == "all" else any(held)


def reference_ranking(rules: list[Rule], t: RuleInput) -> list[str]:
    """Ids of every enabled matching rule, best first."""
    matched = [r for r in rules if r.enabled and reference_matches(r, t)]
    matched.sort(key=lambda r: (-r.priority, -r.confidence, -len(r.conditions), r.id))
    return [r.id for r in matched]


WORDS = [
    "star",
    "bucks",
    "Starbucks",
    "coffee",
    "UBER",
    "uber eats",
    "shell",
    "AMZN",
    "mkt",
    "café",
    "Tesco",
    "rent",
    "#12",
    "SQ *",
    "paypal",
]
PATTERNS = [
    r"star\s*bucks",
    r"^uber",
    r"\d{2}$",
    r"coffee|café",
    r"(a+)+$",
    r"AMZN\*?",
    r"\bshell\b",
    r"sq \*",
    r"[0-9]+",
]
MCCS = ["5411", "5812", "5814", "5541", "4121", "6011"]
CURRENCIES = ["USD", "EUR", "JPY", "KWD", "GBP"]
ACCOUNTS = ["1111", "2222", "3333", "AC-1"]


def random_condition(rng: random.Random) -> Condition:
    """A random condition of any kind, drawn so that it sometimes holds."""
    kind = rng.choice(["text"] * 6 + ["amount", "direction", "currency", "date", "mcc", "account"])
    if kind == "text":
        op = rng.choice(
            ["contains", "contains", "equals", "starts_with", "ends_with", "regex", "fuzzy"]
        )
        field = rng.choice(["description", "description", "merchant", "memo"])
        value = rng.choice(PATTERNS) if op == "regex" else rng.choice(WORDS)
        if op == "equals" and rng.random() < 0.5:
            value = " ".join(rng.sample(WORDS, 2))
        return TextCondition(
            field=field,
            op=op,
            value=value,
            case_sensitive=rng.random() < 0.2,
            threshold=rng.choice([50.0, 70.0, 90.0]),
        )
    if kind == "amount":
        op = rng.choice(["gt", "lt", "equals", "between"])
        a, b = sorted(
            Decimal(rng.choice([0, 1, 5, 12, 100, 1250])) / rng.choice([1, 10, 100, 1000])
            for _ in range(2)
        )
        if op == "between":
            return AmountCondition(op="between", low=a, high=b)
        return AmountCondition(op=op, value=a)
    if kind == "direction":
        return DirectionCondition(value=rng.choice(["debit", "credit"]))
    if kind == "currency":
        return CurrencyCondition(values=tuple(rng.sample(CURRENCIES, rng.randint(1, 2))))
    if kind == "date":
        part, top = rng.choice([("day_of_week", 6), ("day_of_month", 31), ("month", 12)])
        first = 0 if part == "day_of_week" else 1
        values = tuple(rng.sample(range(first, top + 1), rng.randint(1, 3)))
        return DateCondition(part=part, values=values)
    if kind == "mcc":
        op = rng.choice(["equals", "in", "range"])
        if op == "range":
            low, high = sorted(rng.sample(MCCS, 2))
            return MccCondition(op="range", low=low, high=high)
        return MccCondition(op=op, values=tuple(rng.sample(MCCS, 1 if op == "equals" else 2)))
    return AccountCondition(values=tuple(rng.sample(ACCOUNTS, rng.randint(1, 2))))


def random_rules(rng: random.Random, n: int) -> list[Rule]:
    """`n` random rules with few distinct priorities and confidences, so ties are common."""
    return [
        Rule(
            id=f"r{i:04d}",
            name=f"rule {i}",
            category=rng.choice(["COFFEE", "TRAVEL", "SHOPPING", "FOOD"]),
            priority=rng.choice([10, 100, 100, 500]),
            confidence=rng.choice([0.5, 0.9]),
            enabled=rng.random() < 0.9,
            match=rng.choice(["all", "all", "any"]),
            conditions=tuple(random_condition(rng) for _ in range(rng.choice([1, 1, 2, 3]))),
        )
        for i in range(n)
    ]


def random_text(rng: random.Random) -> str:
    """A descriptor built from the rule vocabulary, in random case, sometimes with a's."""
    parts = rng.sample(WORDS, rng.randint(1, 3))
    if rng.random() < 0.05:
        parts.append("a" * rng.randint(1, 5))
    joined = " ".join(parts)
    return rng.choice([joined, joined.upper(), joined.lower()])


def random_txn(rng: random.Random) -> RuleInput:
    """A random transaction over the same vocabulary the random rules use."""
    return RuleInput(
        description=random_text(rng),
        merchant=rng.choice(WORDS),
        memo=random_text(rng) if rng.random() < 0.3 else None,
        amount_minor=rng.choice([0, 1, 5, 12, 120, 125, 1250, 12500]) * rng.choice([1, -1]),
        currency=rng.choice(CURRENCIES),
        direction=rng.choice(["debit", "credit"]),
        date=dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 365)),
        mcc=rng.choice([*MCCS, None]),
        account="AC-1" if rng.random() < 0.2 else None,
        account_tail=rng.choice([*ACCOUNTS, None]),
    )


def test_compiled_rules_agree_with_the_plain_reference_evaluator() -> None:
    rng = random.Random(20240601)
    rules = random_rules(rng, 300)
    txns = [random_txn(rng) for _ in range(3000)]
    compiled = CompiledRules.compile(rules)
    matched = 0
    for t, evaluation in zip(txns, compiled.evaluate_many(txns), strict=True):
        expected = reference_ranking(rules, t)
        got = [m.rule_id for m in evaluation.matches]
        assert got == expected, t
        assert (evaluation.winner.rule_id if evaluation.winner else None) == (
            expected[0] if expected else None
        )
        matched += bool(expected)
    assert matched > 1000  # the data exercises the engine, not just "no match"


def test_every_fired_condition_really_held() -> None:
    rng = random.Random(7)
    rules = {r.id: r for r in random_rules(rng, 200)}
    compiled = CompiledRules.compile(rules.values())
    for t in (random_txn(rng) for _ in range(1000)):
        for m in compiled.evaluate(t).matches:
            held = tuple(describe(c) for c in rules[m.rule_id].conditions if reference_holds(c, t))
            assert m.fired == held


def test_evaluate_and_evaluate_many_agree_however_small_the_memos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tiny bounds force every memo to be cleared and the state to be replaced mid-run, tiny
    # chunks split the batch, and each chunk's texts are probed together (a chunk holds more
    # new texts than a memo may): none of it may change a result.
    rng = random.Random(99)
    rules = random_rules(rng, 120)
    txns = [random_txn(rng) for _ in range(600)]
    expected = [reference_ranking(rules, t) for t in txns]
    roomy = CompiledRules.compile(rules)
    assert [[m.rule_id for m in e.matches] for e in roomy.evaluate_many(txns)] == expected
    monkeypatch.setattr("rules.engine._CACHE_SIZE", 5)
    monkeypatch.setattr("rules.engine._CHUNK", 7)
    monkeypatch.setattr("rules.engine._FILL_FROM", 3)
    cramped = CompiledRules.compile(rules)
    many = cramped.evaluate_many(iter(txns))  # any iterable, not only a list
    single = [cramped.evaluate(t) for t in txns]
    assert [[m.rule_id for m in e.matches] for e in many] == expected
    assert single == many
    assert [e.matches for e in many] == [e.matches for e in roomy.evaluate_many(txns)]


def test_rows_sharing_every_index_result_still_get_their_own_checks() -> None:
    # Same text, MCC and date, so the same memoized key; the amount and the direction differ
    # and only a check can tell them apart.
    rules = [
        rule(text("contains", "starbucks"), AmountCondition(op="lt", value=Decimal(5)), id="a"),
        rule(text("contains", "starbucks"), DirectionCondition(value="credit"), id="b"),
        rule(AmountCondition(op="gt", value=Decimal(100)), id="c"),
    ]
    compiled = CompiledRules.compile(rules)
    rows = [
        txn(amount_minor=450),
        txn(amount_minor=1250),
        txn(amount_minor=450, direction="credit"),
        txn(amount_minor=20000),
        txn(amount_minor=450),
    ]
    got = [[m.rule_id for m in e.matches] for e in compiled.evaluate_many(rows)]
    assert got == [["a"], [], ["a", "b"], ["c"], ["a"]]
    assert got == [reference_ranking(rules, t) for t in rows]


def test_amount_only_rules_join_a_settled_key_in_rank_order() -> None:
    # "shop" needs no check, so its key settles to one result; the amount-only rules are
    # checked on every row and, where they hold, rank by their own priority around it.
    rules = [
        rule(text("contains", "shop"), id="shop", priority=100),
        rule(AmountCondition(op="gt", value=Decimal(100)), id="big", priority=200),
        rule(AmountCondition(op="lt", value=Decimal(1)), id="tiny", priority=50),
    ]
    compiled = CompiledRules.compile(rules)
    rows = [
        txn(description="COFFEE SHOP", amount_minor=450),
        txn(description="COFFEE SHOP", amount_minor=20000),
        txn(description="COFFEE SHOP", amount_minor=50),
        txn(description="COFFEE SHOP", amount_minor=450),
        txn(description="NEWSAGENT", amount_minor=20000),
    ]
    expected = [["shop"], ["big", "shop"], ["shop", "tiny"], ["shop"], ["big"]]
    assert [[m.rule_id for m in e.matches] for e in compiled.evaluate_many(rows)] == expected
    fresh = CompiledRules.compile(rules)  # `evaluate` fills its memos on its own
    assert [[m.rule_id for m in fresh.evaluate(t).matches] for t in rows] == expected
    assert expected == [reference_ranking(rules, t) for t in rows]


def test_texts_differing_only_in_digits_are_told_apart() -> None:
    # Store numbers and references make most descriptions distinct; a memo that ignored
    # them would hand one row's result to another.
    rules = [
        rule(text("regex", r"#12\b"), id="store12"),
        rule(text("contains", "99 cent"), id="cent99"),
        rule(text("ends_with", "wa 98101", field="description"), id="zip"),
    ]
    compiled = CompiledRules.compile(rules)
    rows = [
        txn(description="STARBUCKS #12 SEATTLE WA 98101"),
        txn(description="STARBUCKS #13 SEATTLE WA 98101"),
        txn(description="STARBUCKS #123 99 CENT WA 98102"),
        txn(description="TIMBER 99 CENT #12"),
    ]
    got = [[m.rule_id for m in e.matches] for e in compiled.evaluate_many(rows)]
    assert got == [["store12", "zip"], ["zip"], ["cent99"], ["cent99", "store12"]]
    assert got == [reference_ranking(rules, t) for t in rows]


def test_threads_sharing_one_rule_set_get_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Serving shares a compiled set between threads; tiny memos make them swap state often.
    monkeypatch.setattr("rules.engine._CACHE_SIZE", 20)
    monkeypatch.setattr("rules.engine._CHUNK", 16)
    rng = random.Random(5)
    rules = random_rules(rng, 100)
    txns = [random_txn(rng) for _ in range(400)]
    expected = [reference_ranking(rules, t) for t in txns]
    compiled = CompiledRules.compile(rules)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(compiled.evaluate_many, [txns[i:] + txns[:i] for i in range(8)]))
    for i, evaluations in enumerate(runs):
        got = [[m.rule_id for m in e.matches] for e in evaluations]
        assert got == expected[i:] + expected[:i]


def test_a_pickled_rule_set_matches_as_the_original() -> None:
    # Backfill decider processes get a pickled copy of the compiled rules.
    rules = [
        rule(text("contains", "starbucks"), id="coffee", priority=50),
        rule(text("regex", r"#\d{4}\b"), id="store", category="STORE", priority=60),
        rule(
            MccCondition(op="equals", values=("5814",)),
            AmountCondition(op="lt", value=Decimal("20")),
            id="cheap-food",
            category="FOOD",
        ),
        rule(text("contains", "peet"), id="disabled", enabled=False),
    ]
    compiled = CompiledRules.compile(rules)
    copy = pickle.loads(pickle.dumps(compiled))  # noqa: S301 - our own object, just pickled

    assert len(copy) == len(compiled) == 3
    for transaction in (BASE, txn(amount_minor=5000), txn(description="PEETS", mcc=None)):
        assert copy.evaluate(transaction) == compiled.evaluate(transaction)
    assert [m.rule_id for m in copy.evaluate(BASE).matches] == ["cheap-food", "store", "coffee"]
