"""The BentoML service over HTTP (its ASGI app + Starlette's TestClient) with a fake categorizer,
fake keys and an in-memory decision log (see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from serving.decisions import InMemoryDecisionLog
from serving.schemas import MAX_BATCH
from serving.service import Spendlens
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
