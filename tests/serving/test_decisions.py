"""The SQL decision log on SQLite and PostgreSQL, the request fingerprint, and decide()."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.decisions import (
    DecisionRecord,
    SqlDecisionLog,
    UnknownDecisionError,
    canonical_request,
    fingerprint,
    new_decision_id,
)
from serving.runtime import Categorizer, ServingModel
from serving.schemas import CategorizeRequest
from spendlens.normalize.transaction import Normalizer
from spendlens.settings import Settings
from spendlens.storage.models import Decision
from spendlens.storage.repository import ensure_tenant
from tests.serving.test_runtime import TAXONOMY, FakeFeatures, FakeModel

REQUEST = CategorizeRequest(
    description="UBER TRIP 123", amount=Decimal("-12.30"), date="2026-03-01"
)


def _record(tenant: str, **changes: Any) -> DecisionRecord:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant,
        "created_at": dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
        "fingerprint": fingerprint(tenant, REQUEST),
        "description": "UBER TRIP ***",
        "category": "TRANSPORTATION_TAXIS_AND_RIDE_SHARES",
        "primary_category": "TRANSPORTATION",
        "confidence": 0.93,
        "route": "auto",
        "source": "model",
        "model_name": "spendlens-acme-default",
        "model_version": "3",
        "features": {"merchant_id": "m-uber", "model_input": {"m_txn_count": 42}},
    }
    values.update(changes)
    return DecisionRecord(**values)


@pytest.fixture
def log(sessions: sessionmaker[Session], settings: Settings) -> SqlDecisionLog:
    with sessions.begin() as session:
        ensure_tenant(session, "acme")
        ensure_tenant(session, "globex")
    return SqlDecisionLog(sessions, settings)


def test_a_batch_is_one_insert_statement(engine: Engine, log: SqlDecisionLog) -> None:
    inserts: list[bool] = []

    def count(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DECISIONS"):
            inserts.append(many)

    records = [_record("acme") for _ in range(50)]
    event.listen(engine, "before_cursor_execute", count)
    try:
        log.record(records)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == 1  # all 50 rows in one multi-row INSERT
    stored = log.get("acme", records[7].id)
    assert stored is not None
    assert stored.features == records[7].features
    assert stored.created_at == records[7].created_at
    assert (stored.model_name, stored.model_version) == ("spendlens-acme-default", "3")


def test_a_failing_batch_stores_nothing(
    log: SqlDecisionLog, sessions: sessionmaker[Session]
) -> None:
    duplicate = _record("acme")
    with pytest.raises(Exception):  # noqa: B017, PT011 -- the driver's IntegrityError
        log.record([_record("acme"), duplicate, duplicate])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0


def test_decisions_are_scoped_by_tenant(log: SqlDecisionLog) -> None:
    mine = _record("acme")
    log.record([mine])
    assert log.get("globex", mine.id) is None
    with pytest.raises(UnknownDecisionError):
        log.feedback("globex", mine.id, "FOOD_AND_DRINK_COFFEE", by=None)
    stored = log.get("acme", mine.id)
    assert stored is not None
    assert stored.corrected_category is None


def test_fingerprint_is_of_the_normalized_request() -> None:
    same = CategorizeRequest(
        description="  uber   trip 123 ",
        amount=Decimal("12.3"),
        direction="debit",
        date="2026-03-01",
    )
    assert fingerprint("acme", REQUEST) == fingerprint("acme", same)
    assert fingerprint("acme", REQUEST) != fingerprint("globex", REQUEST)
    other = REQUEST.model_copy(update={"mcc": "4121"})
    assert fingerprint("acme", REQUEST) != fingerprint("acme", other)


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    description=_TEXT,
    cents=st.integers(-(10**9), 10**9),
    account=st.none() | _TEXT,
    mcc=st.none() | st.from_regex(r"\A[0-9]{4}\Z"),
    transaction_id=st.none() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=32),
    tenant=st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z"),
)
def test_canonical_request_is_what_json_dumps_writes(
    description: str,
    cents: int,
    account: str | None,
    mcc: str | None,
    transaction_id: str | None,
    tenant: str,
) -> None:
    # Stored decisions' fingerprints must stay valid: the hand-written form is json.dumps'.
    request = CategorizeRequest(
        description=description,
        amount=Decimal(cents).scaleb(-2),
        date="2026-03-01",
        account=account,
        mcc=mcc,
        transaction_id=transaction_id,
    )
    expected = {
        "tenant": tenant,
        "description": " ".join(request.description.split()).casefold(),
        "amount_minor": request.amount_minor,
        "direction": request.resolved_direction,
        "currency": request.currency,
        "date": request.date.isoformat(),
        "mcc": request.mcc,
        "account": request.account,
        "transaction_id": request.transaction_id,
    }
    assert canonical_request(tenant, request) == json.dumps(
        expected, sort_keys=True, separators=(",", ":")
    )


def test_decide_reports_the_masked_text_and_the_values_used() -> None:
    categorizer = Categorizer(
        tenant="acme",
        normalizer=Normalizer(),
        model=ServingModel(FakeModel(), "m", "1"),
        features=FakeFeatures(),
        taxonomy=TAXONOMY,
    )
    [(response, inputs)] = categorizer.decide([REQUEST])
    assert response.source.value == "model"
    assert inputs.description
    assert inputs.features["amount_minor"] == 1230
    assert inputs.features["direction"] == "debit"
    assert inputs.features["model_input"]["m_txn_count"] == 42
    assert "description" not in inputs.features["model_input"]


def test_decision_ids_are_uuid7_ordered_by_creation_time() -> None:
    start_ns = 1_763_700_000_000_000_000  # 2025-11-21
    ids = [new_decision_id(start_ns + ms * 1_000_000) for ms in range(0, 5000, 7)]

    parsed = [uuid.UUID(hex=i) for i in ids]
    assert all(len(i) == 32 and u.hex == i for i, u in zip(ids, parsed, strict=True))
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert ids == sorted(ids)  # a later millisecond sorts later
    assert parsed[0].int >> 80 == start_ns // 1_000_000  # the timestamp field is the clock's ms
    same_ms = {new_decision_id(start_ns) for _ in range(2000)}
    assert len(same_ms) == 2000  # random bits tell ids of one millisecond apart
