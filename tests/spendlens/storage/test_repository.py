"""Tenant-scoped queries: one tenant never sees another tenant's rows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from spendlens.storage import repository as repo
from spendlens.storage.models import IngestionBatch, Transaction


def _txn(tenant: str, account_id: str, batch_id: str, fp: str, **extra: object) -> Transaction:
    values: dict[str, object] = {
        "tenant_id": tenant,
        "account_id": account_id,
        "batch_id": batch_id,
        "source": "csv",
        "txn_date": dt.date(2024, 11, 5),
        "posted_date": dt.date(2024, 11, 5),
        "description": "KING SOOPERS #0412",
        "merchant_name": "KING SOOPERS",
        "merchant_id": "m_1",
        "amount_minor": 5376,
        "currency": "USD",
        "direction": "debit",
        "fingerprint": fp,
    }
    values.update(extra)
    return Transaction(**values)


def _seed(session: Session, tenant: str, fingerprints: list[str]) -> None:
    repo.ensure_tenant(session, tenant)
    account = repo.ensure_account(session, tenant, "checking", tail="1234")
    batch = IngestionBatch(tenant_id=tenant, source="csv", filename="x.csv")
    session.add(batch)
    session.flush()
    session.add_all(_txn(tenant, account.id, batch.id, fp) for fp in fingerprints)
    session.commit()


def test_transactions_are_only_visible_to_their_tenant(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _seed(session, "alpha", ["a1", "a2"])
        _seed(session, "beta", ["b1"])
    with sessions() as session:
        assert {t.fingerprint for t in repo.list_transactions(session, "alpha")} == {"a1", "a2"}
        assert repo.count_transactions(session, "beta") == 1
        assert repo.existing_fingerprints(session, "beta", ["a1", "b1"]) == {"b1"}
        batch_of_alpha = repo.list_batches(session, "alpha")[0]
        assert repo.get_batch(session, "beta", batch_of_alpha.id) is None


def test_same_fingerprint_may_exist_once_per_tenant(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _seed(session, "alpha", ["same"])
        _seed(session, "beta", ["same"])
        assert repo.count_transactions(session, "alpha") == 1
        assert repo.count_transactions(session, "beta") == 1


def test_duplicate_fingerprint_within_a_tenant_is_refused_by_the_database(
    sessions: sessionmaker[Session],
) -> None:
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    with sessions() as session:
        _seed(session, "alpha", ["dup"])
        with pytest.raises(IntegrityError):
            _seed(session, "alpha", ["dup"])


def test_linked_records_are_hidden_unless_asked_for(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _seed(session, "alpha", ["stmt"])
        canonical = repo.list_transactions(session, "alpha")[0]
        session.add(
            _txn(
                "alpha", canonical.account_id, canonical.batch_id, "sms", linked_to_id=canonical.id
            )
        )
        session.commit()
        assert repo.count_transactions(session, "alpha") == 1
        everything = repo.TransactionFilter(include_linked=True)
        assert repo.count_transactions(session, "alpha", everything) == 2


def test_search_filter_matches_description_case_insensitively(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _seed(session, "alpha", ["x"])
        found = repo.list_transactions(session, "alpha", repo.TransactionFilter(search="soopers"))
        assert len(found) == 1
        missing = repo.list_transactions(session, "alpha", repo.TransactionFilter(search="nothing"))
        assert missing == []


@pytest.mark.parametrize("bad", ["", "Has Space", "UPPER", "a" * 65, "../etc"])
def test_invalid_tenant_ids_are_refused(bad: str) -> None:
    with pytest.raises(repo.TenantError):
        repo.validate_tenant_id(bad)
