"""The rules matching engine: compile a rule set once, then match transactions against it fast.

Matching must not slow down linearly with the number of rules, so `CompiledRules.compile`
turns the whole set into a few shared indexes, and `evaluate` runs four steps per transaction:

1. compile (once): every enabled rule gets a rank position and its conditions become checker
   functions. An `all` rule puts ONE selective condition (its anchor) into an index; an `any`
   rule puts every condition into one. Indexes: a dict per (field, case folding) for text
   `equals`; one Aho-Corasick automaton per (field, case folding) for `contains`, `starts_with`
   and `ends_with`; one RE2 set per (field, case folding) for regexes; one batched rapidfuzz
   call per (field, case folding) for fuzzy values; dicts for MCC codes, accounts, currencies,
   directions and date parts; a sorted list for MCC ranges. Rules with nothing indexable
   (amount-only, or `any` with an amount condition) are "always candidates".
2. candidates: probe each index once with the transaction; every hit is exact (the condition
   really holds), so it names a candidate rule. Text probes are cached per distinct text
   (merchants repeat a lot), bounded to `_CACHE_SIZE` texts per index.
3. verify: an `all` candidate checks its other conditions, an `any` candidate checks all of
   them (its `fired` list needs every condition that held).
4. rank: rule numbers are rank positions (highest priority, then confidence, then
   specificity, then id), so sorted matches put the winner first. Equal match lists share one
   cached, immutable `Evaluation` (and `all` rules one prebuilt `RuleMatch`).

Fuzzy matching uses `rapidfuzz.fuzz.token_set_ratio`, not `partial_ratio`: descriptor noise is
mostly extra whole tokens (processor prefixes, store numbers, cities) which token_set_ratio
ignores in any order, whereas partial_ratio is order-sensitive and scores a short value highly
inside unrelated longer words. Its weak spot is a truncated last token; use `starts_with` or a
regex for those.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any

import ahocorasick
import re2
from rapidfuzz import fuzz, process

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
from spendlens.money import currency_exponent

__all__ = ["CompiledRules", "Evaluation", "RuleInput", "RuleMatch", "describe", "rank_key"]

_LITERAL_OPS = ("contains", "starts_with", "ends_with")
_CACHE_SIZE = 100_000  # texts whose index hits are kept, per (field, case folding) index
_REGEX_SET_MEMORY = 256 << 20  # RE2 sets share one DFA; thousands of patterns outgrow 8 MiB


@dataclass(frozen=True, slots=True)
class RuleInput:
    """What a rule can see of one transaction; `amount_minor` may be signed, rules use |amount|."""

    description: str
    merchant: str
    memo: str | None
    amount_minor: int
    currency: str
    direction: str  # "debit" | "credit"
    date: dt.date
    mcc: str | None
    account: str | None
    account_tail: str | None


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that matched a transaction, with the conditions that held."""

    rule_id: str
    name: str
    category: str
    priority: int
    confidence: float
    fired: tuple[str, ...]  # e.g. "merchant contains 'starbucks'", "amount < 20"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every enabled rule that matched one transaction, best first."""

    winner: RuleMatch | None
    matches: tuple[RuleMatch, ...]  # winner first, in ranking order

    @property
    def conflicts(self) -> tuple[RuleMatch, ...]:
        """Other matches with the winner's priority but another category."""
        winner = self.winner
        if winner is None:
            return ()
        return tuple(
            m
            for m in self.matches[1:]
            if m.priority == winner.priority and m.category != winner.category
        )


_NO_MATCH = Evaluation(winner=None, matches=())


def rank_key(match: RuleMatch, specificity: int) -> tuple[int, float, int, str]:
    """Sort key, smallest first: highest priority, confidence, specificity, then rule id.

    Args:
        match: the rule's match (only its static fields are used).
        specificity: the rule's number of conditions (more conditions = more specific).
    """
    return (-match.priority, -match.confidence, -specificity, match.rule_id)


def describe(condition: Condition) -> str:
    """Human-readable text of a condition, as listed in `RuleMatch.fired`."""
    match condition:
        case TextCondition(field=field, op=op, value=value):
            extra = f" >= {condition.threshold:g}" if op == "fuzzy" else ""
            case = " (case-sensitive)" if condition.case_sensitive else ""
            return f"{field} {op.replace('_', ' ')} {value!r}{extra}{case}"
        case AmountCondition(op="between", low=low, high=high):
            return f"amount between {low} and {high}"
        case AmountCondition(op=op, value=value):
            return f"amount {({'gt': '>', 'lt': '<', 'equals': '='})[op]} {value}"
        case DirectionCondition(value=value):
            return f"direction is {value}"
        case CurrencyCondition(values=values):
            return f"currency in {', '.join(values)}"
        case DateCondition(part=part, values=values):
            return f"{part.replace('_', ' ')} in {', '.join(map(str, values))}"
        case MccCondition(op="range", low=low, high=high):
            return f"mcc in {low}..{high}"
        case MccCondition(op=op, values=values):
            return f"mcc = {values[0]}" if op == "equals" else f"mcc in {', '.join(values)}"
        case AccountCondition(values=values):
            return f"account in {', '.join(values)}"
    raise TypeError(f"unknown condition {condition!r}")  # pragma: no cover


_Check = Callable[[RuleInput], bool]


# --- step 1a: conditions -> checker functions (the verify step runs these) ------------------


def _text_check(cond: TextCondition) -> _Check:
    """Checker of one text condition; a missing memo never matches."""
    field, op = cond.field, cond.op
    if op == "regex":
        pattern = compile_regex(cond.value, cond.case_sensitive)
        # RE2 folds case itself, so it always sees the raw text (as the index does).
        return lambda t: (s := getattr(t, field)) is not None and pattern.search(s) is not None
    value = cond.value if cond.case_sensitive else cond.value.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "contains": lambda s: value in s,
        "equals": lambda s: s == value,
        "starts_with": lambda s: s.startswith(value),
        "ends_with": lambda s: s.endswith(value),
        "fuzzy": lambda s: fuzz.token_set_ratio(value, s) >= cond.threshold,
    }
    test = tests[op]
    if cond.case_sensitive:
        return lambda t: (s := getattr(t, field)) is not None and test(s)
    # Folding on each check is cheaper than folding every field of every transaction up
    # front: only candidates are verified, and most need no text check at all.
    return lambda t: (s := getattr(t, field)) is not None and test(s.lower())


def _minor_range(cond: AmountCondition, currency: str) -> tuple[float, float]:
    """The inclusive range of absolute minor-unit amounts that satisfy `cond` in `currency`.

    Integer bounds make the per-transaction check two int comparisons, exactly equivalent to
    comparing Decimals: amount > 12.345 (in cents: 1234.5) is amount >= 1235.
    """

    def scaled(value: Decimal | None) -> Decimal:
        if value is None:  # pragma: no cover - AmountCondition validates the shape per op
            raise ValueError(f"amount {cond.op} without its bound")
        return value.scaleb(currency_exponent(currency))

    if cond.op == "gt":
        return math.floor(scaled(cond.value)) + 1, math.inf
    if cond.op == "lt":
        return -math.inf, math.ceil(scaled(cond.value)) - 1
    if cond.op == "equals":
        exact = scaled(cond.value)
        # No whole number of minor units equals 12.345 USD: an empty range.
        return (int(exact), int(exact)) if exact == exact.to_integral_value() else (1, 0)
    return math.ceil(scaled(cond.low)), math.floor(scaled(cond.high))


def _amount_check(cond: AmountCondition) -> _Check:
    """Checker of an amount condition; its integer bounds are cached per currency."""
    ranges: dict[str, tuple[float, float]] = {}

    def check(t: RuleInput) -> bool:
        bounds = ranges.get(t.currency)
        if bounds is None:
            bounds = ranges[t.currency] = _minor_range(cond, t.currency)
        return bounds[0] <= abs(t.amount_minor) <= bounds[1]

    return check


def _check(cond: Condition) -> _Check:
    """The checker function of any condition."""
    match cond:
        case TextCondition():
            return _text_check(cond)
        case AmountCondition():
            return _amount_check(cond)
        case DirectionCondition(value=value):
            return lambda t: t.direction == value
        case CurrencyCondition(values=values):
            currencies = frozenset(values)
            return lambda t: t.currency.upper() in currencies
        case DateCondition(part=part, values=values):
            days = frozenset(values)
            part_of = _DATE_PARTS[part]
            return lambda t: part_of(t.date) in days
        case MccCondition(op="range", low=low, high=high):
            return lambda t: (m := t.mcc) is not None and low <= m <= high  # type: ignore[operator]
        case MccCondition(values=values):
            codes = frozenset(values)
            return lambda t: t.mcc in codes
        case AccountCondition(values=values):
            accounts = frozenset(values)
            return lambda t: t.account in accounts or t.account_tail in accounts
    raise TypeError(f"unknown condition {cond!r}")  # pragma: no cover


def _all_of(checks: list[_Check]) -> _Check | None:
    """One checker for all of `checks` (None when there is nothing to check)."""
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda t: all(check(t) for check in checks)


_DATE_PARTS: dict[str, Callable[[dt.date], int]] = {
    "day_of_week": dt.date.weekday,
    "day_of_month": lambda d: d.day,
    "month": lambda d: d.month,
}


# --- step 1b: which condition an `all` rule is indexed on ------------------------------------

# Lower is more selective. Text literals name one merchant; a regex usually does too and costs
# nothing extra once a field has an RE2 set; an MCC covers a merchant category; fuzzy names a
# merchant too but is the dearest to probe; the small discrete domains (date parts, currency,
# direction) narrow little but beat "always".
_ANCHOR_PREFERENCE: dict[str, int] = {
    "text:equals": 0,
    "text:contains": 1,
    "text:starts_with": 1,
    "text:ends_with": 1,
    "text:regex": 2,
    "mcc:equals": 3,
    "mcc:in": 3,
    "text:fuzzy": 4,
    "account": 5,
    "mcc:range": 6,
    "date:day_of_month": 7,
    "date:month": 8,
    "date:day_of_week": 9,
    "currency": 10,
    "direction": 11,
}


def _index_kind(cond: Condition) -> str | None:
    """The index a condition can go into, or None (amounts: no exact index)."""
    match cond:
        case TextCondition(op=op):
            return f"text:{op}"
        case MccCondition(op=op):
            return f"mcc:{op}"
        case DateCondition(part=part):
            return f"date:{part}"
        case AmountCondition():
            return None
    return cond.kind


def _anchor(rule: Rule) -> int | None:
    """Position of the most selective indexable condition of an `all` rule, or None."""
    ranked = [
        (_ANCHOR_PREFERENCE[kind], i)
        for i, c in enumerate(rule.conditions)
        if (kind := _index_kind(c)) is not None
    ]
    return min(ranked)[1] if ranked else None


# --- step 1c: the indexes (step 2 probes them) ----------------------------------------------


class _TextIndex:
    """Exact-hit index of the text conditions on one field with one case folding."""

    def __init__(self, field: str, case_sensitive: bool) -> None:
        self.field = field
        self.case_sensitive = case_sensitive
        self.equals: dict[str, list[int]] = defaultdict(list)
        self._literals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._patterns: list[str] = []
        self._pattern_rules: list[list[int]] = []
        self._pattern_ids: dict[str, int] = {}
        self._fuzzy_values: list[str] = []
        self._fuzzy_rules: list[tuple[float, int]] = []  # (threshold, rule) per fuzzy value
        self._fuzzy_cutoff = 100.0
        self.automaton: Any = None
        self.regexes: Any = None
        self.cache: dict[str, tuple[int, ...]] = {}

    def add(self, cond: TextCondition, rule: int) -> None:
        """Index one text condition of rule number `rule`."""
        value = cond.value if self.case_sensitive else cond.value.lower()
        if cond.op == "fuzzy":
            self._fuzzy_values.append(value)
            self._fuzzy_rules.append((cond.threshold, rule))
            self._fuzzy_cutoff = min(self._fuzzy_cutoff, cond.threshold)
        elif cond.op == "equals":
            self.equals[value].append(rule)
        elif cond.op == "regex":
            number = self._pattern_ids.setdefault(cond.value, len(self._patterns))
            if number == len(self._patterns):
                self._patterns.append(cond.value)
                self._pattern_rules.append([])
            self._pattern_rules[number].append(rule)
        else:
            self._literals[value][cond.op].append(rule)

    def build(self) -> None:
        """Build the automaton and the RE2 set once every condition is added."""
        if self._literals:
            self.automaton = ahocorasick.Automaton()
            for value, by_op in self._literals.items():
                payload = (len(value), *(tuple(by_op.get(op, ())) for op in _LITERAL_OPS))
                self.automaton.add_word(value, payload)
            self.automaton.make_automaton()
        if self._patterns:
            options = re2.Options()
            options.log_errors = False
            options.case_sensitive = self.case_sensitive
            options.max_mem = _REGEX_SET_MEMORY
            self.regexes = re2.Set.SearchSet(options)
            for pattern in self._patterns:
                self.regexes.Add(pattern)
            self.regexes.Compile()

    def hits(self, raw: str) -> tuple[int, ...]:
        """Rules with an indexed condition that holds on this text (memoized per text)."""
        found = self.cache.get(raw)
        if found is None:
            if len(self.cache) >= _CACHE_SIZE:  # bounded: merchants repeat, descriptions less
                self.cache.clear()
            found = self.cache[raw] = self._probe(raw)
        return found

    def _probe(self, raw: str) -> tuple[int, ...]:
        """Probe the equals dict, the automaton and the RE2 set once each."""
        text = raw if self.case_sensitive else raw.lower()
        out: set[int] = set(self.equals.get(text, ())) if self.equals else set()
        if self.automaton is not None:
            last = len(text) - 1
            for end, (length, contains, starts_with, ends_with) in self.automaton.iter(text):
                out.update(contains)
                if starts_with and end + 1 == length:  # the hit begins at 0
                    out.update(starts_with)
                if ends_with and end == last:
                    out.update(ends_with)
        if self.regexes is not None:
            # RE2 folds case itself (the set's options), so it gets the raw text.
            for number in self.regexes.Match(raw) or ():  # None when nothing matched
                out.update(self._pattern_rules[number])
        if self._fuzzy_values:
            # One C call scores every fuzzy value; token_set_ratio is symmetric, so scoring
            # the text against the values equals the rule's token_set_ratio(value, text).
            for _, score, i in process.extract(
                text,
                self._fuzzy_values,
                scorer=fuzz.token_set_ratio,
                score_cutoff=self._fuzzy_cutoff,
                limit=None,
            ):
                threshold, rule = self._fuzzy_rules[i]
                if score >= threshold:
                    out.add(rule)
        return tuple(out)


class _MccIndex:
    """MCC equals/in as a dict, ranges as a sorted list; the result per code is memoized."""

    def __init__(self) -> None:
        self.codes: dict[str, list[int]] = defaultdict(list)
        self.ranges: list[tuple[str, str, int]] = []
        self._lows: list[str] = []
        self._cache: dict[str, tuple[int, ...]] = {}

    def add(self, cond: MccCondition, rule: int) -> None:
        """Index one MCC condition of rule number `rule`."""
        if cond.op == "range" and cond.low is not None and cond.high is not None:
            self.ranges.append((cond.low, cond.high, rule))
        else:
            for code in cond.values:
                self.codes[code].append(rule)

    def build(self) -> None:
        """Sort the ranges by their low end for bisection."""
        self.ranges.sort()
        self._lows = [low for low, _, _ in self.ranges]

    def __bool__(self) -> bool:
        """Whether any rule has an indexed MCC condition."""
        return bool(self.codes or self.ranges)

    def lookup(self, mcc: str) -> tuple[int, ...]:
        """Rules with an MCC condition that holds for `mcc` (at most 10,000 codes: memoized)."""
        found = self._cache.get(mcc)
        if found is None:
            started = bisect.bisect_right(self._lows, mcc)  # ranges with low <= mcc
            in_ranges = [rule for _, high, rule in self.ranges[:started] if mcc <= high]
            found = self._cache[mcc] = (*self.codes.get(mcc, ()), *in_ranges)
        return found


_KeyOf = Callable[[RuleInput], Any]

# What a transaction is looked up by in each discrete index (accounts: by name and by tail).
_DISCRETE_KEYS: dict[str, tuple[_KeyOf, ...]] = {
    "direction": (attrgetter("direction"),),
    "currency": (lambda t: t.currency.upper(),),
    "day_of_week": (lambda t: t.date.weekday(),),
    "day_of_month": (attrgetter("date.day"),),
    "month": (attrgetter("date.month"),),
    "account": (attrgetter("account"), attrgetter("account_tail")),
}


# --- the compiled rule set -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One enabled rule, ready to verify: `checks` are (description, checker) per condition."""

    rule: Rule
    match_all: bool
    checks: tuple[tuple[str, _Check], ...]
    verify: _Check | None  # `all` rules: every check but the anchor's (it already held), or None
    all_fired: RuleMatch  # the match of an `all` rule, built once: its `fired` never varies
    any_fired: dict[tuple[str, ...], RuleMatch]  # the matches of an `any` rule, built once each


class CompiledRules:
    """An immutable, indexed rule set; build it with `CompiledRules.compile`."""

    def __init__(self) -> None:
        """Empty set; use `compile`."""
        self._rules: list[_Compiled] = []
        self._always: tuple[int, ...] = ()
        self._outright: frozenset[int] = frozenset()  # `all` rules with nothing left to verify
        self._text: list[_TextIndex] = []
        self._mcc = _MccIndex()
        self._discrete: list[tuple[dict[Any, list[int]], _KeyOf]] = []
        self._evaluations: dict[tuple[Any, ...], Evaluation] = {}

    @classmethod
    def compile(cls, rules: Iterable[Rule]) -> CompiledRules:
        """Index every enabled rule (disabled ones are dropped).

        Rule numbers are rank positions, so sorting candidates by number ranks them.
        """
        self = cls()
        enabled = [r for r in rules if r.enabled]
        # Python's sort is stable: duplicate ids (not expected) keep their input order.
        enabled.sort(key=lambda r: rank_key(_template(r, ()), len(r.conditions)))
        text: dict[tuple[str, bool], _TextIndex] = {}
        discrete: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
        always: list[int] = []
        for number, rule in enumerate(enabled):
            checks = tuple((describe(c), _check(c)) for c in rule.conditions)
            match_all = rule.match == "all"
            if match_all:
                anchor = _anchor(rule)
                indexed = [] if anchor is None else [anchor]
            elif any(_index_kind(c) is None for c in rule.conditions):
                indexed = []  # an unindexable condition alone can make an `any` rule match
            else:
                indexed = list(range(len(rule.conditions)))
            if not indexed:
                always.append(number)
            for position in indexed:
                cls._index(rule.conditions[position], number, text, self._mcc, discrete)
            self._rules.append(
                _Compiled(
                    rule=rule,
                    match_all=match_all,
                    checks=checks,
                    verify=_all_of([c for i, (_, c) in enumerate(checks) if i not in indexed]),
                    all_fired=_template(rule, tuple(d for d, _ in checks)),
                    any_fired={},
                )
            )
        for index in text.values():
            index.build()
        self._mcc.build()
        self._text = list(text.values())
        self._discrete = [
            (dict(by_value), key_of)
            for kind, by_value in discrete.items()
            for key_of in _DISCRETE_KEYS[kind]
        ]
        self._always = tuple(always)
        self._outright = frozenset(
            n for n, c in enumerate(self._rules) if c.match_all and c.verify is None
        )
        return self

    @staticmethod
    def _index(
        cond: Condition,
        rule: int,
        text: dict[tuple[str, bool], _TextIndex],
        mcc: _MccIndex,
        discrete: dict[str, dict[Any, list[int]]],
    ) -> None:
        """Put one condition of rule number `rule` into the index of its kind."""
        match cond:
            case TextCondition(field=field, case_sensitive=case_sensitive):
                key = (field, case_sensitive)
                if key not in text:
                    text[key] = _TextIndex(field, case_sensitive)
                text[key].add(cond, rule)
            case MccCondition():
                mcc.add(cond, rule)
            case DateCondition(part=part, values=days):
                for day in days:
                    discrete[part][day].append(rule)
            case DirectionCondition(value=direction):
                discrete["direction"][direction].append(rule)
            case CurrencyCondition(values=values) | AccountCondition(values=values):
                for value in values:
                    discrete[cond.kind][value].append(rule)
            case _:  # pragma: no cover - _index_kind keeps amounts and fuzzy out
                raise TypeError(f"not indexable: {cond!r}")

    def __len__(self) -> int:
        """Number of enabled rules."""
        return len(self._rules)

    def _candidates(self, txn: RuleInput) -> set[int]:
        """Step 2: numbers of the rules worth verifying (an index hit, or always candidates)."""
        found = set(self._always)
        update = found.update
        for index in self._text:
            raw = getattr(txn, index.field)
            if raw is not None:  # no memo: no memo condition holds
                hits = index.cache.get(raw)  # inlined `index.hits`: this is the hot path
                update(index.hits(raw) if hits is None else hits)
        mcc = txn.mcc
        if mcc is not None and self._mcc:
            update(self._mcc.lookup(mcc))
        for by_value, key_of in self._discrete:
            found_here = by_value.get(key_of(txn))
            if found_here:
                update(found_here)
        return found

    def evaluate(self, txn: RuleInput) -> Evaluation:
        """Every enabled rule that matches `txn`, ranked; the first is the winner."""
        found = self._candidates(txn)
        if not found:
            return _NO_MATCH
        matched = found & self._outright  # `all` rules whose anchor was their only condition
        fired_any: list[tuple[int, tuple[str, ...]]] = []
        rules = self._rules
        for number in found - matched:  # step 3: verify the others
            compiled = rules[number]
            if compiled.match_all:
                if compiled.verify is None or compiled.verify(txn):
                    matched.add(number)
            else:
                fired = tuple(text for text, check in compiled.checks if check(txn))
                if fired:
                    fired_any.append((number, fired))
        if not matched and not fired_any:
            return _NO_MATCH
        # Equal match lists share one immutable Evaluation: transactions of a merchant repeat.
        key = (*sorted(matched), *sorted(fired_any)) if fired_any else tuple(sorted(matched))
        evaluation = self._evaluations.get(key)
        if evaluation is None:
            if len(self._evaluations) >= _CACHE_SIZE:
                self._evaluations.clear()
            evaluation = self._evaluations[key] = self._evaluation(matched, fired_any)
        return evaluation

    def _evaluation(
        self, matched: set[int], fired_any: list[tuple[int, tuple[str, ...]]]
    ) -> Evaluation:
        """Step 4: the Evaluation of these matches, ranked (numbers are rank positions)."""
        ranked: list[tuple[int, tuple[str, ...] | None]] = [(n, None) for n in matched]
        ranked.extend(fired_any)
        ranked.sort(key=itemgetter(0))
        matches: list[RuleMatch] = []
        for number, fired in ranked:
            compiled = self._rules[number]
            if fired is None:
                matches.append(compiled.all_fired)
                continue
            match = compiled.any_fired.get(fired)
            if match is None:
                match = compiled.any_fired[fired] = _template(compiled.rule, fired)
            matches.append(match)
        return Evaluation(winner=matches[0], matches=tuple(matches))

    def evaluate_many(self, txns: Iterable[RuleInput]) -> list[Evaluation]:
        """`evaluate` for each transaction, in order."""
        evaluate = self.evaluate
        return [evaluate(t) for t in txns]


def _template(rule: Rule, fired: tuple[str, ...]) -> RuleMatch:
    """The match of `rule` with these fired conditions."""
    return RuleMatch(
        rule_id=rule.id,
        name=rule.name,
        category=rule.category,
        priority=rule.priority,
        confidence=rule.confidence,
        fired=fired,
    )
