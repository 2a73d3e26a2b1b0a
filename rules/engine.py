"""The rules matching engine: compile a rule set once, then match transactions against it fast.

Matching must not slow down linearly with the number of rules, so `CompiledRules.compile`
turns the whole set into a few shared indexes, and `evaluate` runs four steps per transaction:

1. compile (once): every enabled rule gets a rank position and its conditions become checker
   functions. An `all` rule puts ONE selective condition (its anchor) into an index; an `any`
   rule puts every indexable condition into one, each as a hit of its own. Indexes: a dict
   per (field, case folding) for text `equals`; one Aho-Corasick automaton per (field, case
   folding) for `contains`, `starts_with` and `ends_with` (`rules/literals.py`: a dense
   table, walked over a whole chunk's new texts at once); one RE2 set per (field, case
   folding) for regexes; rapidfuzz per (field, case folding) for fuzzy values (one batched
   call, or direct calls when there are few); dicts for MCC codes, accounts, currencies and
   directions; one lookup per distinct date for all date parts; a sorted list for MCC
   ranges. Amount conditions have no exact index: an `all` rule with nothing else and an
   `any` rule's amount conditions are "always candidates".
2. candidates: probe each index once per distinct value it looks at; every hit is exact (the
   condition really holds) and the indexes are complete (no hit: the condition fails). A
   probe's hits are interned to a small int, memoized per value (text, MCC, date), bounded
   to `_CACHE_SIZE` values per index. A transaction's key is the tuple of those ints, one per
   index; `evaluate_many` builds the keys column-wise, a chunk of `_CHUNK` rows at a time,
   each column a `map` of C callables (no bytecode runs per row unless a value is new; a
   text column's new values are probed together first).
   Keys never normalize a value (no digit or case stripping): two texts share a probe only
   when they are equal, so a memo can never change a result.
3. verify: per distinct key, its hits are merged once and the unsure ones picked out (an
   `all` rule's other conditions; the rest are sure: an `any` rule's indexed conditions, an
   `all` rule with nothing left to check); a key without unsure hits has its Evaluation
   memoized outright. Each row runs its key's unsure checks, then the always-candidates'
   checks (kept out of keys, so they do not unsettle every key); when any of those checks
   ran, the result (the hits minus the failed ones, plus the always-candidates that held) is
   memoized per (key, which checks held), except that a settled key whose always-candidates
   all failed is its memoized Evaluation.
4. rank: hits are numbered in rank order (highest priority, then confidence, then
   specificity, then id; an `any` rule's conditions in order), so the sorted hits list the
   winner first and an `any` rule's `fired` conditions. Equal hit sets share one cached,
   immutable `Evaluation`; every hit has a prebuilt `RuleMatch` for when it is its rule's only
   hit (always, for an `all` rule), so only an `any` rule with several conditions that held
   needs its match looked up by the positions that fired.

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
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, filterfalse, groupby, repeat
from operator import attrgetter
from typing import Any

import re2
from rapidfuzz import fuzz, process

from rules.literals import LiteralAutomaton, LiteralOp
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

_CACHE_SIZE = 100_000  # bound of every memo: texts per index, hit sets, combinations, evaluations
_CHUNK = 10_000  # `evaluate_many` works column-wise on this many transactions at a time
_FILL_FROM = 32  # a text column this long probes its new values together (`_Ids.fill`)
_FUZZY_DIRECT = 8  # up to this many fuzzy values per index: score each directly
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
    if len(checks) == 2:  # the usual case; a generator per call would cost more than the checks
        first, second = checks
        return lambda t: first(t) and second(t)
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
        self._equal_hits: dict[str, list[int]] = defaultdict(list)
        self.equals: dict[str, tuple[int, ...]] = {}  # built from `_equal_hits`
        self._literals: dict[str, dict[LiteralOp, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._patterns: list[str] = []
        self._pattern_hits: list[list[int]] = []
        self._pattern_found: list[tuple[int, ...]] = []  # built from `_pattern_hits`
        self._pattern_ids: dict[str, int] = {}
        self._fuzzy_values: list[str] = []
        self._fuzzy_hits: list[tuple[float, int]] = []  # (threshold, hit) per fuzzy value
        self._fuzzy_cutoff = 100.0
        self.automaton: LiteralAutomaton | None = None
        self.regexes: Any = None
        self._match_set: Any = None

    def add(self, cond: TextCondition, hit: int) -> None:
        """Index one text condition, to return `hit` when it holds."""
        value = cond.value if self.case_sensitive else cond.value.lower()
        if cond.op == "fuzzy":
            self._fuzzy_values.append(value)
            self._fuzzy_hits.append((cond.threshold, hit))
            self._fuzzy_cutoff = min(self._fuzzy_cutoff, cond.threshold)
        elif cond.op == "equals":
            self._equal_hits[value].append(hit)
        elif cond.op == "regex":
            number = self._pattern_ids.setdefault(cond.value, len(self._patterns))
            if number == len(self._patterns):
                self._patterns.append(cond.value)
                self._pattern_hits.append([])
            self._pattern_hits[number].append(hit)
        else:
            self._literals[value][cond.op].append(hit)

    def build(self) -> None:
        """Build the automaton and the RE2 set once every condition is added.

        Every condition adds its one hit once, in rank order, so each list of hits is already
        sorted and without duplicates: a probe with a single source of hits returns it as is.
        """
        self.equals = {value: tuple(hits) for value, hits in self._equal_hits.items()}
        self._pattern_found = [tuple(hits) for hits in self._pattern_hits]
        if self._literals:
            self.automaton = LiteralAutomaton(
                {
                    (value, op): tuple(hits)
                    for value, by_op in self._literals.items()
                    for op, hits in by_op.items()
                }
            )
        if self._patterns:
            options = re2.Options()
            options.log_errors = False
            options.case_sensitive = self.case_sensitive
            options.max_mem = _REGEX_SET_MEMORY
            self.regexes = re2.Set.SearchSet(options)
            for pattern in self._patterns:
                self.regexes.Add(pattern)
            self.regexes.Compile()
            # The wrapper's Match re-checks the type and wraps the result on every call; on
            # the hot path the C set is called directly with UTF-8 bytes (what Match does).
            self._match_set = self.regexes._set.Match

    def probe(self, raw: str | None) -> tuple[int, ...]:
        """Sorted hits of the conditions that hold on this text (None, a missing memo: none).

        Probes the equals dict, the automaton and the RE2 set once each.
        """
        if raw is None:
            return ()
        text = raw if self.case_sensitive else raw.lower()
        literals = self.automaton.find(text) if self.automaton is not None else ()
        return self._hits(raw, text, literals)

    def probe_many(self, raws: Sequence[str | None]) -> list[tuple[int, ...]]:
        """`probe` of each text; the automaton walks all of them at once."""
        texts = ["" if raw is None else raw if self.case_sensitive else raw.lower() for raw in raws]
        literals: Iterable[tuple[int, ...]] = (
            self.automaton.find_many(texts)
            if self.automaton is not None
            else repeat((), len(texts))
        )
        return [
            () if raw is None else self._hits(raw, text, found)
            for raw, text, found in zip(raws, texts, literals, strict=True)
        ]

    def _hits(self, raw: str, text: str, literals: tuple[int, ...]) -> tuple[int, ...]:
        """Sorted hits on one text, given the automaton's (`text`: case-folded)."""
        # Sorted tuples of hits, one per source that held; most texts have none or one.
        found: list[tuple[int, ...]] = []
        if self.equals:
            equal = self.equals.get(text)
            if equal is not None:
                found.append(equal)
        if literals:
            found.append(literals)
        if self._match_set is not None:
            # RE2 folds case itself (the set's options), so it gets the raw text.
            found.extend(map(self._pattern_found.__getitem__, self._match_set(raw.encode())))
        if 0 < len(self._fuzzy_values) <= _FUZZY_DIRECT:
            # A few values: direct calls skip `process.extract`'s per-call setup. Below the
            # cutoff the score is 0, which passes only a threshold of 0 (as any score does).
            for value, (threshold, hit) in zip(self._fuzzy_values, self._fuzzy_hits, strict=True):
                if fuzz.token_set_ratio(value, text, score_cutoff=threshold) >= threshold:
                    found.append((hit,))
        elif self._fuzzy_values:
            # One C call scores every fuzzy value; token_set_ratio is symmetric, so scoring
            # the text against the values equals the rule's token_set_ratio(value, text).
            for _, score, i in process.extract(
                text,
                self._fuzzy_values,
                scorer=fuzz.token_set_ratio,
                score_cutoff=self._fuzzy_cutoff,
                limit=None,
            ):
                threshold, hit = self._fuzzy_hits[i]
                if score >= threshold:
                    found.append((hit,))
        if len(found) < 2:
            return found[0] if found else ()
        return tuple(sorted({hit for hits in found for hit in hits}))


class _MccIndex:
    """MCC equals/in as a dict, ranges as a sorted list."""

    def __init__(self) -> None:
        self.codes: dict[str, list[int]] = defaultdict(list)
        self.ranges: list[tuple[str, str, int]] = []
        self._lows: list[str] = []

    def add(self, cond: MccCondition, hit: int) -> None:
        """Index one MCC condition, to return `hit` when it holds."""
        if cond.op == "range" and cond.low is not None and cond.high is not None:
            self.ranges.append((cond.low, cond.high, hit))
        else:
            for code in cond.values:
                self.codes[code].append(hit)

    def build(self) -> None:
        """Sort the ranges by their low end for bisection."""
        self.ranges.sort()
        self._lows = [low for low, _, _ in self.ranges]

    def __bool__(self) -> bool:
        """Whether any rule has an indexed MCC condition."""
        return bool(self.codes or self.ranges)

    def lookup(self, mcc: str | None) -> tuple[int, ...]:
        """Sorted hits of the MCC conditions that hold for `mcc` (None: none)."""
        if mcc is None:
            return ()
        started = bisect.bisect_right(self._lows, mcc)  # ranges with low <= mcc
        in_ranges = [hit for _, high, hit in self.ranges[:started] if mcc <= high]
        return tuple(sorted({*self.codes.get(mcc, ()), *in_ranges}))


_KeyOf = Callable[[RuleInput], Any]

# What a transaction is looked up by in each discrete index (accounts: by name and by tail).
# Date parts are not here: all of them are looked up once per distinct date.
_DISCRETE_KEYS: dict[str, tuple[_KeyOf, ...]] = {
    "direction": (attrgetter("direction"),),
    "currency": (lambda t: t.currency.upper(),),
    "account": (attrgetter("account"), attrgetter("account_tail")),
}


# --- step 2 state: what each index said, as small ints, and their combinations ---------------


class _Ids(dict[Any, int]):
    """Memo of one index: looked-up value (text, MCC, date) -> id of its interned hits.

    A miss probes the index once (`__missing__`), so a column of values becomes a column of
    ids in one list comprehension; `fill` probes a column's new values together first, where
    the index can do that faster. Clearing it when full is always safe: ids stay valid.
    """

    __slots__ = ("_intern", "_probe", "_probe_many")

    def __init__(
        self,
        probe: Callable[[Any], tuple[int, ...]],
        intern: _State,
        probe_many: Callable[[list[Any]], list[tuple[int, ...]]] | None = None,
    ) -> None:
        super().__init__()
        self._probe = probe
        self._intern = intern
        self._probe_many = probe_many

    def __missing__(self, value: Any) -> int:
        if len(self) >= _CACHE_SIZE:  # bounded: merchants repeat, descriptions less
            self.clear()
        found = self[value] = self._intern.intern(self._probe(value))
        return found

    def fill(self, values: Sequence[Any]) -> None:
        """Probe, all at once, the values of this column the memo does not hold yet."""
        if self._probe_many is None or len(values) < _FILL_FROM:  # `__missing__` is cheaper
            return
        distinct = dict.fromkeys(values)
        new = list(filterfalse(self.__contains__, distinct))
        if len(self) + len(new) > _CACHE_SIZE:
            self.clear()
            new = list(distinct)
        if new:
            self.update(zip(new, map(self._intern.intern, self._probe_many(new)), strict=True))


# A row key's result: its Evaluation when no hit needs a check, else (all hits, unsure hits),
# both sorted tuples of ints: plain tuples of ints are what the garbage collector stops
# tracking, so millions of memo entries do not make full collections dearer (nor come sooner:
# a memo object per key that held functions or dicts brought a full collection into a
# 100,000-row run, measured at 0.13 s).
_Unsettled = tuple[tuple[int, ...], tuple[int, ...]]


class _State:
    """Every memo the matching steps fill, replaced as a whole when it grows too big.

    A call takes the current state once and uses only it, so a concurrent call that swaps in
    a fresh state never mixes ids of one state with hit sets of another.
    """

    def __init__(self, rules: CompiledRules) -> None:
        self._lock = threading.Lock()
        self.sets: list[tuple[int, ...]] = [()]  # id -> sorted hits; id 0: no hit
        self.set_ids: dict[tuple[int, ...], int] = {(): 0}
        self.combos: dict[tuple[int, ...], Evaluation | _Unsettled] = {}
        self.checked: dict[tuple[tuple[int, ...], int], Evaluation] = {}  # (key, mask) -> result
        self.text = [
            (attrgetter(ix.field), _Ids(ix.probe, self, ix.probe_many)) for ix in rules._text
        ]
        self.mcc = _Ids(rules._mcc.lookup, self) if rules._has_mcc else None
        self.dates = _Ids(rules._date_hits, self) if rules._date_parts else None
        self.discrete = [
            (
                {value: self.intern(tuple(sorted(set(hits)))) for value, hits in by_value.items()},
                key_of,
            )
            for by_value, key_of in rules._discrete
        ]

    def intern(self, hits: tuple[int, ...]) -> int:
        """The id of these sorted hits, the same for equal hits."""
        found = self.set_ids.get(hits)
        if found is None:
            # Threads may share a rule set (serving): an id must name exactly one hit set.
            with self._lock:
                found = self.set_ids.get(hits)
                if found is None:
                    self.sets.append(hits)
                    found = self.set_ids[hits] = len(self.sets) - 1
        return found

    def full(self) -> bool:
        """Whether the state outgrew its bound (checked between chunks, never within one)."""
        return max(len(self.sets), len(self.combos), len(self.checked)) > _CACHE_SIZE

    def key(self, txn: RuleInput) -> tuple[int, ...]:
        """Step 2 for one transaction: the id of each index's hits, in index order."""
        key = [ids[field_of(txn)] for field_of, ids in self.text]
        if self.mcc is not None:
            key.append(self.mcc[txn.mcc])
        if self.dates is not None:
            key.append(self.dates[txn.date])
        key.extend(ids.get(key_of(txn), 0) for ids, key_of in self.discrete)
        return tuple(key)

    def keys(self, txns: Sequence[RuleInput]) -> Iterable[tuple[int, ...]]:
        """Step 2 column-wise: `key` of every transaction, one index at a time.

        Each column is a map of C callables, so it runs no bytecode unless a value is new to
        its index: a text column's new values are probed together first (`_Ids.fill`), any
        other new value on its own (`_Ids.__missing__`). Columns are built one after the other,
        not zipped lazily: interleaving the probes of all indexes row by row was slower.
        """
        columns = []
        for field_of, ids in self.text:
            values = list(map(field_of, txns))
            ids.fill(values)
            columns.append(list(map(ids.__getitem__, values)))
        if self.mcc is not None:
            columns.append(list(map(self.mcc.__getitem__, map(_MCC_OF, txns))))
        if self.dates is not None:
            columns.append(list(map(self.dates.__getitem__, map(_DATE_OF, txns))))
        columns.extend(
            list(map(ids.get, map(key_of, txns), repeat(0, len(txns))))
            for ids, key_of in self.discrete
        )
        return zip(*columns, strict=True) if columns else repeat((), len(txns))


_MCC_OF = attrgetter("mcc")
_DATE_OF = attrgetter("date")


# --- the compiled rule set -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AnyRule:
    """An `any` rule, ready to rank: `described` is the text of each condition, in order."""

    rule: Rule
    described: tuple[str, ...]
    matches: dict[tuple[int, ...], RuleMatch]  # its match per positions that held, built once


class CompiledRules:
    """An immutable, indexed rule set; build it with `CompiledRules.compile`."""

    def __init__(self) -> None:
        """Empty set; use `compile`."""
        self._count = 0
        # Hits are what the indexes return: rule number * `_stride` for an `all` rule, plus
        # the condition's position for each condition of an `any` rule. Sorted hits are in
        # rank order, then condition order.
        self._stride = 1
        self._all_matches: dict[int, RuleMatch] = {}  # per `all` rule hit: its match, prebuilt
        self._any: dict[int, _AnyRule] = {}  # by rule number
        self._any_hits: frozenset[int] = frozenset()
        # Per hit: its rule's match when it is the rule's only hit (an `any` rule: that one
        # condition fired), prebuilt; most hit sets are one hit per rule.
        self._one_matches: dict[int, RuleMatch] = {}
        self._verify: dict[int, _Check] = {}  # hits that still need a check to hold
        self._unsure: frozenset[int] = frozenset()  # the keys of `_verify`, for set operations
        self._parts_overlap = False  # whether two indexes can return the same hit (accounts)
        # Hits with no index (amount-only rules, an `any` rule's amounts) and their checks, run
        # on every transaction; they are not part of row keys, so a key whose own hits need no
        # check settles to one Evaluation, used as is whenever no always-candidate held.
        self._always: tuple[int, ...] = ()
        self._always_checks: tuple[_Check, ...] = ()
        self._text: list[_TextIndex] = []
        self._mcc = _MccIndex()
        self._has_mcc = False  # a plain bool: `_MccIndex.__bool__` would be a call per transaction
        self._date_parts: list[tuple[Callable[[dt.date], int], dict[int, list[int]]]] = []
        self._discrete: list[tuple[dict[Any, list[int]], _KeyOf]] = []
        self._evaluations: dict[tuple[int, ...], Evaluation] = {}  # by sorted hits
        self._state: _State | None = None  # built on first use
        self._source: tuple[Rule, ...] = ()  # the enabled rules, for pickling

    @classmethod
    def compile(cls, rules: Iterable[Rule]) -> CompiledRules:
        """Index every enabled rule (disabled ones are dropped).

        Rule numbers are rank positions, so sorting hits ranks them.
        """
        self = cls()
        enabled = [r for r in rules if r.enabled]
        self._source = tuple(enabled)
        # Python's sort is stable: duplicate ids (not expected) keep their input order.
        enabled.sort(key=lambda r: rank_key(_template(r, ()), len(r.conditions)))
        self._count = len(enabled)
        stride = self._stride = max(
            (len(r.conditions) for r in enabled if r.match == "any"), default=1
        )
        text: dict[tuple[str, bool], _TextIndex] = {}
        discrete: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
        always: list[int] = []

        def index(cond: Condition, hit: int) -> None:
            cls._index(cond, hit, text, self._mcc, discrete)

        for number, rule in enumerate(enabled):
            conditions = rule.conditions
            described = tuple(map(describe, conditions))
            hit = number * stride
            if rule.match == "all":
                self._all_matches[hit] = _template(rule, described)
                anchor = _anchor(rule)
                if anchor is None:
                    always.append(hit)
                else:
                    index(conditions[anchor], hit)
                rest = _all_of([_check(c) for i, c in enumerate(conditions) if i != anchor])
                if rest is not None:
                    self._verify[hit] = rest
                continue
            # Each condition is a hit of its own, and index hits are exact and complete, so
            # the hits left after verifying are exactly the conditions that held: an `any`
            # rule's `fired` needs no re-check of its indexed conditions.
            self._any[number] = _AnyRule(rule, described, {})
            for part, cond in enumerate(conditions, start=hit):
                if _index_kind(cond) is None:  # an amount: checked on every transaction
                    always.append(part)
                    self._verify[part] = _check(cond)
                else:
                    index(cond, part)
        for text_index in text.values():
            text_index.build()
        self._mcc.build()
        self._has_mcc = bool(self._mcc)
        self._text = list(text.values())
        for date_part, part_of in _DATE_PARTS.items():
            if date_part in discrete:  # looked up per date, not per transaction
                self._date_parts.append((part_of, dict(discrete.pop(date_part))))
        self._discrete = [
            (dict(by_value), key_of)
            for kind, by_value in discrete.items()
            for key_of in _DISCRETE_KEYS[kind]
        ]
        self._always = tuple(always)
        self._always_checks = tuple(self._verify[hit] for hit in always)
        self._unsure = frozenset(self._verify)
        self._parts_overlap = "account" in discrete
        self._any_hits = frozenset(
            hit
            for number, any_rule in self._any.items()
            for hit in range(number * stride, number * stride + len(any_rule.described))
        )
        self._one_matches = dict(self._all_matches)
        for hit in self._any_hits:
            number, position = divmod(hit, stride)
            self._one_matches[hit] = self._any_match(number, (position,))
        return self

    @staticmethod
    def _index(
        cond: Condition,
        hit: int,
        text: dict[tuple[str, bool], _TextIndex],
        mcc: _MccIndex,
        discrete: dict[str, dict[Any, list[int]]],
    ) -> None:
        """Put one condition into the index of its kind, to return `hit` when it holds."""
        match cond:
            case TextCondition(field=field, case_sensitive=case_sensitive):
                key = (field, case_sensitive)
                if key not in text:
                    text[key] = _TextIndex(field, case_sensitive)
                text[key].add(cond, hit)
            case MccCondition():
                mcc.add(cond, hit)
            case DateCondition(part=part, values=days):
                for day in days:
                    discrete[part][day].append(hit)
            case DirectionCondition(value=direction):
                discrete["direction"][direction].append(hit)
            case CurrencyCondition(values=values) | AccountCondition(values=values):
                for value in values:
                    discrete[cond.kind][value].append(hit)
            case _:  # pragma: no cover - _index_kind keeps amounts out
                raise TypeError(f"not indexable: {cond!r}")

    def __len__(self) -> int:
        """Number of enabled rules."""
        return self._count

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its rules, compiled again when loaded (its C indexes do not pickle)."""
        return (CompiledRules.compile, (self._source,))

    def _date_hits(self, date: dt.date) -> tuple[int, ...]:
        """Sorted hits of every date-part condition on `date`."""
        return tuple(
            sorted(
                {
                    hit
                    for part_of, by_value in self._date_parts
                    for hit in by_value.get(part_of(date), ())
                }
            )
        )

    def clear_memos(self) -> None:
        """Drop every memo (probes, keys, evaluations); they refill on use.

        A call already running keeps the state it took, so this is safe at any time.
        """
        self._state = None
        self._evaluations = {}

    def _current(self) -> _State:
        """The memo state, fresh when the current one is full."""
        state = self._state
        if state is None or state.full():
            state = self._state = _State(self)
        return state

    def _merged(self, state: _State, key: tuple[int, ...]) -> tuple[int, ...]:
        """The sorted hits of one row key (always-candidates aside)."""
        parts = list(map(state.sets.__getitem__, filter(None, key)))  # id 0: no hit
        if len(parts) < 2:  # one sorted hit set, or none: nothing to merge
            return parts[0] if parts else ()
        # Sorting concatenated sorted runs is a merge. Only the two account indexes (by name,
        # by tail) can both return a hit; every other hit has one index.
        merged = sorted(chain.from_iterable(parts))
        return tuple(dict.fromkeys(merged) if self._parts_overlap else merged)

    def _combo(self, state: _State, key: tuple[int, ...]) -> Evaluation | _Unsettled:
        """The result of one row key: settled, or all its hits and the unsure ones among them.

        Settled means: when no always-candidate holds, which the caller checks per row.
        """
        found = self._merged(state, key)
        if self._unsure.isdisjoint(found):
            combo: Evaluation | _Unsettled = self._settled(found)
        else:
            combo = (found, tuple(filter(self._unsure.__contains__, found)))
        state.combos[key] = combo
        return combo

    def _checked(
        self, state: _State, key: tuple[int, ...], combo: Evaluation | _Unsettled, mask: int
    ) -> Evaluation:
        """The result of a row key given which checks held.

        Args:
            combo: the key's `_combo`.
            mask: bit n set when the key's n-th unsure hit held, then one bit per
                always-candidate, in order.
        """
        found, unsure = (self._merged(state, key), ()) if isinstance(combo, Evaluation) else combo
        own = len(unsure)
        if mask & ((1 << own) - 1) != (1 << own) - 1:
            failed = {hit for n, hit in enumerate(unsure) if not mask >> n & 1}
            found = tuple([hit for hit in found if hit not in failed])
        if held := mask >> own:  # always-candidates held: they rank anywhere among the hits
            extra = [hit for n, hit in enumerate(self._always) if held >> n & 1]
            found = tuple(sorted([*found, *extra]))
        evaluation = state.checked[key, mask] = self._settled(found)
        return evaluation

    def _settled(self, hits: tuple[int, ...]) -> Evaluation:
        """The Evaluation of verified hits; equal hit sets share one immutable Evaluation."""
        if not hits:
            return _NO_MATCH
        evaluation = self._evaluations.get(hits)
        if evaluation is None:
            if len(self._evaluations) >= _CACHE_SIZE:
                self._evaluations.clear()
            evaluation = self._evaluations[hits] = self._evaluation(hits)
        return evaluation

    def evaluate(self, txn: RuleInput) -> Evaluation:
        """Every enabled rule that matches `txn`, ranked; the first is the winner."""
        state = self._current()
        key = state.key(txn)
        combo = state.combos.get(key) or self._combo(state, key)
        mask, bit = 0, 1
        if not isinstance(combo, Evaluation):
            verify = self._verify
            for hit in combo[1]:  # step 3: verify what the indexes did not settle
                if verify[hit](txn):
                    mask |= bit
                bit <<= 1
        for check in self._always_checks:
            if check(txn):
                mask |= bit
            bit <<= 1
        if not mask and isinstance(combo, Evaluation):
            return combo
        return state.checked.get((key, mask)) or self._checked(state, key, combo, mask)

    def _evaluation(self, ranked: tuple[int, ...]) -> Evaluation:
        """Step 4: the Evaluation of these verified, sorted hits (sorted hits are ranked)."""
        if self._any_hits.isdisjoint(ranked):  # the usual case: `all` rules only
            matches = tuple(map(self._one_matches.__getitem__, ranked))
            return Evaluation(matches[0], matches)
        fired = self._any_hits.intersection(ranked)
        stride = self._stride
        if len(fired) < 2 or len({hit // stride for hit in fired}) == len(fired):
            # One hit per rule (an `all` rule always has one): every match is prebuilt.
            matches = tuple(map(self._one_matches.__getitem__, ranked))
        else:
            matches = tuple(self._ranked_matches(ranked))
        return Evaluation(matches[0], matches)

    def _ranked_matches(self, ranked: tuple[int, ...]) -> list[RuleMatch]:
        """The matches of these sorted hits: an `any` rule's hits make one match."""
        stride, all_matches = self._stride, self._all_matches
        matches: list[RuleMatch] = []
        # A method of the int, not a lambda: the key runs once per hit of every new hit set.
        for number, owned in groupby(ranked, stride.__rfloordiv__):
            first = next(owned)
            match = all_matches.get(first)
            if match is None:
                base = number * stride
                match = self._any_match(number, (first - base, *[hit - base for hit in owned]))
            matches.append(match)
        return matches

    def _any_match(self, number: int, positions: tuple[int, ...]) -> RuleMatch:
        """The match of `any` rule `number` when the conditions at `positions` held."""
        any_rule = self._any[number]
        match = any_rule.matches.get(positions)
        if match is None:
            fired = tuple(any_rule.described[p] for p in positions)
            match = any_rule.matches[positions] = _template(any_rule.rule, fired)
        return match

    def evaluate_many(self, txns: Iterable[RuleInput]) -> list[Evaluation]:
        """`evaluate` for each transaction, in order.

        Works in chunks: each index is looked up column-wise, so a row costs a few dict
        lookups done in C, plus its checks when it has any.
        """
        rows = txns if isinstance(txns, Sequence) else list(txns)
        verify, always = self._verify, self._always_checks
        out: list[Evaluation] = []
        append = out.append
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            state = self._current()
            combos, checked = state.combos, state.checked
            for txn, key in zip(chunk, state.keys(chunk), strict=True):
                combo = combos.get(key) or self._combo(state, key)
                mask, bit = 0, 1
                if combo.__class__ is Evaluation:
                    for check in always:
                        if check(txn):
                            mask |= bit
                        bit <<= 1
                    if not mask:
                        append(combo)
                        continue
                else:
                    for hit in combo[1]:  # type: ignore[index]  # an _Unsettled
                        if verify[hit](txn):
                            mask |= bit
                        bit <<= 1
                    for check in always:
                        if check(txn):
                            mask |= bit
                        bit <<= 1
                append(checked.get((key, mask)) or self._checked(state, key, combo, mask))
        return out


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
