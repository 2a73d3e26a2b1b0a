"""Rules engine speed: 100,000 generated transactions against 10 and against 10,000 rules.

The point is that matching does not slow down linearly with the rule count: the targets are
>= 50,000 transactions/s with 10,000 rules on one core, and 10,000 rules taking less than twice
as long as 10. The rule sets are generated, seeded, in a realistic mix: mostly merchant and
description `contains`/`equals` on real merchant names (the catalog's and the generator's
local businesses), some `starts_with`, regexes, MCC rules, text plus amount or date, a few
`any` rules, and a handful with nothing indexable (amount-only, date-only, fuzzy) that every
transaction must be checked against. The baseline is the naive loop over every rule and every
condition, timed on a sample and extrapolated to the full data set.

The CPU may be shared, so both sizes are timed in `ROUNDS` alternating rounds, each on a
freshly compiled (cold) rule set: throughput is the best round, and the ratio is the median of
the per-round ratios (each compares two runs made seconds apart, under the same load).
"""

from __future__ import annotations

import gc
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz

from rules.engine import CompiledRules, RuleInput
from rules.models import (
    AmountCondition,
    Condition,
    DateCondition,
    DirectionCondition,
    MccCondition,
    Rule,
    TextCondition,
    compile_regex,
)
from spendlens.catalog import load_merchant_catalog
from spendlens.generate import GeneratedTransaction, generate_transactions
from spendlens.money import from_minor

ROWS, SEED = 100_000, 1
ROUNDS = 3


def _say(message: str) -> None:
    """Progress for a person on stderr; stdout carries only the JSON of `make bench`."""
    sys.stderr.write(message + "\n")


NAMES_ROWS, NAMES_SEED = 30_000, 7  # another seed: rules name merchants the data may not have
RULES_SEED = 11
SMALL, LARGE = 10, 10_000
NAIVE_ROWS = 2_000  # the naive loop is ~5,000x slower at 10,000 rules: sample, extrapolate
TARGET_TXN_PER_S, TARGET_RATIO = 50_000, 2.0
_WORD = re.compile(r"[A-Z]{4,}")


def run() -> dict[str, Any]:
    """Time `evaluate_many` over 100,000 transactions with 10 and 10,000 rules; naive baseline."""
    txns = [rule_input(t) for t in generate_transactions(ROWS, seed=SEED)]
    names = _merchant_names()
    results: dict[str, Any] = {"rows": ROWS, "seed": SEED, "rounds": ROUNDS}
    rule_sets = {n: generate_rules(n, names, random.Random(RULES_SEED)) for n in (SMALL, LARGE)}
    seconds: dict[int, list[float]] = {SMALL: [], LARGE: []}
    ratios: list[float] = []
    for _ in range(ROUNDS):
        for n in (SMALL, LARGE):
            started = time.perf_counter()
            compiled = CompiledRules.compile(rule_sets[n])  # cold: nothing memoized yet
            compile_s = time.perf_counter() - started
            # Settle the collector's debt from building the rules (10,000 rules leave ~200,000
            # new objects), so that a full collection it would trigger is not charged to matching.
            gc.collect()
            started = time.perf_counter()
            evaluations = compiled.evaluate_many(txns)
            elapsed = time.perf_counter() - started
            seconds[n].append(elapsed)
            with_winner = sum(e.winner is not None for e in evaluations)
            best = min(seconds[n])
            results[f"rules_{n}"] = {
                "rules": len(compiled),
                "compile_s": round(compile_s, 3),
                "evaluate_s": round(best, 3),
                "evaluate_s_rounds": [round(s, 3) for s in seconds[n]],
                "txn_per_s": round(ROWS / best),
                "with_winner": with_winner,
            }
            _say(f"{n:>6} rules: {ROWS / elapsed:>10,.0f} txn/s, {with_winner:,} with a winner")
        ratios.append(seconds[LARGE][-1] / seconds[SMALL][-1])
        _say(f"round ratio 10k/10 rules: {ratios[-1]:.2f}")
    ratio = statistics.median(ratios)
    large_rate = ROWS / min(seconds[LARGE])
    naive_s = _naive_seconds(rule_sets[LARGE], txns)
    results.update(
        ratio_large_to_small=round(ratio, 2),
        ratio_rounds=[round(r, 2) for r in ratios],
        targets={
            "txn_per_s_with_10k_rules": TARGET_TXN_PER_S,
            "ratio_below": TARGET_RATIO,
            "met": large_rate >= TARGET_TXN_PER_S and ratio < TARGET_RATIO,
        },
        naive_baseline={
            "label": f"naive loop over all {LARGE} rules, {NAIVE_ROWS} rows timed, extrapolated",
            "sample_rows": NAIVE_ROWS,
            "extrapolated_s": round(naive_s, 1),
            "txn_per_s": round(ROWS / naive_s),
            "speedup": round(naive_s / min(seconds[LARGE]), 1),
        },
    )
    _say(f"ratio 10k/10 rules (median of {ROUNDS} rounds): {ratio:.2f} (target < {TARGET_RATIO})")
    _say(f"target >= {TARGET_TXN_PER_S:,} txn/s with 10k rules: {large_rate:,.0f}")
    _say(f"naive loop (extrapolated from {NAIVE_ROWS:,} rows): {ROWS / naive_s:,.0f} txn/s")
    return results


def rule_input(txn: GeneratedTransaction) -> RuleInput:
    """What a rule sees of a generated transaction (merchant: the ground-truth counterparty)."""
    return RuleInput(
        description=txn.description,
        merchant=txn.merchant,
        memo=None,
        amount_minor=txn.amount_minor,
        currency=txn.currency,
        direction=txn.direction.value,
        date=txn.date,
        mcc=txn.mcc,
        account=txn.account,
        account_tail=txn.account_tail,
    )


def _merchant_names() -> list[tuple[str, str, str | None]]:
    """(name, category, mcc) of catalog brands, their aliases, and generated local merchants."""
    found: dict[str, tuple[str, str, str | None]] = {}
    for entry in load_merchant_catalog():
        for alias in entry.aliases:
            found.setdefault(alias, (alias, entry.category, entry.mcc))
    for txn in generate_transactions(NAMES_ROWS, seed=NAMES_SEED):
        found.setdefault(txn.merchant, (txn.merchant, txn.category, txn.mcc))
    return sorted(found.values())


def generate_rules(
    n: int, names: Sequence[tuple[str, str, str | None]], rng: random.Random
) -> list[Rule]:
    """`n` rules in a realistic mix (see the module docstring); the same rng gives the same set.

    Like a real set, it says each thing once: one rule per MCC it covers, and each merchant
    name used once (reused with another operator only when the names run out). Names shorter
    than 5 characters ("BP", "BT") only get `merchant equals`, as `contains` would hit "DEBT".
    """
    makers: list[tuple[float, Callable[[str], tuple[str, list[Condition]]]]] = [
        (0.56, lambda name: ("all", [_text("merchant", "contains", name.lower())])),
        (0.16, lambda name: ("all", [_text("description", "contains", name.lower())])),
        (0.10, lambda name: ("all", [_text("merchant", "equals", name)])),
        (0.05, lambda name: ("all", [_text("description", "starts_with", name)])),
        (0.04, lambda name: ("all", [_text("description", "regex", _regex_for(name))])),
        (0.04, lambda name: ("all", [_text("merchant", "contains", name), _amount(rng)])),
        (0.03, lambda name: ("all", [_text("description", "contains", name), _day(rng)])),
        (0.02, lambda name: ("any", [_text("merchant", "contains", name), _alias(name)])),
    ]
    weights = [w for w, _ in makers]
    # Only an amount, or fuzzy or weekend: indexed loosely or not at all, so real sets keep few.
    few: list[tuple[str, list[Condition]]] = [
        ("INCOME_OTHER_INCOME", [_amount_gt("5000")]),
        ("ENTERTAINMENT_TV_AND_MOVIES", [_text("merchant", "fuzzy", "netflix")]),
        ("GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", [_amount_gt("0.5"), _weekend()]),
    ]
    rules = [_rule(f"few-{i}", c, 10, "all", conds) for i, (c, conds) in enumerate(few)]
    rules = rules[: max(1, n // 1000)]
    mccs = sorted({m for _, category, m in names if m is not None})
    for mcc in rng.sample(mccs, min(len(mccs), n // 50)):
        category = next(c for _, c, m in names if m == mcc)
        rules.append(_rule(f"m{mcc}", category, 50, "all", _mcc_rule(mcc, rng)))
    order = rng.sample(range(len(names)), len(names))
    while len(rules) < n:
        name, category, _ = names[order[len(rules) % len(order)]]
        _, make = rng.choices(makers, weights)[0]
        if len(name) < 5:
            make = makers[2][1]
        match, conditions = make(name)
        priority = rng.choice([100] * 8 + [50, 200])
        rules.append(_rule(f"r{len(rules):05d}", category, priority, match, conditions))
    return rules


def _rule(rule_id: str, category: str, priority: int, match: str, conds: list[Condition]) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id,
        category=category,
        priority=priority,
        match=match,
        conditions=tuple(conds),
    )


def _text(field: str, op: str, value: str) -> TextCondition:
    return TextCondition(field=field, op=op, value=value)


def _regex_for(name: str) -> str:
    """A regex a user would write: the name's words, any spacing, as whole words."""
    return r"\b" + r"\s*".join(re.escape(w) for w in name.split()) + r"\b"


def _alias(name: str) -> TextCondition:
    words = _WORD.findall(name.upper())
    return _text("description", "contains", max(words, key=len) if words else name)


def _mcc_rule(mcc: str, rng: random.Random) -> list[Condition]:
    if rng.random() < 0.2:
        return [MccCondition(op="range", low=mcc, high=f"{min(9999, int(mcc) + 4):04d}")]
    extra: list[Condition] = [_debit()] if rng.random() < 0.3 else []
    return [MccCondition(op="equals", values=(mcc,)), *extra]


def _amount(rng: random.Random) -> AmountCondition:
    low = Decimal(rng.choice([1, 5, 10, 50, 100]))
    return AmountCondition(op="between", low=low, high=low * rng.choice([2, 10, 100]))


def _amount_gt(value: str) -> AmountCondition:
    return AmountCondition(op="gt", value=Decimal(value))


def _debit() -> DirectionCondition:
    return DirectionCondition(value="debit")


def _credit() -> DirectionCondition:
    return DirectionCondition(value="credit")


def _day(rng: random.Random) -> DateCondition:
    return DateCondition(part="day_of_month", values=(rng.randint(1, 28),))


def _weekend() -> DateCondition:
    return DateCondition(part="day_of_week", values=(5, 6))


# --- the naive baseline: every rule, every condition --------------------------------------


def _naive_seconds(rules: Sequence[Rule], txns: Sequence[RuleInput]) -> float:
    """Seconds the naive loop would take for all `txns`, from a timed sample."""
    checks = [([_naive_check(c) for c in r.conditions], r.match == "all") for r in rules]
    sample = txns[:NAIVE_ROWS]
    started = time.perf_counter()
    for txn in sample:
        for conditions, match_all in checks:
            held = [check(txn) for check in conditions]
            _ = all(held) if match_all else any(held)
    return (time.perf_counter() - started) * len(txns) / len(sample)


def _naive_check(c: Condition) -> Callable[[RuleInput], bool]:
    """The plain check of a condition (only the kinds `generate_rules` makes)."""
    if isinstance(c, TextCondition):
        field, value = c.field, c.value.lower()
        if c.op == "regex":
            pattern = compile_regex(c.value)
            return lambda t: pattern.search(getattr(t, field)) is not None
        if c.op == "fuzzy":
            return lambda t: fuzz.token_set_ratio(value, getattr(t, field).lower()) >= c.threshold
        ops: dict[str, Callable[[str], bool]] = {
            "contains": lambda s: value in s,
            "equals": lambda s: s == value,
            "starts_with": lambda s: s.startswith(value),
            "ends_with": lambda s: s.endswith(value),
        }
        op = ops[c.op]
        return lambda t: op(getattr(t, field).lower())
    if isinstance(c, AmountCondition):
        low = c.low if c.op == "between" else c.value
        high = c.high if c.op == "between" else None
        return lambda t: _naive_amount(c.op, from_minor(abs(t.amount_minor), t.currency), low, high)
    if isinstance(c, DirectionCondition):
        return lambda t: t.direction == c.value
    if isinstance(c, DateCondition):
        return lambda t: (
            {"day_of_week": t.date.weekday(), "day_of_month": t.date.day}.get(c.part, t.date.month)
            in c.values
        )
    if isinstance(c, MccCondition):
        if c.op == "range":
            return lambda t: t.mcc is not None and str(c.low) <= t.mcc <= str(c.high)
        return lambda t: t.mcc in c.values
    raise TypeError(f"the benchmark makes no {c.kind} conditions")


def _naive_amount(op: str, amount: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None:
        return False
    if op == "gt":
        return amount > low
    if op == "lt":
        return amount < low
    if op == "equals":
        return amount == low
    return high is not None and low <= amount <= high


if __name__ == "__main__":
    run()
