"""The BentoML service over HTTP (its ASGI app + Starlette's TestClient) with a fake categorizer,
fake keys and an in-memory decision log (see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from serving.decisions import InMemoryDecisionLog
from serving.schemas import EXPLAIN_MAX_ROWS, MAX_BATCH
from serving.service import COALESCE_MAX, Spendlens
from tests.serving.conftest import TENANT, Backend, FakeCategorizer, bearer

TXN = {"description": "STARBUCKS STORE 12", "amount": "-4.50", "date": "2026-03-01"}
KEY = bearer("acme-all")


@pytest.fixture
def client(app_client: TestClient, memory_log: InMemoryDecisionLog) -> TestClient:
    return app_client


@pytest.fixture
def fake(backend: Backend) -> FakeCategorizer:
    return backend.categorizer


def test_module_service_is_the_bentofile_entry_point() -> None:
    assert Spendlens.name == "spendlens"
    assert {"categorize", "categorize_batch", "feedback", "status"} <= set(Spendlens.apis)
    assert str(Spendlens.config["http"]["host"]) == "127.0.0.1"


def test_the_serve_supervisor_imports_neither_the_model_stack_nor_the_database() -> None:
    # `bentoml serve` imports this module in its supervisor process, which only starts the
    # worker: pandas, scikit-learn or SQLAlchemy there would be memory counted for nothing.
    probe = (
        "import json, sys; import serving.service; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(  # noqa: S603 -- this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    loaded = set(json.loads(done.stdout))
    assert "bentoml" in loaded  # the probe did import the service
    assert loaded.isdisjoint({"pandas", "sklearn", "lightgbm", "sqlalchemy", "feast", "mlflow"})


def test_categorize_returns_a_decision(client: TestClient, fake: FakeCategorizer) -> None:
    response = client.post(
        "/categorize", json={**TXN, "mcc": "5814", "account": "chk-1"}, headers=KEY
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["category"] == "FOOD_AND_DRINK_COFFEE"
    assert body["primary_category"] == "FOOD_AND_DRINK"
    assert body["route"] == "auto"
    assert body["source"] == "rule"
    assert body["explanation"]["rule_id"] == "r-coffee"
    assert {"decision_id", "confidence", "alternatives", "model_name", "model_version"} <= set(body)
    assert fake.seen[-1].mcc == "5814"
    assert fake.seen[-1].currency == "USD"


def test_bad_body_is_422_with_field_errors(client: TestClient) -> None:
    bad = {"description": "", "amount": "lots", "date": "2026-03-01", "mcc": "12"}
    response = client.post("/categorize", json=bad, headers=KEY)
    assert response.status_code == 422
    fields = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert fields == {("description",), ("amount",), ("mcc",)}


def test_unknown_field_is_422(client: TestClient) -> None:
    response = client.post("/categorize", json={**TXN, "amout": 3}, headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["amout"]


def test_malformed_json_is_400_not_500(client: TestClient) -> None:
    response = client.post(
        "/categorize",
        content=b"{not json",
        headers={"content-type": "application/json", **KEY},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_json_that_is_not_an_object_is_422(client: TestClient) -> None:
    response = client.post("/categorize", json=[TXN], headers=KEY)
    assert response.status_code == 422
    assert response.json()["error"] == "the request body must be a JSON object"


def test_body_naming_another_tenant_is_403(client: TestClient, fake: FakeCategorizer) -> None:
    seen = len(fake.seen)
    response = client.post("/categorize", json={**TXN, "tenant": "globex"}, headers=KEY)
    assert response.status_code == 403
    assert "globex" in response.json()["error"]
    batch = {"transactions": [TXN, {**TXN, "tenant": "globex"}]}
    assert client.post("/categorize_batch", json=batch, headers=KEY).status_code == 403
    assert len(fake.seen) == seen  # refused before categorizing
    assert client.post("/categorize", json={**TXN, "tenant": TENANT}, headers=KEY).is_success


def test_batch_returns_one_decision_per_transaction(client: TestClient) -> None:
    response = client.post("/categorize_batch", json={"transactions": [TXN, TXN, TXN]}, headers=KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3
    assert len({r["decision_id"] for r in body["results"]}) == 3


def test_batch_field_errors_name_the_item(client: TestClient) -> None:
    response = client.post(
        "/categorize_batch",
        json={"transactions": [TXN, {**TXN, "date": "yesterday"}]},
        headers=KEY,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["transactions", 1, "date"]


def test_batch_over_the_limit_is_413_with_a_clear_message(client: TestClient) -> None:
    items: list[dict[str, Any]] = [TXN] * (MAX_BATCH + 1)
    response = client.post("/categorize_batch", json={"transactions": items}, headers=KEY)
    assert response.status_code == 413
    message = response.json()["error"]
    assert str(MAX_BATCH) in message
    assert str(MAX_BATCH + 1) in message


def test_ready_service_reports_readiness(client: TestClient) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    status = client.post("/status").json()
    assert status["ready"] is True
    assert status["tenants"]["acme"] == {"model_loaded": True, "db_reachable": True, "ready": True}


def test_service_without_a_model_is_not_ready(client: TestClient, fake: FakeCategorizer) -> None:
    fake.ready = False
    try:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 503
        status = client.post("/status").json()
        assert status["ready"] is False
        assert status["tenants"]["acme"]["model_loaded"] is False
    finally:
        fake.ready = True


class GatedCategorizer(FakeCategorizer):
    """Holds its first decide call until released, so that requests queue up behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def decide(self, requests: Any) -> Any:
        self.calls.append(len(requests))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(30), "the test never released the first decide call"
        return super().decide(requests)


def _post_while_gated(
    client: TestClient, gated: GatedCategorizer, bodies: list[tuple[dict[str, Any], str]]
) -> list[Any]:
    """POST one /categorize, then `bodies` (json, key) while its decide call is held."""
    results: dict[int, Any] = {}

    def post(n: int, body: dict[str, Any], key: str) -> None:
        results[n] = client.post("/categorize", json=body, headers=bearer(key))

    first = threading.Thread(target=post, args=(0, TXN, "acme-all"))
    first.start()
    assert gated.entered.wait(30)
    rest = [
        threading.Thread(target=post, args=(n, body, key))
        for n, (body, key) in enumerate(bodies, start=1)
    ]
    for thread in rest:
        thread.start()
    # They cannot be decided before the release; give them time to reach the queue.
    time.sleep(0.5)
    gated.release.set()
    for thread in [first, *rest]:
        thread.join(30)
    return [results[n] for n in range(len(bodies) + 1)]


@pytest.fixture
def gated(backend: Backend) -> Iterator[GatedCategorizer]:
    """The shared app serves a GatedCategorizer for the test."""
    categorizer = GatedCategorizer()
    backend.categorizer, previous = categorizer, backend.categorizer
    yield categorizer
    backend.categorizer = previous


def test_concurrent_single_requests_are_decided_together_and_each_logged(
    client: TestClient, gated: GatedCategorizer, memory_log: InMemoryDecisionLog
) -> None:
    bodies = [({**TXN, "description": f"STARBUCKS STORE {n}"}, "acme-all") for n in range(6)]
    responses = _post_while_gated(client, gated, bodies)
    assert [r.status_code for r in responses] == [200] * 7
    ids = [r.json()["decision_id"] for r in responses]
    assert len(set(ids)) == 7
    assert set(ids) == set(memory_log.rows)  # every decision returned is logged
    assert gated.calls[0] == 1
    assert sum(gated.calls[1:]) == 6
    assert len(gated.calls) < 7  # the six that queued were not decided one by one
    assert max(gated.calls) <= COALESCE_MAX <= EXPLAIN_MAX_ROWS  # explained, as when alone
    # One log write per decide call, not per request.
    assert [len(w) for w in memory_log.writes] == gated.calls


def test_requests_decided_together_keep_their_own_errors(
    client: TestClient, gated: GatedCategorizer, memory_log: InMemoryDecisionLog
) -> None:
    responses = _post_while_gated(
        client,
        gated,
        [
            (TXN, "acme-all"),
            ({**TXN, "amount": "lots"}, "acme-all"),
            (TXN, "acme-review"),  # no categorize scope
            (TXN, "nobody"),
            ({**TXN, "tenant": "globex"}, "acme-all"),
            (TXN, "acme-all"),
        ],
    )
    assert [r.status_code for r in responses] == [200, 200, 422, 403, 401, 403, 200]
    assert responses[2].json()["detail"][0]["loc"] == ["amount"]
    assert len(memory_log.rows) == 3
    assert sum(gated.calls) == 3


def test_a_failing_decision_log_fails_every_request_decided_with_it(
    client: TestClient, gated: GatedCategorizer, memory_log: InMemoryDecisionLog
) -> None:
    memory_log.fail = True
    try:
        responses = _post_while_gated(client, gated, [(TXN, "acme-all")] * 4)
    finally:
        memory_log.fail = False
    assert [r.status_code for r in responses] == [503] * 5
    assert all("decision log" in r.json()["error"] for r in responses)
    assert not memory_log.rows
