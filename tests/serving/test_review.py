"""The review queue over HTTP: GET /review/queue and POST /review/{id}/resolve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from spendlens.storage.models import Decision, Label
from tests.serving.conftest import Backend, FakeCategorizer, SqlBackend, bearer
from tests.serving.review_fakes import (
    COFFEE,
    GROCERIES,
    LOW_REASON,
    RoutingCategorizer,
    create_api_keys,
)

STATEMENT = b"""Date,Description,Amount
2026-03-01,STARBUCKS STORE 12,-4.50
2026-03-03,MEGAMART 7,-20.00
2026-03-05,MYSTERY SHOP,-7.00
2026-03-09,MEGAMART 7,-12.75
"""


@pytest.fixture
def keys(backend: Backend, sql_backend: SqlBackend) -> Iterator[dict[str, str]]:
    """Real keys and the routing fake as acme's categorizer; acme's statement is loaded."""
    previous: FakeCategorizer = backend.categorizer
    backend.categorizer = RoutingCategorizer()
    yield create_api_keys(sql_backend.sessions)
    backend.categorizer = previous


def _load(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**bearer(keys["admin"]), "Content-Type": "text/csv"}
    response = client.post("/transactions/ingest", content=STATEMENT, headers=headers)
    assert response.status_code == 200, response.text


def _queue(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/review/queue", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_low_confidence_decision_round_trip(
    app_client: TestClient, keys: dict[str, str], sql_backend: SqlBackend
) -> None:
    _load(app_client, keys)
    queue = _queue(app_client, keys["review"])
    assert (queue["open"], queue["count"]) == (3, 3)
    first = queue["items"][0]
    assert first["description"] == "MEGAMART 7"
    assert first["date"] == "2026-03-03"
    assert (first["amount"], first["currency"]) == ("-20.00", "USD")
    assert (first["category"], first["confidence"], first["reason"]) == (
        GROCERIES,
        0.55,
        LOW_REASON,
    )
    assert [a["category"] for a in first["alternatives"]] == [GROCERIES, COFFEE]
    assert [i["date"] for i in queue["items"]] == ["2026-03-03", "2026-03-05", "2026-03-09"]

    response = app_client.post(
        f"/review/{first['decision_id']}/resolve", json={}, headers=bearer(keys["review"])
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["category"], body["accepted"], body["stored_on"]) == (
        GROCERIES,
        True,
        "transaction",
    )
    assert body["resolved_by"].startswith("api-key:")

    after = _queue(app_client, keys["review"])
    assert after["open"] == 2
    assert first["decision_id"] not in {i["decision_id"] for i in after["items"]}
    with sql_backend.sessions() as session:
        label = session.scalar(select(Label).where(Label.transaction_id == first["transaction_id"]))
        decision = session.get(Decision, first["decision_id"])
    assert label is not None
    assert label.category == GROCERIES
    assert decision is not None
    assert decision.resolved_at is not None


def test_resolutions_feed_governed_learning(app_client: TestClient, keys: dict[str, str]) -> None:
    _load(app_client, keys)
    items = _queue(app_client, keys["review"])["items"]
    megamart = [i["decision_id"] for i in items if i["description"] == "MEGAMART 7"]
    learned: list[dict[str, Any]] = []
    for decision_id, by in zip(megamart, ("ann", "bob"), strict=True):
        response = app_client.post(
            f"/review/{decision_id}/resolve",
            json={"category": COFFEE, "by": by},
            headers=bearer(keys["review"]),
        )
        assert response.status_code == 200, response.text
        assert (response.json()["accepted"], response.json()["resolved_by"]) == (False, by)
        learned = response.json()["learned"]
    # two agreeing corrections of one merchant: governed learning creates a rule
    assert [d["action"] for d in learned] == ["create"]
    assert learned[0]["rule_id"]


def test_resolve_refusals(
    app_client: TestClient, keys: dict[str, str], sql_backend: SqlBackend
) -> None:
    _load(app_client, keys)
    key = bearer(keys["review"])
    items = _queue(app_client, keys["review"])["items"]
    first, fallback = items[0]["decision_id"], items[1]["decision_id"]
    assert app_client.post(f"/review/{first}/resolve", json={}, headers=key).status_code == 200
    again = app_client.post(f"/review/{first}/resolve", json={"category": COFFEE}, headers=key)
    assert again.status_code == 409
    assert "already resolved" in again.json()["error"]
    with sql_backend.sessions() as session:
        auto = session.scalar(select(Decision.id).where(Decision.route == "auto"))
    not_review = app_client.post(f"/review/{auto}/resolve", json={}, headers=key)
    assert not_review.status_code == 409
    nothing = app_client.post(f"/review/{fallback}/resolve", json={}, headers=key)
    assert nothing.status_code == 422
    assert "suggests no category" in nothing.json()["error"]
    unknown_label = app_client.post(
        f"/review/{fallback}/resolve", json={"category": "NOPE"}, headers=key
    )
    assert unknown_label.status_code == 422
    assert app_client.post(f"/review/{'0' * 32}/resolve", json={}, headers=key).status_code == 404
    not_json = app_client.post(f"/review/{fallback}/resolve", content=b"{", headers=key)
    assert not_json.status_code == 400
    a_list = app_client.post(f"/review/{fallback}/resolve", json=[1], headers=key)
    assert a_list.status_code == 422
    extra = app_client.post(f"/review/{fallback}/resolve", json={"colour": "red"}, headers=key)
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["colour"]
    assert app_client.get(f"/review/{fallback}/resolve", headers=key).status_code == 405
    # none of the refused calls resolved the fallback
    assert fallback in {i["decision_id"] for i in _queue(app_client, keys["review"])["items"]}


def test_review_needs_the_review_scope_and_valid_parameters(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    _load(app_client, keys)
    assert app_client.get("/review/queue").status_code == 401
    assert app_client.post(f"/review/{'0' * 32}/resolve", json={}).status_code == 401
    assert app_client.get("/review/queue", headers=bearer("sl_00000000_nope")).status_code == 401
    for name in ("categorize", "feedback"):
        assert app_client.get("/review/queue", headers=bearer(keys[name])).status_code == 403
    decision_id = _queue(app_client, keys["admin"])["items"][0]["decision_id"]
    forbidden = app_client.post(
        f"/review/{decision_id}/resolve", json={}, headers=bearer(keys["categorize"])
    )
    assert forbidden.status_code == 403
    for params in ({"limit": "0"}, {"limit": "abc"}, {"limit": "501"}):
        response = app_client.get("/review/queue", params=params, headers=bearer(keys["review"]))
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == ["limit"]
    unknown = app_client.get("/review/queue", params={"lmit": 2}, headers=bearer(keys["review"]))
    assert unknown.status_code == 422
    assert _queue(app_client, keys["review"], limit=1)["count"] == 1


def test_another_tenant_neither_sees_nor_resolves_the_queue(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    _load(app_client, keys)
    ours = _queue(app_client, keys["review"])["items"]
    theirs = _queue(app_client, keys["globex"])
    assert (theirs["open"], theirs["items"]) == (0, [])
    response = app_client.post(
        f"/review/{ours[0]['decision_id']}/resolve", json={}, headers=bearer(keys["globex"])
    )
    assert response.status_code == 404
    assert len(_queue(app_client, keys["review"])["items"]) == len(ours)


def test_feedback_on_a_queued_decision_resolves_it(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    _load(app_client, keys)
    first = _queue(app_client, keys["review"])["items"][0]["decision_id"]
    body = {"decision_id": first, "category": COFFEE, "by": "ann"}
    response = app_client.post("/feedback", json=body, headers=bearer(keys["feedback"]))
    assert response.status_code == 200, response.text
    assert first not in {i["decision_id"] for i in _queue(app_client, keys["review"])["items"]}
    again = app_client.post(f"/review/{first}/resolve", json={}, headers=bearer(keys["review"]))
    assert again.status_code == 409
    assert "'ann'" in again.json()["error"]
