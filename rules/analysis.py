"""What a rule change would do, and how healthy a rule set is, over stored transactions.

Pure functions, no I/O: `preview` compares two compiled rule sets transaction by transaction;
`rule_report` finds conflicts, shadowed and dead rules, and coverage. A transaction's category
is the winning rule's category, or `NO_CATEGORY` when no rule matches.

Both take the rows in chunks too (`preview_chunks`, `rule_report_chunks`): each chunk is
evaluated with `evaluate_many` and folded into counters whose size depends on the rules and
categories, never on the number of rows, so a tenant's history is never held in memory at once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import cast

from rules.engine import CompiledRules, RuleMatch
from rules.inputs import TxnRow
from rules.models import Rule
from spendlens.normalize.pii import mask_pii

__all__ = [
    "NO_CATEGORY",
    "CategoryChange",
    "CategoryCoverage",
    "Conflict",
    "DeadRule",
    "PreviewReport",
    "RuleReport",
    "Sample",
    "Shadowed",
    "preview",
    "preview_chunks",
    "rule_report",
    "rule_report_chunks",
    "toggle_rule",
    "with_rules",
]

NO_CATEGORY = "(none)"
_DESCRIPTION_MAX = 60


@dataclass(frozen=True, slots=True)
class Sample:
    """One transaction shown as an example; the description is masked and shortened."""

    id: str
    date: dt.date
    description: str
    merchant: str
    amount_minor: int
    currency: str
    direction: str
    label: str | None


def _sample(row: TxnRow) -> Sample:
    # Stored text is masked already; masking again is a no-op there and a guard if it was not.
    text = mask_pii(row.description).text
    if len(text) > _DESCRIPTION_MAX:
        text = text[: _DESCRIPTION_MAX - 1] + "…"
    return Sample(
        id=row.id,
        date=row.date,
        description=text,
        merchant=row.merchant,
        amount_minor=row.amount_minor,
        currency=row.currency,
        direction=row.input.direction,
        label=row.label,
    )


# --- preview ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CategoryChange:
    """Transactions moving from one category to another, and how that squares with labels."""

    before: str
    after: str
    count: int
    agree: int  # labeled, and the label is the new category
    disagree: int  # labeled with something else than the new category
    samples: tuple[Sample, ...]

    @property
    def unlabeled(self) -> int:
        """Changed transactions without a stored label."""
        return self.count - self.agree - self.disagree


@dataclass(frozen=True, slots=True)
class PreviewReport:
    """What replacing the baseline rules by the candidate would change; nothing is written."""

    total: int
    changes: tuple[CategoryChange, ...]  # largest first

    @property
    def changed(self) -> int:
        """Transactions whose category would change."""
        return sum(c.count for c in self.changes)

    @property
    def agree(self) -> int:
        """Changed transactions whose label is the new category."""
        return sum(c.agree for c in self.changes)

    @property
    def disagree(self) -> int:
        """Changed, labeled transactions whose label is not the new category."""
        return sum(c.disagree for c in self.changes)


def _category(winner: RuleMatch | None) -> str:
    return NO_CATEGORY if winner is None else winner.category


def preview(
    baseline: CompiledRules,
    candidate: CompiledRules,
    rows: Sequence[TxnRow],
    *,
    samples: int = 3,
) -> PreviewReport:
    """Categorize `rows` with both rule sets and group the differences by (before, after).

    Args:
        baseline: the rules as they are.
        candidate: the rules as they would be.
        rows: the transactions to compare on.
        samples: at most this many example rows per (before, after) pair.
    """
    return preview_chunks(baseline, candidate, [rows], samples=samples)


@dataclass(slots=True)
class _Moved:
    """Running totals of one (before, after) pair."""

    count: int = 0
    agree: int = 0
    disagree: int = 0
    samples: list[TxnRow] = field(default_factory=list)


def preview_chunks(
    baseline: CompiledRules,
    candidate: CompiledRules,
    chunks: Iterable[Sequence[TxnRow]],
    *,
    samples: int = 3,
) -> PreviewReport:
    """`preview` over rows given in chunks (in order): the same report, memory per chunk.

    Args:
        baseline: the rules as they are.
        candidate: the rules as they would be.
        chunks: the transactions to compare on, a chunk at a time.
        samples: at most this many example rows per (before, after) pair (the first ones).
    """
    moved: dict[tuple[str, str], _Moved] = {}
    total = 0
    for rows in chunks:
        total += len(rows)
        inputs = [row.input for row in rows]
        pairs = zip(baseline.evaluate_many(inputs), candidate.evaluate_many(inputs), strict=True)
        for row, (was, will) in zip(rows, pairs, strict=True):
            if was.winner is will.winner:  # shared matches: the same rule, the same category
                continue
            before, after = _category(was.winner), _category(will.winner)
            if before == after:
                continue
            tally = moved.get((before, after))
            if tally is None:
                tally = moved[(before, after)] = _Moved()
            tally.count += 1
            if row.label is not None:
                if row.label == after:
                    tally.agree += 1
                else:
                    tally.disagree += 1
            if len(tally.samples) < samples:
                tally.samples.append(row)
    changes = [
        CategoryChange(
            before=before,
            after=after,
            count=tally.count,
            agree=tally.agree,
            disagree=tally.disagree,
            samples=tuple(_sample(r) for r in tally.samples),
        )
        for (before, after), tally in moved.items()
    ]
    changes.sort(key=lambda c: (-c.count, c.before, c.after))
    return PreviewReport(total=total, changes=tuple(changes))


def with_rules(current: Sequence[Rule], added: Sequence[Rule]) -> list[Rule]:
    """`current` with `added` in place of rules of the same id, like an import would store."""
    ids = {rule.id for rule in added}
    return [*(r for r in current if r.id not in ids), *added]


def toggle_rule(current: Sequence[Rule], rule_id: str) -> tuple[list[Rule], list[Rule]]:
    """(baseline, candidate) for switching one rule: on when it is disabled, off when enabled.

    Both lists hold only enabled rules.

    Raises:
        KeyError: no rule has this id.
    """
    target = next((r for r in current if r.id == rule_id), None)
    if target is None:
        raise KeyError(rule_id)
    baseline = [r for r in current if r.enabled]
    if target.enabled:
        return baseline, [r for r in baseline if r.id != rule_id]
    return baseline, [*baseline, target.model_copy(update={"enabled": True})]


# --- report ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two rules of equal priority that match the same transactions with different categories."""

    rule_a: str
    category_a: str
    rule_b: str
    category_b: str
    priority: int
    count: int
    example: Sample


@dataclass(frozen=True, slots=True)
class Shadowed:
    """A rule that matches but never wins; `by` is the rule that wins most of its matches."""

    rule_id: str
    category: str
    matched: int
    by: str
    by_category: str
    by_count: int


@dataclass(frozen=True, slots=True)
class DeadRule:
    """An enabled rule that matched no transaction since the report's `since` date."""

    rule_id: str
    name: str
    category: str


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    """Transactions won by rules of one primary category."""

    category: str
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class RuleReport:
    """Health of a rule set over stored transactions."""

    total: int
    matched: int  # any rule matched (so there is a winner too)
    since: dt.date
    conflicts: tuple[Conflict, ...]  # largest first
    shadowed: tuple[Shadowed, ...]
    dead: tuple[DeadRule, ...]
    categories: tuple[CategoryCoverage, ...]  # by primary category, largest first

    @property
    def coverage(self) -> float:
        """Share of transactions any rule matches (0 when there are none)."""
        return self.matched / self.total if self.total else 0.0


def rule_report(
    rules: Sequence[Rule],
    compiled: CompiledRules,
    rows: Sequence[TxnRow],
    *,
    since: dt.date,
    primary_of: Callable[[str], str] | None = None,
) -> RuleReport:
    """Evaluate every row once and derive conflicts, shadowed and dead rules, and coverage.

    Args:
        rules: the rules `compiled` was built from (disabled ones are ignored).
        compiled: the compiled enabled rules.
        rows: the transactions.
        since: a rule is dead when it matched no row dated on or after this day.
        primary_of: maps a category to its primary (top-level) category; identity by default.
    """
    tally = _ReportTally(compiled, primary_of or _same)
    tally.add(rows)
    return tally.report(rules, since)


def rule_report_chunks(
    rules: Sequence[Rule],
    compiled: CompiledRules,
    chunks: Iterable[Sequence[TxnRow]],
    *,
    days: int,
    today: dt.date,
    primary_of: Callable[[str], str] | None = None,
) -> RuleReport:
    """`rule_report` over rows given in chunks (in order), memory per chunk.

    The dead-rule window is the `days` before the newest row (`today` when there is none),
    which the chunks reveal only at the end: each rule's newest match is kept instead.

    Args:
        rules: the rules `compiled` was built from (disabled ones are ignored).
        compiled: the compiled enabled rules.
        chunks: the transactions, a chunk at a time.
        days: a rule is dead when it matched no row in this many days before the newest row.
        today: where the window ends when there are no rows.
        primary_of: maps a category to its primary (top-level) category; identity by default.
    """
    tally = _ReportTally(compiled, primary_of or _same)
    for rows in chunks:
        tally.add(rows)
    newest = tally.newest or today
    return tally.report(rules, newest - dt.timedelta(days=days))


def _same(category: str) -> str:
    return category


class _ReportTally:
    """Running counters of a rule report; their size depends on the rules, not the rows."""

    def __init__(self, compiled: CompiledRules, primary: Callable[[str], str]) -> None:
        self.compiled = compiled
        self.primary = primary
        self.total = 0
        self.matched = 0
        self.newest: dt.date | None = None
        self.matched_count: Counter[str] = Counter()
        self.won: Counter[str] = Counter()
        self.winners_over: dict[str, Counter[str]] = defaultdict(Counter)  # loser -> winner -> n
        self.last_match: dict[str, dt.date] = {}  # rule -> its newest matching row's date
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.pair_info: dict[tuple[str, str], tuple[RuleMatch, RuleMatch, TxnRow]] = {}
        self.categories: Counter[str] = Counter()
        self.category_of: dict[str, str] = {}

    def add(self, rows: Sequence[TxnRow]) -> None:
        """Evaluate one chunk of rows and count it in."""
        self.total += len(rows)
        evaluations = self.compiled.evaluate_many([row.input for row in rows])
        last_match = self.last_match
        for row, evaluation in zip(rows, evaluations, strict=True):
            if self.newest is None or row.date > self.newest:
                self.newest = row.date
            winner = evaluation.winner
            if winner is None:
                continue
            self.matched += 1
            self.won[winner.rule_id] += 1
            self.categories[self.primary(winner.category)] += 1
            for match in evaluation.matches:
                self.matched_count[match.rule_id] += 1
                self.category_of[match.rule_id] = match.category
                seen = last_match.get(match.rule_id)
                if seen is None or row.date > seen:
                    last_match[match.rule_id] = row.date
                if match is not winner:
                    self.winners_over[match.rule_id][winner.rule_id] += 1
            # Matches are few per transaction, so checking every pair is cheap.
            for i, a in enumerate(evaluation.matches):
                for b in evaluation.matches[i + 1 :]:
                    if a.priority == b.priority and a.category != b.category:
                        first, second = sorted((a, b), key=lambda m: m.rule_id)
                        key = (first.rule_id, second.rule_id)
                        self.pairs[key] += 1
                        self.pair_info.setdefault(key, (first, second, row))

    def report(self, rules: Sequence[Rule], since: dt.date) -> RuleReport:
        """The report of every row added so far."""
        conflicts = [
            Conflict(
                rule_a=a.rule_id,
                category_a=a.category,
                rule_b=b.rule_id,
                category_b=b.category,
                priority=a.priority,
                count=self.pairs[key],
                example=_sample(row),
            )
            for key, (a, b, row) in self.pair_info.items()
        ]
        conflicts.sort(key=lambda c: (-c.count, c.rule_a, c.rule_b))
        shadowed = []
        for rule_id, count in self.matched_count.items():
            if self.won[rule_id]:
                continue
            # max keeps the first of equal counts: sorting by id first makes ties deterministic.
            by, by_count = max(sorted(self.winners_over[rule_id].items()), key=lambda item: item[1])
            shadowed.append(
                Shadowed(
                    rule_id=rule_id,
                    category=self.category_of[rule_id],
                    matched=count,
                    by=by,
                    by_category=self.category_of[by],
                    by_count=by_count,
                )
            )
        shadowed.sort(key=lambda s: (-s.matched, s.rule_id))
        dead = sorted(
            (
                DeadRule(rule_id=r.id, name=r.name, category=r.category)
                for r in rules
                if r.enabled and not (r.id in self.last_match and self.last_match[r.id] >= since)
            ),
            key=lambda d: d.rule_id,
        )
        total = self.total
        return RuleReport(
            total=total,
            matched=self.matched,
            since=since,
            conflicts=tuple(conflicts),
            shadowed=tuple(shadowed),
            dead=tuple(dead),
            categories=tuple(
                CategoryCoverage(category=c, count=n, share=n / total)
                for c, n in sorted(self.categories.items(), key=lambda item: (-item[1], item[0]))
            ),
        )


# --- machine-readable forms (`-o json`) -----------------------------------------------------


def _plain(value: object) -> object:
    """Dataclasses, tuples and dates as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def preview_as_dict(report: PreviewReport) -> dict[str, object]:
    """A preview as plain data, with the totals a reader would otherwise add up."""
    changes = [
        {**cast("dict[str, object]", _plain(c)), "unlabeled": c.unlabeled} for c in report.changes
    ]
    return {
        "total": report.total,
        "changed": report.changed,
        "agree": report.agree,
        "disagree": report.disagree,
        "changes": changes,
    }


def report_as_dict(report: RuleReport) -> dict[str, object]:
    """A rule report as plain data, coverage included."""
    return {**cast("dict[str, object]", _plain(report)), "coverage": report.coverage}
