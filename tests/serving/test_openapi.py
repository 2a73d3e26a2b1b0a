"""The docs page's OpenAPI document names the real request models and methods."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from serving.openapi import GET_QUERIES, JSON_BODIES


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def test_json_endpoints_document_their_request_models(app_client: TestClient) -> None:
    doc = app_client.get("/docs.json").json()

    body = doc["paths"]["/categorize"]["post"]["requestBody"]["content"]["application/json"]
    schema = _resolve(doc, body["schema"]["$ref"])
    assert {"description", "amount", "date"} <= set(schema["required"])
    assert "currency" in schema["properties"]
    batch = doc["paths"]["/categorize_batch"]["post"]["requestBody"]["content"]
    batch_schema = _resolve(doc, batch["application/json"]["schema"]["$ref"])
    assert batch_schema["properties"]["transactions"]["maxItems"] == 10_000
    assert set(JSON_BODIES) <= set(doc["paths"])


def test_read_endpoints_are_documented_as_get_with_query_parameters(
    app_client: TestClient,
) -> None:
    doc = app_client.get("/docs.json").json()

    for path in GET_QUERIES:
        assert set(doc["paths"][path]) == {"get"}, path
    names = {p["name"] for p in doc["paths"]["/transactions"]["get"]["parameters"]}
    assert {"date_from", "date_until", "category", "search", "limit"} <= names
    assert all(p["in"] == "query" for p in doc["paths"]["/reports/spend"]["get"]["parameters"])
