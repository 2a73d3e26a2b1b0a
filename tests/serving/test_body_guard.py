"""JSONBodyGuard's direct route: /categorize answered by the live service, not BentoML's API.

The guard is driven as a plain ASGI app with a fake service and a fake inner app (what BentoML
would run); the service over HTTP is tested in test_service.py, through this same route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any, cast

import pytest
from starlette.responses import JSONResponse, Response

from serving.service import JSON_KEY, JSONBodyGuard, LiveService, Spendlens, SpendlensAPI
from tests.serving.conftest import Backend, BackendPool

BODY = {"description": "STARBUCKS STORE 12", "amount": "-4.50", "date": "2026-03-01"}


class FakeAPI:
    """Answers every /categorize body with 200 and what it was given, or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.asked: list[tuple[dict[str, Any], str | None]] = []

    async def answer_single(self, payload: dict[str, Any], key: str | None) -> Response:
        self.asked.append((payload, key))
        if self.error is not None:
            raise self.error
        return JSONResponse({"answered_by": "service", "key": key})


class InnerApp:
    """What BentoML would run behind the guard: records the scope and body it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.calls.append((dict(scope), message.get("body", b"")))
        await JSONResponse({"answered_by": "bentoml"})(scope, receive, send)


def _post(guard: JSONBodyGuard, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST `body` to `path` through the guard; (status, JSON body)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"authorization", b"Bearer k-1"), (b"content-type", b"application/json")],
        "query_string": b"",
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(guard(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload)


def _guard(api: FakeAPI | None) -> tuple[JSONBodyGuard, InnerApp]:
    live = LiveService()
    live.instance = cast(SpendlensAPI, api)  # the guard only calls answer_single
    inner = InnerApp()
    return JSONBodyGuard(inner, live=live), inner


def test_categorize_is_answered_by_the_live_service_without_bentoml() -> None:
    api = FakeAPI()
    guard, inner = _guard(api)
    status, body = _post(guard, "/categorize", json.dumps(BODY).encode())
    assert (status, body) == (200, {"answered_by": "service", "key": "k-1"})
    assert api.asked == [(BODY, "k-1")]
    assert inner.calls == []


def test_categorize_goes_to_bentoml_while_no_service_is_live() -> None:
    guard, inner = _guard(None)
    status, body = _post(guard, "/categorize", json.dumps(BODY).encode())
    assert (status, body) == (200, {"answered_by": "bentoml"})
    [(scope, forwarded)] = inner.calls
    assert scope[JSON_KEY] == BODY  # parsed once, handed over
    assert forwarded == b"{}"


@pytest.mark.parametrize("path", ["/categorize_batch", "/feedback"])
def test_other_guarded_routes_still_go_to_bentoml(path: str) -> None:
    api = FakeAPI()
    guard, inner = _guard(api)
    status, body = _post(guard, path, json.dumps({"transactions": []}).encode())
    assert (status, body) == (200, {"answered_by": "bentoml"})
    assert len(inner.calls) == 1
    assert api.asked == []


def test_bad_json_is_refused_before_the_service_sees_it() -> None:
    api = FakeAPI()
    guard, inner = _guard(api)
    status, body = _post(guard, "/categorize", b"{not json")
    assert status == 400
    assert "not valid JSON" in body["error"]
    assert api.asked == []
    assert inner.calls == []


def test_an_unexpected_failure_is_a_json_500_not_a_stack_trace() -> None:
    guard, _ = _guard(FakeAPI(error=RuntimeError("boom in a handler")))
    status, body = _post(guard, "/categorize", json.dumps(BODY).encode())
    assert status == 500
    assert body["error"] == "internal error; see the service log"
    assert "boom" not in json.dumps(body)


def test_the_service_registers_itself_until_it_shuts_down() -> None:
    backend = Backend()
    live = LiveService()
    probe = type(
        "LiveProbe",
        (SpendlensAPI,),
        {
            "live": live,
            "pool_factory": staticmethod(lambda: BackendPool(backend)),
            "authenticator_factory": staticmethod(lambda: backend.authenticate),
            "decision_log_factory": staticmethod(lambda: backend.log),
        },
    )
    api: SpendlensAPI = probe()
    registered = live.instance
    assert registered is api
    api._stop_reloading()
    assert live.instance is None


def test_the_served_guard_knows_its_service() -> None:
    live = Spendlens.inner.live
    assert isinstance(live, LiveService)
    assert (JSONBodyGuard, {"live": live}) in Spendlens.middlewares
