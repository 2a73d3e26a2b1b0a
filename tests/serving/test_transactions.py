"""Transactions over HTTP: ingestion, the listing, the spend report and the CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from serving import transactions as txns
from serving.decisions import InMemoryDecisionLog
from spendlens.ingest.loader import default_normalizer
from spendlens.settings import Settings
from tests.serving.conftest import Backend, FakeCategorizer, SqlBackend, bearer
from tests.serving.review_fakes import COFFEE, GROCERIES, RoutingCategorizer, create_api_keys

# Line 1 is the header; lines 4 and 6 are malformed.
STATEMENT = b"""Date,Description,Amount
2026-03-01,STARBUCKS STORE 12,-4.50
2026-03-03,MEGAMART 7,-20.00
2026-03-04,MEGAMART 7,abc
2026-03-20,ACME PAYROLL,1000.00
not-a-date,X,-1
2026-04-02,STARBUCKS STORE 12,-3.25
2026-04-10,MEGAMART 7,-12.75
"""
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def keys(backend: Backend, sql_backend: SqlBackend) -> Iterator[dict[str, str]]:
    previous: FakeCategorizer = backend.categorizer
    backend.categorizer = RoutingCategorizer()
    yield create_api_keys(sql_backend.sessions)
    backend.categorizer = previous


def _upload(client: TestClient, key: str, data: bytes = STATEMENT) -> dict[str, Any]:
    response = client.post("/transactions/ingest", content=data, headers={**bearer(key), **CSV})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _list(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/transactions", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_csv_upload_reports_rejects_and_categorizes_valid_rows(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    body = _upload(app_client, keys["admin"])
    assert body["source"] == "csv"
    assert (body["rows_total"], body["loaded"], body["rejected"]) == (7, 5, 2)
    assert [(r["line"], r["reason"]) for r in body["rejects"]] == [
        (4, "unparseable amount 'abc'"),
        (6, "bad date 'not-a-date'"),
    ]
    assert (body["categorized"], body["review"], body["uncategorized"]) == (5, 3, 0)
    listed = _list(app_client, keys["categorize"])
    assert listed["total"] == 5
    shown = {(t["date"], t["category"], t["category_source"]) for t in listed["items"]}
    assert ("2026-03-01", COFFEE, "rule") in shown
    assert ("2026-03-03", GROCERIES, "model") in shown
    again = _upload(app_client, keys["admin"])
    assert (again["loaded"], again["duplicates"], again["categorized"]) == (0, 5, 0)


def test_json_list_upload_rejects_bad_items_by_number(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    item = {"id": "t1", "account": "acct-1234", "currency": "usd", "amount": "-9.99"}
    items = [
        {**item, "date": "2026-05-01", "description": "STARBUCKS 1"},
        {**item, "id": "t2", "date": "yesterday", "description": "BAD"},
    ]
    response = app_client.post("/transactions/ingest", json=items, headers=bearer(keys["admin"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["loaded"], body["rejected"]) == ("json", 1, 1)
    assert body["rejects"][0]["line"] == 2
    assert "date" in body["rejects"][0]["reason"]
    assert _list(app_client, keys["categorize"])["items"][0]["category"] == COFFEE


def test_multipart_upload_with_form_fields(app_client: TestClient, keys: dict[str, str]) -> None:
    response = app_client.post(
        "/transactions/ingest",
        files={"file": ("march.csv", STATEMENT, "text/csv")},
        data={"account": "checking"},
        headers=bearer(keys["admin"]),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["filename"], response.json()["loaded"]) == ("march.csv", 5)
    no_file = app_client.post(
        "/transactions/ingest",
        data={"account": "x"},
        files={"other": ("a", b"b")},
        headers=bearer(keys["admin"]),
    )
    assert no_file.status_code == 422


def test_unusable_uploads_are_4xx(app_client: TestClient, keys: dict[str, str]) -> None:
    admin = {**bearer(keys["admin"]), **CSV}
    empty = app_client.post("/transactions/ingest", content=b"", headers=admin)
    assert empty.status_code == 422
    assert empty.json()["error"]
    binary = app_client.post("/transactions/ingest", content=b"\x00\xff" * 50, headers=admin)
    assert binary.status_code == 422
    bad_format = app_client.post(
        "/transactions/ingest", params={"format": "xls"}, content=STATEMENT, headers=admin
    )
    assert bad_format.status_code == 422
    assert bad_format.json()["detail"][0]["loc"] == ["format"]


def test_ingest_needs_an_admin_key(app_client: TestClient, keys: dict[str, str]) -> None:
    assert (
        app_client.post("/transactions/ingest", content=STATEMENT, headers=CSV).status_code == 401
    )
    for name in ("review", "categorize"):
        response = app_client.post(
            "/transactions/ingest", content=STATEMENT, headers={**bearer(keys[name]), **CSV}
        )
        assert response.status_code == 403
    assert app_client.get("/transactions/ingest", headers=bearer(keys["admin"])).status_code == 405
    assert _list(app_client, keys["categorize"])["total"] == 0


def test_listing_filters_and_pagination(app_client: TestClient, keys: dict[str, str]) -> None:
    _upload(app_client, keys["admin"])
    key = keys["review"]  # review keys may list too
    march = _list(app_client, key, date_from="2026-03-02", date_until="2026-03-31")
    assert [t["description"] for t in march["items"]] == ["ACME PAYROLL", "MEGAMART 7"]
    assert march["items"][0]["amount"] == "1000.00"
    assert march["items"][1]["amount"] == "-20.00"
    coffee = _list(app_client, key, category=COFFEE)
    assert [t["date"] for t in coffee["items"]] == ["2026-04-02", "2026-03-01"]
    assert _list(app_client, key, search="payroll")["total"] == 1
    pages, cursor = 0, None
    seen: list[str] = []
    while True:
        page = _list(app_client, key, limit=2, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen.extend(t["id"] for t in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [t["id"] for t in _list(app_client, key, limit=100)["items"]]
    assert len(set(seen)) == 5


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"date_from": "March"}, ["date_from"]),
        ({"date_from": "2026-04-01", "date_until": "2026-03-01"}, []),
        ({"limit": "5000"}, ["limit"]),
        ({"limit": "-1"}, ["limit"]),
        ({"cursor": "garbage"}, ["cursor"]),
        ({"colour": "red"}, ["colour"]),
    ],
)
def test_invalid_listing_parameters_are_422(
    app_client: TestClient, keys: dict[str, str], params: dict[str, str], loc: list[str]
) -> None:
    for path in ("/transactions", "/transactions/export.csv"):
        response = app_client.get(path, params=params, headers=bearer(keys["categorize"]))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["loc"] == loc


def test_listing_needs_a_categorize_or_review_key(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    for path in ("/transactions", "/transactions/export.csv", "/reports/spend"):
        assert app_client.get(path).status_code == 401
        response = app_client.get(path, headers=bearer(keys["feedback"]))
        assert response.status_code == 403
        assert "'categorize' or 'review'" in response.json()["error"]
        assert app_client.post(path, json={}, headers=bearer(keys["categorize"])).status_code == 405


def test_spend_report_matches_hand_computed_totals(
    app_client: TestClient, keys: dict[str, str], sql_backend: SqlBackend
) -> None:
    _upload(app_client, keys["admin"])
    # A person relabels the April MEGAMART purchase as coffee: the report follows the label.
    april = _list(app_client, keys["review"], date_from="2026-04-10")["items"][0]
    queue = app_client.get("/review/queue", headers=bearer(keys["review"])).json()["items"]
    decision = next(i for i in queue if i["transaction_id"] == april["id"])
    resolved = app_client.post(
        f"/review/{decision['decision_id']}/resolve",
        json={"category": COFFEE},
        headers=bearer(keys["review"]),
    )
    assert resolved.status_code == 200, resolved.text
    response = app_client.get("/reports/spend", headers=bearer(keys["categorize"]))
    assert response.status_code == 200, response.text
    body = response.json()
    # March: groceries 20.00, coffee 4.50 (payroll 1000.00 is a credit); April: 3.25 + 12.75.
    assert [
        (s["month"], s["category"], s["total_minor"], s["total"], s["count"]) for s in body["lines"]
    ] == [
        ("2026-03", GROCERIES, 2000, "20.00", 1),
        ("2026-03", COFFEE, 450, "4.50", 1),
        ("2026-04", COFFEE, 1600, "16.00", 2),
    ]
    assert [(c["month"], c["total"]) for c in body["credits"]] == [("2026-03", "1000.00")]
    assert "never subtracted" in body["credits_handling"]
    march = app_client.get(
        "/reports/spend",
        params={"date_from": "2026-03-01", "date_until": "2026-03-31"},
        headers=bearer(keys["categorize"]),
    ).json()
    assert sum(s["total_minor"] for s in march["lines"]) == 2450
    bad = app_client.get(
        "/reports/spend", params={"date_until": "2026-13-01"}, headers=bearer(keys["categorize"])
    )
    assert bad.status_code == 422


def test_csv_export_parses_back(app_client: TestClient, keys: dict[str, str]) -> None:
    _upload(app_client, keys["admin"])
    response = app_client.get(
        "/transactions/export.csv", params={"search": "megamart"}, headers=bearer(keys["review"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    listed = _list(app_client, keys["review"], search="megamart")["items"]
    assert [r["id"] for r in rows] == [t["id"] for t in listed]
    assert [(r["date"], r["amount"], r["category"]) for r in rows] == [
        ("2026-04-10", "-12.75", GROCERIES),
        ("2026-03-03", "-20.00", GROCERIES),
    ]


def test_another_tenant_never_sees_this_tenants_transactions(
    app_client: TestClient, keys: dict[str, str], sql_backend: SqlBackend
) -> None:
    _upload(app_client, keys["admin"])
    theirs = bearer(keys["globex"])
    assert _list(app_client, keys["globex"])["total"] == 0
    report = app_client.get("/reports/spend", headers=theirs).json()
    assert (report["lines"], report["credits"]) == ([], [])
    export = app_client.get("/transactions/export.csv", headers=theirs)
    assert export.text.strip().count("\n") == 0  # the header only
    # globex is not served by this service's categorizers: its uploads are refused
    refused = app_client.post("/transactions/ingest", content=STATEMENT, headers={**theirs, **CSV})
    assert refused.status_code == 403
    # globex data stored by its own service stays invisible to acme
    settings = Settings()
    txns.ingest(
        b"Date,Description,Amount\n2026-03-02,GLOBEX SECRET,-99.00\n",
        "g.csv",
        tenant="globex",
        sessions=sql_backend.sessions,
        settings=settings,
        categorizer=RoutingCategorizer(),
        decisions=InMemoryDecisionLog(),
        normalizer=default_normalizer(settings),
    )
    ours = _list(app_client, keys["categorize"], limit=100)
    assert "GLOBEX SECRET" not in json.dumps(ours)
    assert _list(app_client, keys["globex"])["total"] == 1


def test_database_trouble_is_503_not_500(
    app_client: TestClient, memory_log: InMemoryDecisionLog
) -> None:
    # memory_log leaves the tenant data on an unmigrated database
    for path in ("/transactions", "/reports/spend", "/transactions/export.csv", "/review/queue"):
        key = "acme-review" if path == "/review/queue" else "acme-all"
        response = app_client.get(path, headers=bearer(key))
        assert response.status_code == 503, path
        assert response.json()["error"]
