"""Governed learning: turn agreeing user corrections into a per-merchant rule, and back off.

Pure functions: given every correction of one tenant for one merchant and that merchant's
current learned rule, `decide` says what to do with the rule; storing it is the caller's job.

Policy:
- Learn: at least `min_agreeing` corrections name the same category and none names another.
  The rule matches `merchant equals <name>` (the name of the latest correction), outranks the
  starter set by priority, and its note lists the corrections it was learned from.
- Ambiguity is sticky: once a merchant's corrections name two categories, no rule is learned for
  it, however many agreeing corrections follow. A merchant corrected both ways evidently sells
  more than one thing (a supermarket with an electronics aisle), so a merchant-wide rule would be
  wrong on some of its transactions; a person must write a narrower rule instead. A learned
  rule of an ambiguous merchant is disabled, with the disagreement in its note.
- Tenants are separate: a rule's id derives from tenant and merchant id, and `decide` refuses a
  rule or correction of another tenant, so one tenant's corrections never touch another's rule.
- Only learned rules are touched; rules of people and imports are never passed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rules.models import CreatedBy, Rule, TextCondition

LEARNED_GROUP = "learned"
_NOTE_MAX_IDS = 10  # a merchant corrected hundreds of times must not grow an endless note
_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class Correction:
    """A user's correction of one transaction of a merchant to a category."""

    id: str
    tenant: str
    merchant_id: str
    merchant_name: str
    category: str
    at: dt.datetime
    by: str | None


@dataclass(frozen=True, slots=True)
class LearningDecision:
    """What to do with a merchant's learned rule; `rule` is the rule to store, or None."""

    action: Literal["create", "update", "disable", "none"]
    merchant_id: str
    rule: Rule | None  # the learned rule to create/update, or the one to disable (enabled=False)
    ambiguous: bool
    reason: str
    tenant: str


def learned_rule_id(tenant: str, merchant_id: str) -> str:
    """The id of a tenant's learned rule for a merchant: the same on every call."""
    # A separator that cannot occur in either part keeps ("a", "bc") apart from ("ab", "c").
    digest = hashlib.sha256(f"{tenant}\x1f{merchant_id}".encode()).hexdigest()[:24]
    return f"learned-{digest}"


def decide(
    corrections: Sequence[Correction],
    existing: Rule | None,
    *,
    min_agreeing: int = 2,
    priority: int = 10_000,
    confidence: float = 0.98,
    now: dt.datetime,
) -> LearningDecision:
    """Decide the learned rule of one merchant of one tenant from all its corrections.

    Args:
        corrections: every correction of one tenant for one merchant (order does not matter;
            a repeated correction id counts once).
        existing: that merchant's current learned rule, if any.
        min_agreeing: how many agreeing corrections make a rule (K).
        priority: priority of a learned rule; above the starter set's.
        confidence: confidence of a learned rule.
        now: the time stamped on a created or changed rule.

    Returns:
        create / update (with the rule to store), disable (with the rule, enabled=False), or
        none; `ambiguous` when the corrections disagree.

    Raises:
        ValueError: no corrections, corrections of several tenants or merchants, a rule that is
            not this merchant's learned rule, or `min_agreeing` below 1.
    """
    if min_agreeing < 1:
        raise ValueError(f"min_agreeing must be at least 1, got {min_agreeing}")
    if not corrections:
        raise ValueError("decide needs at least one correction")
    tenant, merchant_id = corrections[0].tenant, corrections[0].merchant_id
    if any(c.tenant != tenant or c.merchant_id != merchant_id for c in corrections):
        raise ValueError("corrections must all be of one tenant and one merchant")
    rule_id = learned_rule_id(tenant, merchant_id)
    if existing is not None and (
        existing.id != rule_id
        or existing.tenant != tenant
        or existing.created_by is not CreatedBy.LEARNED
    ):
        raise ValueError(
            f"rule {existing.id!r} is not the learned rule of {tenant!r}/{merchant_id!r}"
        )

    unique = {c.id: c for c in corrections}
    ordered = sorted(unique.values(), key=lambda c: (c.at, c.id))
    by_category: dict[str, list[Correction]] = defaultdict(list)
    for correction in ordered:
        by_category[correction.category].append(correction)

    def decision(
        action: Literal["create", "update", "disable", "none"],
        rule: Rule | None,
        reason: str,
        *,
        ambiguous: bool = False,
    ) -> LearningDecision:
        return LearningDecision(action, merchant_id, rule, ambiguous, reason, tenant)

    if len(by_category) > 1:
        reason = "corrections disagree: " + _disagreement(by_category)
        if existing is not None and existing.enabled:
            disabled = existing.model_copy(
                update={"enabled": False, "note": f"disabled: {reason}", "updated_at": now}
            )
            return decision("disable", disabled, reason, ambiguous=True)
        return decision("none", None, reason, ambiguous=True)

    ((category, agreeing),) = by_category.items()
    if len(agreeing) < min_agreeing:
        reason = f"{len(agreeing)} of {min_agreeing} agreeing corrections needed ({_ids(agreeing)})"
        if existing is not None and existing.enabled and existing.category != category:
            # The rule's own evidence is gone and what remains says otherwise: stop applying it.
            reason = f"rule says {existing.category} but {reason} say {category}"
            disabled = existing.model_copy(
                update={"enabled": False, "note": f"disabled: {reason}", "updated_at": now}
            )
            return decision("disable", disabled, reason)
        return decision("none", None, reason)

    reason = f"learned from corrections {_ids(agreeing)}"
    merchant_name = agreeing[-1].merchant_name
    wanted = Rule(
        id=rule_id,
        tenant=tenant,
        name=f"learned: {merchant_name}"[:_NAME_MAX],
        category=category,
        priority=priority,
        confidence=confidence,
        enabled=True,
        created_by=CreatedBy.LEARNED,
        group=LEARNED_GROUP,
        conditions=(TextCondition(field="merchant", op="equals", value=merchant_name),),
        note=reason,
        created_at=now if existing is None else existing.created_at,
        updated_at=now,
    )
    if existing is None:
        return decision("create", wanted, reason)
    if wanted.model_copy(update={"updated_at": existing.updated_at}) == existing:
        return decision("none", None, f"rule already agrees: {reason}")
    return decision("update", wanted, reason)


def decide_all(
    corrections: Iterable[Correction],
    existing_rules: Iterable[Rule],
    *,
    min_agreeing: int = 2,
    priority: int = 10_000,
    confidence: float = 0.98,
    now: dt.datetime,
) -> list[LearningDecision]:
    """One decision per (tenant, merchant) of `corrections`, sorted by tenant then merchant.

    `existing_rules` may hold any rules of any tenants: only the learned rule whose id belongs
    to a merchant's (tenant, merchant id) is considered for it, so others are never touched.
    """
    learned = {r.id: r for r in existing_rules if r.created_by is CreatedBy.LEARNED}
    groups: dict[tuple[str, str], list[Correction]] = defaultdict(list)
    for correction in corrections:
        groups[correction.tenant, correction.merchant_id].append(correction)
    decisions: list[LearningDecision] = []
    for (tenant, merchant_id), group in sorted(groups.items()):
        existing = learned.get(learned_rule_id(tenant, merchant_id))
        if existing is not None and existing.tenant != tenant:
            existing = None  # an id collision across tenants must not hand over a foreign rule
        decisions.append(
            decide(
                group,
                existing,
                min_agreeing=min_agreeing,
                priority=priority,
                confidence=confidence,
                now=now,
            )
        )
    return decisions


def _ids(corrections: Sequence[Correction]) -> str:
    """'c1, c2' — at most `_NOTE_MAX_IDS` ids, then how many more."""
    shown = ", ".join(c.id for c in corrections[:_NOTE_MAX_IDS])
    more = len(corrections) - _NOTE_MAX_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def _disagreement(by_category: dict[str, list[Correction]]) -> str:
    """'GROCERIES (c1, c3), ELECTRONICS (c2)': most corrected first, then earliest first."""
    ranked = sorted(
        by_category.items(), key=lambda item: (-len(item[1]), item[1][0].at, item[1][0].id)
    )
    return ", ".join(f"{category} ({_ids(group)})" for category, group in ranked)
