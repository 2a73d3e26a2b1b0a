"""API keys, the decision log and /feedback over HTTP.

Fake keys where a key's shape is all that matters; real keys (spendlens.storage.keys) and the
real decision log on a SQLite file wherever tenants are kept apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from serving.decisions import InMemoryDecisionLog
from spendlens.storage import repository as repo
from spendlens.storage.models import Decision, IngestionBatch, Label, Transaction
from tests.serving.conftest import MERCHANT_ID, OTHER, TENANT, SqlBackend, bearer

TXN = {"description": "STARBUCKS STORE 12", "amount": "-4.50", "date": "2026-03-01"}
BATCH = {"transactions": [TXN, {**TXN, "description": "STARBUCKS 99"}, TXN]}
DATA_ENDPOINTS = [
    ("/categorize", TXN),
    ("/categorize_batch", BATCH),
    ("/feedback", {"decision_id": "0" * 32, "category": "FOOD_AND_DRINK_COFFEE"}),
]


# --- keys (fake authenticator) -----------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), DATA_ENDPOINTS)
def test_data_endpoints_need_a_key(
    app_client: TestClient, memory_log: InMemoryDecisionLog, path: str, body: dict[str, Any]
) -> None:
    response = app_client.post(path, json=body)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]
    for headers in (bearer("nope"), {"X-API-Key": "nope"}, bearer("acme-revoked")):
        response = app_client.post(path, json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "the API key is not valid"
    assert memory_log.writes == []


def test_key_in_either_header(app_client: TestClient, memory_log: InMemoryDecisionLog) -> None:
    assert app_client.post("/categorize", json=TXN, headers=bearer("acme-all")).is_success
    assert app_client.post("/categorize", json=TXN, headers={"X-API-Key": "acme-all"}).is_success
    assert len(memory_log.writes) == 2


@pytest.mark.parametrize(("path", "body"), DATA_ENDPOINTS)
def test_key_without_the_scope_is_403(
    app_client: TestClient, memory_log: InMemoryDecisionLog, path: str, body: dict[str, Any]
) -> None:
    response = app_client.post(path, json=body, headers=bearer("acme-review"))
    assert response.status_code == 403
    assert "scope" in response.json()["error"]


def test_admin_implies_every_scope(app_client: TestClient, memory_log: InMemoryDecisionLog) -> None:
    assert app_client.post("/categorize", json=TXN, headers=bearer("acme-admin")).is_success


def test_health_endpoints_stay_open(
    app_client: TestClient, memory_log: InMemoryDecisionLog
) -> None:
    assert app_client.get("/livez").status_code == 200
    assert app_client.get("/readyz").status_code == 200
    assert app_client.post("/status").status_code == 200


# --- the decision log (in memory) ---------------------------------------------------------


def test_every_returned_decision_is_logged_in_one_write(
    app_client: TestClient, memory_log: InMemoryDecisionLog
) -> None:
    response = app_client.post("/categorize_batch", json=BATCH, headers=bearer("acme-all"))
    assert response.status_code == 200
    ids = [r["decision_id"] for r in response.json()["results"]]
    assert len(memory_log.writes) == 1
    assert [r.id for r in memory_log.writes[0]] == ids
    first, second, third = memory_log.writes[0]
    assert first.tenant_id == TENANT
    assert first.fingerprint == third.fingerprint != second.fingerprint
    assert first.description == "STARBUCKS STORE 12"
    assert first.features["merchant_id"] == MERCHANT_ID
    assert first.category == "FOOD_AND_DRINK_COFFEE"
    assert first.route == "auto"
    assert first.source == "rule"
    assert first.rule_id == "r-coffee"


def test_no_decision_is_returned_when_the_log_fails(
    app_client: TestClient, memory_log: InMemoryDecisionLog
) -> None:
    memory_log.fail = True
    response = app_client.post("/categorize", json=TXN, headers=bearer("acme-all"))
    assert response.status_code == 503
    assert "decision_id" not in response.text


def test_feedback_on_a_logged_decision(
    app_client: TestClient, memory_log: InMemoryDecisionLog
) -> None:
    decided = app_client.post("/categorize", json=TXN, headers=bearer("acme-all")).json()
    body = {"decision_id": decided["decision_id"], "category": "FOOD_AND_DRINK_GROCERIES"}
    response = app_client.post("/feedback", json={**body, "by": "ann"}, headers=bearer("acme-all"))
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": True, "stored_on": "decision", "learned": []}
    row = memory_log.rows[decided["decision_id"]]
    assert (row.corrected_category, row.corrected_by) == ("FOOD_AND_DRINK_GROCERIES", "ann")


def test_feedback_body_errors(app_client: TestClient, memory_log: InMemoryDecisionLog) -> None:
    decided = app_client.post("/categorize", json=TXN, headers=bearer("acme-all")).json()
    key = bearer("acme-all")
    unknown = {"decision_id": "f" * 32, "category": "FOOD_AND_DRINK_COFFEE"}
    assert app_client.post("/feedback", json=unknown, headers=key).status_code == 404
    bad_label = {"decision_id": decided["decision_id"], "category": "Food.Coffee"}
    response = app_client.post("/feedback", json=bad_label, headers=key)
    assert response.status_code == 422
    assert "Food.Coffee" in response.json()["error"]
    response = app_client.post("/feedback", json={"category": "x"}, headers=key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["decision_id"]


# --- real keys and the real decision log (SQLite) ------------------------------------------


def _count(sql: SqlBackend, tenant: str) -> int:
    with sql.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Decision).where(Decision.tenant_id == tenant)
            )
            or 0
        )


def test_real_keys_scopes_and_revocation(app_client: TestClient, sql_backend: SqlBackend) -> None:
    keys = sql_backend.keys
    assert app_client.post("/categorize", json=TXN, headers=bearer(keys["acme"])).is_success
    assert (
        app_client.post("/categorize", json=TXN, headers={"X-API-Key": keys["acme-categorize"]})
    ).is_success
    feedback_only = app_client.post("/categorize", json=TXN, headers=bearer(keys["acme-feedback"]))
    assert feedback_only.status_code == 403
    revoked = app_client.post("/categorize", json=TXN, headers=bearer(keys["acme-revoked"]))
    assert revoked.status_code == 401
    wrong_secret = keys["acme"][:-4] + "AAAA"
    assert app_client.post("/categorize", json=TXN, headers=bearer(wrong_secret)).status_code == 401
    body = {"decision_id": "0" * 32, "category": "FOOD_AND_DRINK_COFFEE"}
    no_feedback = app_client.post("/feedback", json=body, headers=bearer(keys["acme-categorize"]))
    assert no_feedback.status_code == 403
    assert _count(sql_backend, TENANT) == 2


def test_a_key_of_another_tenant_never_acts_for_this_one(
    app_client: TestClient, sql_backend: SqlBackend
) -> None:
    acme, globex = bearer(sql_backend.keys["acme"]), bearer(sql_backend.keys["globex"])
    decided = app_client.post("/categorize", json=TXN, headers=acme).json()
    # globex's admin key: this service (a fake pool) serves acme only, and acme's decisions
    # do not exist for globex
    assert app_client.post("/categorize", json=TXN, headers=globex).status_code == 403
    tagged = {**TXN, "tenant": OTHER}
    assert app_client.post("/categorize", json=tagged, headers=globex).status_code == 403
    assert app_client.post("/categorize_batch", json=BATCH, headers=globex).status_code == 403
    correction = {"decision_id": decided["decision_id"], "category": "FOOD_AND_DRINK_GROCERIES"}
    assert app_client.post("/feedback", json=correction, headers=globex).status_code == 404
    # acme's key cannot name globex in a body either
    assert app_client.post("/categorize", json=tagged, headers=acme).status_code == 403
    batch = {"transactions": [TXN, tagged]}
    assert app_client.post("/categorize_batch", json=batch, headers=acme).status_code == 403
    assert _count(sql_backend, OTHER) == 0
    assert _count(sql_backend, TENANT) == 1
    with sql_backend.sessions() as session:
        row = session.get(Decision, decided["decision_id"])
        assert row is not None
        assert row.corrected_category is None


def test_feedback_on_another_tenants_decision_is_404(
    app_client: TestClient, sql_backend: SqlBackend
) -> None:
    # A decision of globex in the shared log (as globex's own service would write it).
    with sql_backend.sessions.begin() as session:
        session.add(
            Decision(
                id="9" * 32,
                tenant_id=OTHER,
                fingerprint="f" * 64,
                description="GLOBEX THING",
                confidence=0.5,
                route="review",
                source="model",
                features={},
            )
        )
    body = {"decision_id": "9" * 32, "category": "FOOD_AND_DRINK_COFFEE"}
    response = app_client.post("/feedback", json=body, headers=bearer(sql_backend.keys["acme"]))
    assert response.status_code == 404
    assert response.json()["error"] == f"no decision {'9' * 32!r}"
    with sql_backend.sessions() as session:
        row = session.get(Decision, "9" * 32)
        assert row is not None
        assert row.corrected_category is None


def test_batch_is_logged_with_its_features(app_client: TestClient, sql_backend: SqlBackend) -> None:
    response = app_client.post(
        "/categorize_batch", json=BATCH, headers=bearer(sql_backend.keys["acme"])
    )
    ids = [r["decision_id"] for r in response.json()["results"]]
    with sql_backend.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(Decision))}
    assert set(rows) == set(ids)
    row = rows[ids[0]]
    assert row.tenant_id == TENANT
    assert row.features == {"merchant_id": MERCHANT_ID, "mcc": None}
    assert len(row.fingerprint) == 64
    assert row.transaction_id is None


def _seed_transactions(sql: SqlBackend, count: int) -> list[str]:
    with sql.sessions.begin() as session:
        account = repo.ensure_account(session, TENANT, "checking")
        batch = IngestionBatch(tenant_id=TENANT, source="csv", filename="x.csv")
        session.add(batch)
        session.flush()
        txns = [
            Transaction(
                tenant_id=TENANT,
                account_id=account.id,
                batch_id=batch.id,
                source="csv",
                txn_date=dt.date(2026, 3, 1),
                posted_date=dt.date(2026, 3, 1),
                description="STARBUCKS STORE 12",
                merchant_name="STARBUCKS",
                merchant_id=MERCHANT_ID,
                amount_minor=450,
                currency="USD",
                direction="debit",
                fingerprint=f"fp-{i}",
            )
            for i in range(count)
        ]
        session.add_all(txns)
        session.flush()
        return [t.id for t in txns]


def test_feedback_labels_the_transaction_and_learns(
    app_client: TestClient, sql_backend: SqlBackend
) -> None:
    key = bearer(sql_backend.keys["acme"])
    txn_ids = _seed_transactions(sql_backend, 2)
    learned: list[dict[str, Any]] = []
    for txn_id in txn_ids:
        decided = app_client.post(
            "/categorize", json={**TXN, "transaction_id": txn_id}, headers=key
        )
        body = {
            "decision_id": decided.json()["decision_id"],
            "category": "FOOD_AND_DRINK_GROCERIES",
            "by": "ann",
        }
        response = app_client.post("/feedback", json=body, headers=key)
        assert response.status_code == 200, response.text
        assert response.json()["stored"] is True
        assert response.json()["stored_on"] == "transaction"
        learned = response.json()["learned"]
    # two agreeing corrections of one merchant: governed learning creates a rule
    assert [(d["action"], d["merchant_id"]) for d in learned] == [("create", MERCHANT_ID)]
    assert learned[0]["rule_id"]
    with sql_backend.sessions() as session:
        labels = list(session.scalars(select(Label).where(Label.tenant_id == TENANT)))
        assert {(lbl.transaction_id, lbl.category, lbl.created_by) for lbl in labels} == {
            (t, "FOOD_AND_DRINK_GROCERIES", "ann") for t in txn_ids
        }


def test_feedback_without_a_transaction_is_kept_on_the_decision(
    app_client: TestClient, sql_backend: SqlBackend
) -> None:
    key = bearer(sql_backend.keys["acme"])
    decided = app_client.post("/categorize", json=TXN, headers=key).json()
    body = {"decision_id": decided["decision_id"], "category": "FOOD_AND_DRINK_GROCERIES"}
    response = app_client.post("/feedback", json=body, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["stored_on"] == "decision"
    with sql_backend.sessions() as session:
        row = session.get(Decision, decided["decision_id"])
        assert row is not None
        assert row.corrected_category == "FOOD_AND_DRINK_GROCERIES"
        assert row.corrected_at is not None
        assert session.scalar(select(func.count()).select_from(Label)) == 0
    bad = {"decision_id": decided["decision_id"], "category": "NOT_A_LABEL"}
    assert app_client.post("/feedback", json=bad, headers=key).status_code == 422
