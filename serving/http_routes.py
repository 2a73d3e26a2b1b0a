"""ASGI middleware that lets BentoML API methods serve REST-style routes.

BentoML 1.4 registers every `@bentoml.api` route for POST only and parses the body as the
method's input (JSON unless multipart), which cannot serve `GET /transactions?...` nor a
`text/csv` upload. In front of those routes this middleware:

* answers 405 for another method and 401 when no API key header is present;
* turns a GET into the POST BentoML expects, with an empty body (the handler reads the query
  string from `ctx.request.query_params`; the original method is in `scope["spendlens.method"]`);
* checks a JSON body is one object of at most `max_bytes` (400/413/422 otherwise);
* keeps an upload's raw bytes (or a multipart form's `file` and other fields) in
  `scope["spendlens.upload"]` as an `Upload` and hands BentoML `{}`.

Errors are the service's JSON `ErrorBody`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from serving.schemas import ErrorBody

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_UPLOAD_BYTES = 64 << 20
UPLOAD_KEY = "spendlens.upload"
METHOD_KEY = "spendlens.method"
MISSING_KEY = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"


class Body(StrEnum):
    """How a route's request body is handled."""

    NONE = "none"  # GET: query parameters only
    JSON = "json"  # one JSON object
    UPLOAD = "upload"  # raw bytes or a multipart form


@dataclass(frozen=True, slots=True)
class RestRoute:
    """A route served through this middleware."""

    method: str
    pattern: re.Pattern[str]
    body: Body


ROUTES = (
    RestRoute("GET", re.compile(r"/review/queue"), Body.NONE),
    RestRoute("POST", re.compile(r"/review/[^/]+/resolve"), Body.JSON),
    RestRoute("POST", re.compile(r"/transactions/ingest"), Body.UPLOAD),
    RestRoute("GET", re.compile(r"/transactions"), Body.NONE),
    RestRoute("GET", re.compile(r"/transactions/export\.csv"), Body.NONE),
    RestRoute("GET", re.compile(r"/reports/spend"), Body.NONE),
)


@dataclass(frozen=True, slots=True)
class Upload:
    """An uploaded body: its bytes, a file name, its media type and any other form fields."""

    data: bytes
    filename: str | None
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)


def _error(status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=message).model_dump(mode="json")
    return JSONResponse(body, status_code=status.value, headers=headers)


def _route_of(path: str) -> RestRoute | None:
    for route in ROUTES:
        if route.pattern.fullmatch(path):
            return route
    return None


def _with_json_content_type(scope: Scope) -> Scope:
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    return {**scope, "headers": headers}


class RestRoutes:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route_of(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if scope.get("method") != route.method:
            await _error(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{scope.get('method')} is not allowed here; use {route.method}",
                {"Allow": route.method},
            )(scope, receive, send)
            return
        names = {name.lower() for name, _ in scope.get("headers", [])}
        if b"authorization" not in names and b"x-api-key" not in names:
            await _error(HTTPStatus.UNAUTHORIZED, MISSING_KEY)(scope, receive, send)
            return
        if route.body is Body.NONE:
            scope = _with_json_content_type({**scope, "method": "POST", METHOD_KEY: "GET"})
            await self._forward(scope, b"", receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is larger than {self.max_bytes} bytes",
            )(scope, receive, send)
            return
        if route.body is Body.JSON:
            await self._json(scope, body, receive, send)
            return
        upload = await self._upload(scope, body)
        if isinstance(upload, JSONResponse):
            await upload(scope, receive, send)
            return
        scope = _with_json_content_type({**scope, UPLOAD_KEY: upload})
        await self._forward(scope, b"{}", receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, None when it is over the limit (or the client went away)."""
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        return b"".join(chunks)

    async def _json(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        if body.strip():
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                await _error(HTTPStatus.BAD_REQUEST, f"the request body is not valid JSON: {exc}")(
                    scope, receive, send
                )
                return
            if not isinstance(parsed, dict):
                await _error(
                    HTTPStatus.UNPROCESSABLE_ENTITY, "the request body must be a JSON object"
                )(scope, receive, send)
                return
        await self._forward(_with_json_content_type(scope), body.strip() or b"{}", receive, send)

    async def _upload(self, scope: Scope, body: bytes) -> Upload | JSONResponse:
        content_type = Request(scope).headers.get("content-type", "application/octet-stream")
        media = content_type.split(";")[0].strip().lower()
        if media != "multipart/form-data":
            return Upload(data=body, filename=None, content_type=media)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:  # pragma: no cover - the form parser reads the body once
                return {"type": "http.request", "body": b"", "more_body": False}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(scope, replay).form(max_files=1, max_fields=20)
        except Exception as exc:  # the multipart parser raises several kinds of errors
            return _error(HTTPStatus.BAD_REQUEST, f"the multipart form cannot be read: {exc}")
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                return _error(
                    HTTPStatus.UNPROCESSABLE_ENTITY, "the multipart form needs a 'file' field"
                )
            data = await file.read()
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            return Upload(
                data=data,
                filename=file.filename,
                content_type=(file.content_type or "application/octet-stream").lower(),
                fields=fields,
            )
        finally:
            await form.close()

    async def _forward(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Call the app with `body` as the whole request body, then the real channel."""
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # what follows: the client's disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
