"""The review queue: decisions routed to review that nobody has settled yet, oldest first.

A reviewer resolves a queued decision by accepting its suggested category or giving another
one. Either way the answer goes through the decision log's `feedback` (a label on the stored
transaction or the `corrected_*` columns of the decision, then governed learning), which also
sets `resolved_at`/`resolved_by`, so the decision leaves the queue. Every read and write is
scoped by the tenant: another tenant's decision is never found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from serving.decisions import DecisionLog, FeedbackResult, UnknownDecisionError
from serving.routing import Route
from spendlens.storage.models import Decision, Transaction

MAX_QUEUE_PAGE = 500


class NotInReviewError(ValueError):
    """The decision was not routed to review (auto or suggest): use /feedback to correct it."""


class AlreadyResolvedError(ValueError):
    """Someone already resolved the decision."""


class NothingToAcceptError(ValueError):
    """The decision suggests no category (fallback), so the reviewer must name one."""


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """What a reviewer needs to settle one decision; the description is PII-masked."""

    decision_id: str
    created_at: dt.datetime
    description: str
    merchant: str | None
    merchant_id: str | None
    amount_minor: int | None
    currency: str | None
    direction: str | None
    date: dt.date | None
    category: str | None  # the suggestion
    primary_category: str | None
    confidence: float
    reason: str
    source: str
    transaction_id: str | None
    alternatives: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a decision was resolved and what feedback stored and learned."""

    decision_id: str
    category: str
    accepted: bool  # True when the reviewer took the suggestion
    feedback: FeedbackResult


def _open(tenant: str) -> Any:
    # A newer decision about the same stored transaction (a backfill, a re-ingest) supersedes
    # an open one: a reviewer sees each transaction once, as it was last decided.
    newer = aliased(Decision)
    superseded = (
        select(newer.id)
        .where(
            newer.tenant_id == Decision.tenant_id,
            newer.transaction_id == Decision.transaction_id,
            newer.created_at > Decision.created_at,
        )
        .exists()
    )
    return and_(
        Decision.tenant_id == tenant,
        Decision.route == Route.REVIEW.value,
        Decision.resolved_at.is_(None),
        ~superseded,
    )


def open_count(session: Session, tenant: str) -> int:
    """How many of the tenant's decisions wait for review."""
    return int(session.scalar(select(func.count()).select_from(Decision).where(_open(tenant))) or 0)


def review_queue(session: Session, tenant: str, limit: int = 50) -> list[ReviewItem]:
    """The tenant's unresolved review decisions, oldest first, at most `limit` of them.

    Amount, date and merchant come from the decision's features, else from its stored
    transaction (of the same tenant).
    """
    limit = max(1, min(limit, MAX_QUEUE_PAGE))
    stmt = (
        select(Decision, Transaction)
        .outerjoin(
            Transaction,
            and_(Transaction.id == Decision.transaction_id, Transaction.tenant_id == tenant),
        )
        .where(_open(tenant))
        .order_by(Decision.created_at, Decision.id)
        .limit(limit)
    )
    return [_item(decision, txn) for decision, txn in session.execute(stmt).all()]


def _item(row: Decision, txn: Transaction | None) -> ReviewItem:
    features = row.features or {}
    date_text = features.get("date")
    date = dt.date.fromisoformat(date_text) if isinstance(date_text, str) else None
    alternatives = features.get("alternatives")
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    return ReviewItem(
        decision_id=row.id,
        created_at=created,
        description=row.description,
        merchant=features.get("merchant") or (txn.merchant_name if txn else None),
        merchant_id=features.get("merchant_id") or (txn.merchant_id if txn else None),
        amount_minor=_first_int(features.get("amount_minor"), txn.amount_minor if txn else None),
        currency=features.get("currency") or (txn.currency if txn else None),
        direction=features.get("direction") or (txn.direction if txn else None),
        date=date or (txn.txn_date if txn else None),
        category=row.category,
        primary_category=row.primary_category,
        confidence=row.confidence,
        # The log keeps the routing reason only for decisions made at ingestion.
        reason=str(features.get("reason") or f"{row.source} confidence {row.confidence:.2f}"),
        source=row.source,
        transaction_id=row.transaction_id,
        alternatives=list(alternatives) if isinstance(alternatives, list) else [],
    )


def _first_int(*values: object) -> int | None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def resolve(
    log: DecisionLog,
    tenant: str,
    decision_id: str,
    *,
    category: str | None,
    by: str | None,
) -> Resolution:
    """Settle one queued decision with its suggestion (`category` None) or another category.

    Two reviewers racing on one decision may both get through (the check and the write are
    not one transaction); the later answer then wins, as a later /feedback would.

    Raises:
        UnknownDecisionError: the tenant has no such decision.
        NotInReviewError: the decision was not routed to review.
        AlreadyResolvedError: it was resolved before.
        NothingToAcceptError: `category` is None and the decision suggests none.
        UnknownCategoryError: the category is not in the tenant's taxonomy.
    """
    record = log.get(tenant, decision_id)
    if record is None:
        raise UnknownDecisionError(f"no decision {decision_id!r}")
    if record.route != Route.REVIEW.value:
        raise NotInReviewError(
            f"decision {decision_id!r} was routed to {record.route!r}, not to review; "
            "correct it with /feedback"
        )
    if record.resolved_at is not None:
        who = f" by {record.resolved_by!r}" if record.resolved_by else ""
        raise AlreadyResolvedError(
            f"decision {decision_id!r} was already resolved{who} at "
            f"{record.resolved_at.isoformat()}"
        )
    chosen = category or record.category
    if chosen is None:
        raise NothingToAcceptError(
            f"decision {decision_id!r} suggests no category: give one to resolve it"
        )
    result = log.feedback(tenant, decision_id, chosen, by=by)
    return Resolution(
        decision_id=decision_id,
        category=chosen,
        accepted=chosen == record.category,
        feedback=result,
    )
