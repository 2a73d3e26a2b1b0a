"""The BentoML service: POST /categorize and /categorize_batch, plus liveness and readiness.

`bentoml serve serving.service:Spendlens` (bentofile.yaml) serves it on 127.0.0.1:3000; pass
`--host` to expose it deliberately. The categorizer is built once per worker in `__init__`
(champion model, compiled rules, normalizer, online features); `create_service` builds the same
service around any categorizer factory, which is how the tests serve a fake one.

Bad input is a 4xx JSON body `{"error": ..., "detail": [...]}`: 422 with pydantic's field
errors, 413 for batches over MAX_BATCH (counted before any item is validated), 400 for another
tenant. The endpoints therefore take the raw JSON object and validate it themselves (BentoML's
own validation would answer 400 and cannot tell "too many" from "invalid").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Protocol

import bentoml
from pydantic import ValidationError
from starlette.responses import JSONResponse

from serving.runtime import Categorizer, TenantMismatchError
from serving.schemas import (
    MAX_BATCH,
    BatchRequest,
    BatchResponse,
    CategorizeRequest,
    CategorizeResponse,
    ErrorBody,
)
from spendlens.settings import Settings

MAX_BODY_BYTES = 32 << 20  # 10,000 transactions with long descriptions fit easily
_GUARDED_PATHS = frozenset({"/categorize", "/categorize_batch"})

# Loopback unless the operator passes --host (or a BENTOML_CONFIG) on purpose.
SERVICE_CONFIG: dict[str, Any] = {
    "http": {"host": "127.0.0.1", "port": 3000},
    "workers": 1,
    "traffic": {"timeout": 60},
    "endpoints": {"livez": "/livez", "readyz": "/readyz"},
}


class CategorizerLike(Protocol):
    """What the service needs of a categorizer."""

    def categorize(self, requests: Sequence[CategorizeRequest]) -> list[CategorizeResponse]:
        """One decision per request, in order."""

    def health(self) -> dict[str, bool]:
        """model_loaded, db_reachable and ready."""


CategorizerFactory = Callable[[], CategorizerLike]


def default_categorizer() -> CategorizerLike:
    """The real categorizer of `Settings()` (environment `SPENDLENS_*`)."""
    return Categorizer.from_settings(Settings())


def _error(status: HTTPStatus, message: str, detail: list[Any] | None = None) -> JSONResponse:
    body = ErrorBody(error=message, detail=detail or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status.value)


def _invalid(exc: ValidationError) -> JSONResponse:
    detail = exc.errors(include_url=False, include_context=False, include_input=False)
    return _error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        f"{exc.error_count()} invalid field(s) in the request body",
        [dict(d) for d in detail],
    )


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class JSONBodyGuard:
    """ASGI middleware: the categorize endpoints get a JSON object of at most `max_bytes`.

    Answers 413 for a larger body, 400 for one that is not JSON and 422 for JSON that is not an
    object, before BentoML parses it (BentoML would answer 500 or a 400 naming its internals).
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in _GUARDED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"the request body is larger than {self.max_bytes} bytes",
                )(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            await _error(HTTPStatus.BAD_REQUEST, f"the request body is not valid JSON: {exc}")(
                scope, receive, send
            )
            return
        if not isinstance(parsed, dict):
            await _error(HTTPStatus.UNPROCESSABLE_ENTITY, "the request body must be a JSON object")(
                scope, receive, send
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class SpendlensAPI:
    """The endpoints; `create_service` turns a subclass of it into a BentoML service."""

    categorizer_factory: ClassVar[CategorizerFactory] = staticmethod(default_categorizer)

    def __init__(self) -> None:
        self.categorizer = type(self).categorizer_factory()

    def __is_ready__(self) -> bool:
        return self.categorizer.health()["ready"]

    def _run(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[CategorizeResponse] | JSONResponse:
        try:
            return self.categorizer.categorize(requests)
        except TenantMismatchError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))

    @bentoml.api(route="/categorize", output_spec=CategorizeResponse)  # type: ignore[untyped-decorator]
    def categorize(self, payload: dict[str, Any], /) -> Any:
        """Categorize one transaction (a CategorizeRequest JSON object)."""
        try:
            request = CategorizeRequest.model_validate(payload)
        except ValidationError as exc:
            return _invalid(exc)
        result = self._run([request])
        return result if isinstance(result, JSONResponse) else result[0]

    @bentoml.api(route="/categorize_batch", output_spec=BatchResponse)  # type: ignore[untyped-decorator]
    def categorize_batch(self, payload: dict[str, Any], /) -> Any:
        """Categorize up to MAX_BATCH transactions: {"transactions": [...]}."""
        items = payload.get("transactions")
        if isinstance(items, list) and len(items) > MAX_BATCH:
            return _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a batch holds at most {MAX_BATCH} transactions, got {len(items)}; "
                "split it into smaller batches",
            )
        try:
            batch = BatchRequest.model_validate(payload)
        except ValidationError as exc:
            return _invalid(exc)
        result = self._run(batch.transactions)
        if isinstance(result, JSONResponse):
            return result
        return BatchResponse(count=len(result), results=result)

    @bentoml.api(route="/status")  # type: ignore[untyped-decorator]
    def status(self) -> dict[str, bool]:
        """Readiness in detail: model_loaded, db_reachable, ready."""
        return self.categorizer.health()


def create_service(factory: CategorizerFactory, *, name: str = "spendlens") -> Any:
    """A BentoML service whose workers build their categorizer with `factory`."""
    inner = type(
        name.title().replace("-", "").replace("_", ""),
        (SpendlensAPI,),
        {"categorizer_factory": staticmethod(factory), "__module__": __name__},
    )
    service = bentoml.service(inner, name=name, **SERVICE_CONFIG)
    service.add_asgi_middleware(JSONBodyGuard)
    return service


Spendlens = create_service(default_categorizer)
