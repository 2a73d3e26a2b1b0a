"""What a rule change would do, and how healthy a rule set is, over stored transactions.

Pure functions, no I/O: `preview` compares two compiled rule sets transaction by transaction;
`rule_report` finds conflicts, shadowed and dead rules, and coverage. A transaction's category
is the winning rule's category, or `NO_CATEGORY` when no rule matches.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
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
    "rule_report",
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
    moved: dict[tuple[str, str], list[TxnRow]] = defaultdict(list)
    for row in rows:
        before = _category(baseline.evaluate(row.input).winner)
        after = _category(candidate.evaluate(row.input).winner)
        if before != after:
            moved[(before, after)].append(row)
    changes = [
        CategoryChange(
            before=before,
            after=after,
            count=len(changed),
            agree=sum(1 for r in changed if r.label == after),
            disagree=sum(1 for r in changed if r.label is not None and r.label != after),
            samples=tuple(_sample(r) for r in changed[:samples]),
        )
        for (before, after), changed in moved.items()
    ]
    changes.sort(key=lambda c: (-c.count, c.before, c.after))
    return PreviewReport(total=len(rows), changes=tuple(changes))


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
    primary = primary_of or (lambda category: category)
    matched_count: Counter[str] = Counter()
    won: Counter[str] = Counter()
    winners_over: dict[str, Counter[str]] = defaultdict(Counter)  # loser -> winner -> count
    recent: set[str] = set()
    pairs: Counter[tuple[str, str]] = Counter()
    pair_info: dict[tuple[str, str], tuple[RuleMatch, RuleMatch, TxnRow]] = {}
    categories: Counter[str] = Counter()
    category_of: dict[str, str] = {}
    matched = 0
    for row in rows:
        evaluation = compiled.evaluate(row.input)
        winner = evaluation.winner
        if winner is None:
            continue
        matched += 1
        won[winner.rule_id] += 1
        categories[primary(winner.category)] += 1
        for match in evaluation.matches:
            matched_count[match.rule_id] += 1
            category_of[match.rule_id] = match.category
            if row.date >= since:
                recent.add(match.rule_id)
            if match is not winner:
                winners_over[match.rule_id][winner.rule_id] += 1
        # Matches are few per transaction, so checking every pair is cheap.
        for i, a in enumerate(evaluation.matches):
            for b in evaluation.matches[i + 1 :]:
                if a.priority == b.priority and a.category != b.category:
                    first, second = sorted((a, b), key=lambda m: m.rule_id)
                    key = (first.rule_id, second.rule_id)
                    pairs[key] += 1
                    pair_info.setdefault(key, (first, second, row))
    conflicts = [
        Conflict(
            rule_a=a.rule_id,
            category_a=a.category,
            rule_b=b.rule_id,
            category_b=b.category,
            priority=a.priority,
            count=pairs[key],
            example=_sample(row),
        )
        for key, (a, b, row) in pair_info.items()
    ]
    conflicts.sort(key=lambda c: (-c.count, c.rule_a, c.rule_b))
    shadowed = []
    for rule_id, count in matched_count.items():
        if won[rule_id]:
            continue
        # max keeps the first of equal counts: sorting by id first makes ties deterministic.
        by, by_count = max(sorted(winners_over[rule_id].items()), key=lambda item: item[1])
        shadowed.append(
            Shadowed(
                rule_id=rule_id,
                category=category_of[rule_id],
                matched=count,
                by=by,
                by_category=category_of[by],
                by_count=by_count,
            )
        )
    shadowed.sort(key=lambda s: (-s.matched, s.rule_id))
    dead = sorted(
        (
            DeadRule(rule_id=r.id, name=r.name, category=r.category)
            for r in rules
            if r.enabled and r.id not in recent
        ),
        key=lambda d: d.rule_id,
    )
    total = len(rows)
    return RuleReport(
        total=total,
        matched=matched,
        since=since,
        conflicts=tuple(conflicts),
        shadowed=tuple(shadowed),
        dead=tuple(dead),
        categories=tuple(
            CategoryCoverage(category=c, count=n, share=n / total)
            for c, n in sorted(categories.items(), key=lambda item: (-item[1], item[0]))
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
