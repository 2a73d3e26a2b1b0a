"""Apply governed learning to a tenant's stored corrections (the I/O around rules/learning.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import store
from rules.learning import Correction, LearningDecision, decide_all
from rules.models import CreatedBy
from spendlens.settings import Settings
from spendlens.storage.models import Label, Transaction, utcnow

CORRECTION_SOURCES = ("feedback", "review")


def load_corrections(
    session: Session, tenant: str, merchant_ids: Iterable[str] | None = None
) -> list[Correction]:
    """The tenant's corrections (feedback and review labels) with their transaction's merchant."""
    stmt = (
        select(Label, Transaction.merchant_id, Transaction.merchant_name)
        .join(Transaction, Transaction.id == Label.transaction_id)
        .where(
            Label.tenant_id == tenant,
            Transaction.tenant_id == tenant,
            Label.source.in_(CORRECTION_SOURCES),
        )
        .order_by(Label.created_at, Label.id)
    )
    if merchant_ids is not None:
        stmt = stmt.where(Transaction.merchant_id.in_(list(merchant_ids)))
    return [
        Correction(
            id=str(label.id),
            tenant=tenant,
            merchant_id=merchant_id,
            merchant_name=merchant_name,
            category=label.category,
            at=label.created_at,
            by=label.created_by,
        )
        for label, merchant_id, merchant_name in session.execute(stmt)
    ]


def learn(
    session: Session,
    tenant: str,
    settings: Settings,
    *,
    merchant_ids: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> list[LearningDecision]:
    """Decide and apply: create/update/disable learned rules and record ambiguous merchants.

    Args:
        merchant_ids: only reconsider these merchants (the feedback API passes the one just
            corrected); None reconsiders every merchant with corrections.

    Returns:
        Every decision, including `none`, so a caller can explain what happened.
    """
    wanted = None if merchant_ids is None else list(merchant_ids)
    corrections = load_corrections(session, tenant, wanted)
    learned = [r for r in store.list_rules(session, tenant) if r.created_by is CreatedBy.LEARNED]
    decisions = decide_all(
        corrections,
        learned,
        min_agreeing=settings.learn_min_corrections,
        priority=settings.learned_rule_priority,
        confidence=settings.learned_rule_confidence,
        now=now or utcnow(),
    )
    changed = [d.rule for d in decisions if d.action != "none" and d.rule is not None]
    if changed:
        store.save_rules(session, tenant, changed)
    for decision in decisions:
        if decision.ambiguous or decision.action != "none":
            store.flag_merchant(
                session,
                tenant,
                decision.merchant_id,
                ambiguous=decision.ambiguous,
                reason=decision.reason,
            )
    return decisions
