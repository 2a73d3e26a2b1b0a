"""serving.review on SQLite and PostgreSQL: the queue and resolving through feedback."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving import review
from serving import transactions as txns
from serving.decisions import SqlDecisionLog, UnknownCategoryError, UnknownDecisionError
from spendlens.ingest.loader import default_normalizer
from spendlens.settings import Settings
from spendlens.storage.models import Decision, Label
from tests.serving.review_fakes import COFFEE, GROCERIES, LOW_REASON, RoutingCategorizer

TENANT, OTHER = "acme", "globex"
STATEMENT = b"""Date,Description,Amount
2026-03-01,STARBUCKS STORE 12,-4.50
2026-03-03,MEGAMART 7,-20.00
2026-03-05,MYSTERY SHOP,-7.00
2026-03-09,MEGAMART 7,-12.75
"""


def _load(sessions: sessionmaker[Session], settings: Settings, tenant: str = TENANT) -> None:
    txns.ingest(
        STATEMENT,
        "statement.csv",
        tenant=tenant,
        sessions=sessions,
        settings=settings,
        categorizer=RoutingCategorizer(),
        decisions=SqlDecisionLog(sessions, settings),
        normalizer=default_normalizer(settings),
    )
    # Make "oldest first" observable: one second apart, in statement order.
    with sessions.begin() as session:
        rows = session.scalars(
            select(Decision)
            .where(Decision.tenant_id == tenant)
            .order_by(Decision.features["date"].as_string())
        )
        for i, row in enumerate(rows):
            row.created_at = dt.datetime(2026, 3, 10, 12, 0, i, tzinfo=dt.UTC)


def _queue(sessions: sessionmaker[Session], tenant: str = TENANT) -> list[review.ReviewItem]:
    with sessions() as session:
        return review.review_queue(session, tenant, limit=50)


def test_queue_holds_the_unresolved_review_decisions_oldest_first(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    _load(sessions, settings, tenant=OTHER)
    queue = _queue(sessions)
    assert [(i.description, i.date) for i in queue] == [
        ("MEGAMART 7", dt.date(2026, 3, 3)),
        ("MYSTERY SHOP", dt.date(2026, 3, 5)),
        ("MEGAMART 7", dt.date(2026, 3, 9)),
    ]
    first = queue[0]
    assert (first.category, first.confidence, first.reason) == (GROCERIES, 0.55, LOW_REASON)
    assert [a["category"] for a in first.alternatives] == [GROCERIES, COFFEE]
    assert (first.amount_minor, first.currency, first.direction) == (2000, "USD", "debit")
    assert first.merchant  # from the stored transaction: the fake's features carry none
    assert first.transaction_id is not None
    assert queue[1].category is None
    assert queue[1].source == "fallback"
    with sessions() as session:
        assert review.open_count(session, TENANT) == 3
        assert len(review.review_queue(session, TENANT, limit=2)) == 2
    other_ids = {i.decision_id for i in _queue(sessions, OTHER)}
    assert other_ids.isdisjoint(i.decision_id for i in queue)


def test_a_newer_decision_about_the_same_transaction_supersedes_the_queued_one(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    [first, *_] = _queue(sessions)
    with sessions.begin() as session:
        old = session.get(Decision, first.decision_id)
        assert old is not None
        session.add(
            Decision(
                id="d" * 32,
                tenant_id=TENANT,
                created_at=old.created_at + dt.timedelta(days=1),  # e.g. a backfill
                fingerprint=old.fingerprint,
                description=old.description,
                category=COFFEE,
                primary_category=None,
                confidence=0.3,
                route="review",
                source="model",
                features={},
                transaction_id=old.transaction_id,
            )
        )

    queue = _queue(sessions)

    assert first.decision_id not in {i.decision_id for i in queue}
    assert queue[-1].decision_id == "d" * 32
    with sessions() as session:
        assert review.open_count(session, TENANT) == 3


def test_accepting_labels_the_transaction_and_leaves_the_queue(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    log = SqlDecisionLog(sessions, settings)
    first = _queue(sessions)[0]
    done = review.resolve(log, TENANT, first.decision_id, category=None, by="ann")
    assert (done.category, done.accepted, done.feedback.stored_on) == (
        GROCERIES,
        True,
        "transaction",
    )
    assert first.decision_id not in {i.decision_id for i in _queue(sessions)}
    with sessions() as session:
        row = session.get(Decision, first.decision_id)
        assert row is not None
        assert row.resolved_by == "ann"
        assert row.resolved_at is not None
        assert row.corrected_category == GROCERIES
        labels = [tuple(r) for r in session.execute(select(Label.transaction_id, Label.category))]
    assert labels == [(first.transaction_id, GROCERIES)]


def test_two_agreeing_resolutions_teach_a_rule(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    log = SqlDecisionLog(sessions, settings)
    megamart = [i for i in _queue(sessions) if i.description == "MEGAMART 7"]
    first = review.resolve(log, TENANT, megamart[0].decision_id, category=COFFEE, by="ann")
    second = review.resolve(log, TENANT, megamart[1].decision_id, category=COFFEE, by="bob")
    assert (first.accepted, second.accepted) == (False, False)
    assert [d["action"] for d in second.feedback.learned] == ["create"]
    assert second.feedback.learned[0]["rule_id"]


def test_resolving_twice_or_a_decision_not_in_review_is_refused(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    log = SqlDecisionLog(sessions, settings)
    first = _queue(sessions)[0]
    review.resolve(log, TENANT, first.decision_id, category=None, by="ann")
    with pytest.raises(review.AlreadyResolvedError, match="'ann'"):
        review.resolve(log, TENANT, first.decision_id, category=COFFEE, by="bob")
    with sessions() as session:
        auto = session.scalar(select(Decision.id).where(Decision.route == "auto"))
    assert auto is not None
    with pytest.raises(review.NotInReviewError):
        review.resolve(log, TENANT, auto, category=COFFEE, by="ann")


def test_a_fallback_needs_a_category_and_a_known_one(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    log = SqlDecisionLog(sessions, settings)
    fallback = next(i for i in _queue(sessions) if i.category is None)
    with pytest.raises(review.NothingToAcceptError):
        review.resolve(log, TENANT, fallback.decision_id, category=None, by="ann")
    with pytest.raises(UnknownCategoryError):
        review.resolve(log, TENANT, fallback.decision_id, category="NOPE", by="ann")
    assert fallback.decision_id in {i.decision_id for i in _queue(sessions)}


def test_another_tenants_decision_is_unknown(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings, tenant=OTHER)
    log = SqlDecisionLog(sessions, settings)
    theirs = _queue(sessions, OTHER)[0]
    with pytest.raises(UnknownDecisionError):
        review.resolve(log, TENANT, theirs.decision_id, category=None, by="ann")
    assert theirs.decision_id in {i.decision_id for i in _queue(sessions, OTHER)}


def test_plain_feedback_also_resolves(sessions: sessionmaker[Session], settings: Settings) -> None:
    _load(sessions, settings)
    log = SqlDecisionLog(sessions, settings)
    first = _queue(sessions)[0]
    log.feedback(TENANT, first.decision_id, COFFEE, by="carol")
    record = log.get(TENANT, first.decision_id)
    assert record is not None
    assert (record.resolved_by, record.corrected_category) == ("carol", COFFEE)
    assert record.resolved_at is not None
    assert first.decision_id not in {i.decision_id for i in _queue(sessions)}
