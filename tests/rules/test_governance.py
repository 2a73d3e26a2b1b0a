"""Governed learning on stored corrections: learn, back off on disagreement, per tenant."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from rules import governance, store
from rules.learning import LearningDecision
from rules.models import CreatedBy
from spendlens.ingest.loader import IngestOptions, csv_options_from_settings, ingest_bytes
from spendlens.settings import Settings
from spendlens.storage import repository as repo
from spendlens.storage.taxonomies import taxonomy_id

STATEMENT = b"""Date,Description,Amount
2024-11-01,MEGAMART #0012,-20.00
2024-11-02,MEGAMART #0012,-35.00
2024-11-03,MEGAMART #0012,-499.00
2024-11-04,CORNER BAKERY 77,-6.00
"""
GROCERIES = "FOOD_AND_DRINK_GROCERIES"
ELECTRONICS = "GENERAL_MERCHANDISE_ELECTRONICS"


def _load(sessions: sessionmaker[Session], settings: Settings, tenant: str) -> list[str]:
    options = IngestOptions(tenant=tenant, csv=csv_options_from_settings(settings))
    ingest_bytes(STATEMENT, "s.csv", sessions, settings, options)
    with sessions() as session:
        rows = repo.list_transactions(session, tenant, limit=10)
    return [t.id for t in sorted(rows, key=lambda t: t.txn_date)]


def _correct(
    sessions: sessionmaker[Session], settings: Settings, tenant: str, txn: str, category: str
) -> list[LearningDecision]:
    with sessions() as session:
        tax = taxonomy_id(session, tenant, "default")
        repo.record_feedback(session, tenant, txn, category, tax, by="alice")
        decisions = governance.learn(session, tenant, settings)
        session.commit()
    return decisions


def test_two_agreeing_corrections_learn_an_explained_merchant_rule(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    ids = _load(sessions, settings, "alpha")
    assert [d.action for d in _correct(sessions, settings, "alpha", ids[0], GROCERIES)] == ["none"]
    decisions = _correct(sessions, settings, "alpha", ids[1], GROCERIES)
    assert [d.action for d in decisions] == ["create"]
    with sessions() as session:
        (rule,) = [
            r for r in store.list_rules(session, "alpha") if r.created_by is CreatedBy.LEARNED
        ]
    assert rule.category == GROCERIES
    assert rule.enabled
    assert rule.note is not None
    assert "learned from corrections" in rule.note
    assert rule.conditions[0].model_dump()["value"] == "MEGAMART"


def test_a_contradicting_correction_disables_the_rule_and_marks_the_merchant_ambiguous(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    ids = _load(sessions, settings, "alpha")
    _correct(sessions, settings, "alpha", ids[0], GROCERIES)
    _correct(sessions, settings, "alpha", ids[1], GROCERIES)
    decisions = _correct(sessions, settings, "alpha", ids[2], ELECTRONICS)
    assert [(d.action, d.ambiguous) for d in decisions] == [("disable", True)]
    with sessions() as session:
        (rule,) = store.list_rules(session, "alpha")
        flags = store.ambiguous_merchants(session, "alpha")
    assert not rule.enabled
    assert rule.note is not None
    assert "disagree" in rule.note
    assert list(flags.values()) == [decisions[0].reason]


def test_corrections_of_one_tenant_never_create_rules_for_another(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    alpha = _load(sessions, settings, "alpha")
    _load(sessions, settings, "beta")
    _correct(sessions, settings, "alpha", alpha[0], GROCERIES)
    _correct(sessions, settings, "alpha", alpha[1], GROCERIES)
    with sessions() as session:
        assert len(store.list_rules(session, "alpha")) == 1
        assert store.list_rules(session, "beta") == []
        assert governance.load_corrections(session, "beta") == []
        assert store.rules_version(session, "beta") == 0


def test_feedback_for_another_tenants_transaction_is_refused(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    alpha = _load(sessions, settings, "alpha")
    _load(sessions, settings, "beta")
    with sessions() as session:
        tax = taxonomy_id(session, "beta", "default")
        try:
            repo.record_feedback(session, "beta", alpha[0], GROCERIES, tax, by="mallory")
        except repo.UnknownTransactionError:
            return
    raise AssertionError("beta could label alpha's transaction")
