"""The BentoML service: POST /categorize, /categorize_batch and /feedback, plus health.

Every data endpoint needs an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`):
401 without a valid, unrevoked key, 403 when the key lacks the endpoint's scope (categorize
for /categorize and /categorize_batch, feedback for /feedback), belongs to another tenant than
the one this service serves, or the body names another tenant. The tenant always comes from the
key. Health endpoints (/livez, /readyz, /status) stay open. Every decision returned is in the
decision log (serving.decisions) before the response is sent.

`bentoml serve serving.service:Spendlens` (bentofile.yaml) serves it on 127.0.0.1:3000; pass
`--host` to expose it deliberately. The categorizer is built once per worker in `__init__`
(champion model, compiled rules, normalizer, online features); `create_service` builds the same
service around any categorizer factory, which is how the tests serve a fake one.

Bad input is a 4xx JSON body `{"error": ..., "detail": [...]}`: 422 with pydantic's field
errors, 413 for batches over MAX_BATCH (counted before any item is validated), 401/403 for
keys and tenants as above, 404 for feedback on an unknown decision. The endpoints therefore take
the raw JSON object and validate it themselves (BentoML's own validation would answer 400 and
cannot tell "too many" from "invalid").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Protocol

import bentoml
from pydantic import ValidationError
from starlette.responses import JSONResponse

from serving.decisions import (
    DecisionInputs,
    DecisionLog,
    DecisionRecord,
    SqlDecisionLog,
    UnknownCategoryError,
    UnknownDecisionError,
)
from serving.runtime import Categorizer, TenantMismatchError
from serving.schemas import (
    MAX_BATCH,
    BatchRequest,
    BatchResponse,
    CategorizeRequest,
    CategorizeResponse,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    LearnedDecision,
)
from spendlens.auth import ApiKeyInfo
from spendlens.auth import Scope as KeyScope
from spendlens.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 << 20  # 10,000 transactions with long descriptions fit easily
MISSING_KEY = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
_GUARDED_PATHS = frozenset({"/categorize", "/categorize_batch", "/feedback"})

# Loopback unless the operator passes --host (or a BENTOML_CONFIG) on purpose.
SERVICE_CONFIG: dict[str, Any] = {
    "http": {"host": "127.0.0.1", "port": 3000},
    "workers": 1,
    "traffic": {"timeout": 60},
    "endpoints": {"livez": "/livez", "readyz": "/readyz"},
}


class CategorizerLike(Protocol):
    """What the service needs of a categorizer."""

    @property
    def tenant(self) -> str:
        """The one tenant this categorizer serves."""

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        """One decision per request, in order, with what it was based on."""

    def health(self) -> dict[str, bool]:
        """model_loaded, db_reachable and ready."""


CategorizerFactory = Callable[[], CategorizerLike]
# An API key -> its info when it is a stored, unrevoked key, else None.
Authenticator = Callable[[str], ApiKeyInfo | None]
AuthenticatorFactory = Callable[[], Authenticator]
DecisionLogFactory = Callable[[], DecisionLog]


def default_categorizer() -> CategorizerLike:
    """The real categorizer of `Settings()` (environment `SPENDLENS_*`)."""
    return Categorizer.from_settings(Settings())


def sql_authenticator(sessions: Any) -> Authenticator:
    """Look keys up with spendlens.storage.keys.authenticate, one short session per call."""
    from spendlens.storage.keys import authenticate  # noqa: PLC0415

    def check(key: str) -> ApiKeyInfo | None:
        with sessions() as session:
            return authenticate(session, key)

    return check


def default_authenticator() -> Authenticator:
    """Keys from the database of `Settings()`."""
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    return sql_authenticator(session_factory(engine_from_settings(Settings())))


def default_decision_log() -> DecisionLog:
    """The `decisions` table of the database of `Settings()`."""
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    settings = Settings()
    return SqlDecisionLog(session_factory(engine_from_settings(settings)), settings)


def api_key_of(headers: Any) -> str | None:
    """The key from `Authorization: Bearer <key>` or else `X-API-Key`, None when neither."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return str(value.strip())
    key = headers.get("x-api-key")
    return str(key).strip() or None if key else None


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
    """ASGI middleware: the data endpoints get a JSON object of at most `max_bytes`.

    Answers 401 at once when no API key header is present (the endpoint checks the key), 413
    for a larger body, 400 for one that is not JSON and 422 for JSON that is not an object,
    before BentoML parses it (BentoML would answer 500 or a 400 naming its internals).
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
        names = {name.lower() for name, _ in scope.get("headers", [])}
        if b"authorization" not in names and b"x-api-key" not in names:
            # Refuse anonymous callers before reading (up to max_bytes of) their body.
            await _error(HTTPStatus.UNAUTHORIZED, MISSING_KEY)(scope, receive, send)
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


def _respond(ctx: bentoml.Context, result: Any) -> Any:
    """BentoML overwrites the status of a returned Response with ctx's: keep ours."""
    status = result.status_code if isinstance(result, JSONResponse) else HTTPStatus.OK.value
    ctx.response.status_code = status
    return result


class SpendlensAPI:
    """The endpoints; `create_service` turns a subclass of it into a BentoML service."""

    categorizer_factory: ClassVar[CategorizerFactory] = staticmethod(default_categorizer)
    authenticator_factory: ClassVar[AuthenticatorFactory] = staticmethod(default_authenticator)
    decision_log_factory: ClassVar[DecisionLogFactory] = staticmethod(default_decision_log)

    def __init__(self) -> None:
        self.categorizer = type(self).categorizer_factory()
        self.authenticate = type(self).authenticator_factory()
        self.decisions = type(self).decision_log_factory()

    def __is_ready__(self) -> bool:
        return self.categorizer.health()["ready"]

    def _authorize(self, ctx: bentoml.Context, needed: KeyScope) -> ApiKeyInfo | JSONResponse:
        """The caller's key when it may do `needed` for this service's tenant, else 401/403."""
        key = api_key_of(ctx.request.headers)
        if key is None:
            return _error(HTTPStatus.UNAUTHORIZED, MISSING_KEY)
        try:
            info = self.authenticate(key)
        except Exception:
            logger.exception("API key lookup failed")
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "cannot check the API key right now")
        if info is None or info.revoked:
            return _error(HTTPStatus.UNAUTHORIZED, "the API key is not valid")
        if not info.allows(needed):
            return _error(HTTPStatus.FORBIDDEN, f"the API key lacks the {needed.value!r} scope")
        if info.tenant_id != self.categorizer.tenant:
            return _error(HTTPStatus.FORBIDDEN, "the API key's tenant is not served here")
        return info

    def _run(
        self, key: ApiKeyInfo, requests: Sequence[CategorizeRequest]
    ) -> list[CategorizeResponse] | JSONResponse:
        """Decide, then log every decision (one write per request) before answering."""
        for request in requests:
            if request.tenant is not None and request.tenant != key.tenant_id:
                return _error(
                    HTTPStatus.FORBIDDEN,
                    f"the API key cannot act for tenant {request.tenant!r}",
                )
        try:
            decided = self.categorizer.decide(requests)
        except TenantMismatchError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        records = [
            DecisionRecord.of(key.tenant_id, request, response, inputs)
            for request, (response, inputs) in zip(requests, decided, strict=True)
        ]
        try:
            self.decisions.record(records)
        except Exception:
            logger.exception("cannot write %d decision(s) to the log", len(records))
            return _error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the decision log is unavailable; no decision was returned",
            )
        return [response for response, _ in decided]

    @bentoml.api(route="/categorize", output_spec=CategorizeResponse)  # type: ignore[untyped-decorator]
    def categorize(self, payload: dict[str, Any], /, ctx: bentoml.Context) -> Any:
        """Categorize one transaction (a CategorizeRequest JSON object)."""
        return _respond(ctx, self._categorize(payload, ctx))

    def _categorize(self, payload: dict[str, Any], ctx: bentoml.Context) -> Any:
        key = self._authorize(ctx, KeyScope.CATEGORIZE)
        if isinstance(key, JSONResponse):
            return key
        try:
            request = CategorizeRequest.model_validate(payload)
        except ValidationError as exc:
            return _invalid(exc)
        result = self._run(key, [request])
        return result if isinstance(result, JSONResponse) else result[0]

    @bentoml.api(route="/categorize_batch", output_spec=BatchResponse)  # type: ignore[untyped-decorator]
    def categorize_batch(self, payload: dict[str, Any], /, ctx: bentoml.Context) -> Any:
        """Categorize up to MAX_BATCH transactions: {"transactions": [...]}."""
        return _respond(ctx, self._categorize_batch(payload, ctx))

    def _categorize_batch(self, payload: dict[str, Any], ctx: bentoml.Context) -> Any:
        key = self._authorize(ctx, KeyScope.CATEGORIZE)
        if isinstance(key, JSONResponse):
            return key
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
        result = self._run(key, batch.transactions)
        if isinstance(result, JSONResponse):
            return result
        return BatchResponse(count=len(result), results=result)

    @bentoml.api(route="/feedback", output_spec=FeedbackResponse)  # type: ignore[untyped-decorator]
    def feedback(self, payload: dict[str, Any], /, ctx: bentoml.Context) -> Any:
        """Correct a decision: {"decision_id", "category", "by"?}; then governed learning runs."""
        return _respond(ctx, self._feedback(payload, ctx))

    def _feedback(self, payload: dict[str, Any], ctx: bentoml.Context) -> Any:
        key = self._authorize(ctx, KeyScope.FEEDBACK)
        if isinstance(key, JSONResponse):
            return key
        try:
            request = FeedbackRequest.model_validate(payload)
        except ValidationError as exc:
            return _invalid(exc)
        try:
            result = self.decisions.feedback(
                key.tenant_id, request.decision_id, request.category, by=request.by
            )
        except UnknownDecisionError:
            return _error(HTTPStatus.NOT_FOUND, f"no decision {request.decision_id!r}")
        except UnknownCategoryError as exc:
            return _error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        return FeedbackResponse(
            stored=result.stored,
            stored_on="transaction" if result.stored_on == "transaction" else "decision",
            learned=[LearnedDecision.model_validate(d) for d in result.learned],
        )

    @bentoml.api(route="/status")  # type: ignore[untyped-decorator]
    def status(self) -> dict[str, bool]:
        """Readiness in detail: model_loaded, db_reachable, ready."""
        return self.categorizer.health()


def create_service(
    factory: CategorizerFactory,
    *,
    name: str = "spendlens",
    authenticator: AuthenticatorFactory = default_authenticator,
    decision_log: DecisionLogFactory = default_decision_log,
) -> Any:
    """A BentoML service whose workers build their categorizer with `factory`.

    `authenticator` and `decision_log` build the key check and the decision log per worker
    (the database of `Settings()` unless given).
    """
    inner = type(
        name.title().replace("-", "").replace("_", ""),
        (SpendlensAPI,),
        {
            "categorizer_factory": staticmethod(factory),
            "authenticator_factory": staticmethod(authenticator),
            "decision_log_factory": staticmethod(decision_log),
            "__module__": __name__,
        },
    )
    service = bentoml.service(inner, name=name, **SERVICE_CONFIG)
    service.add_asgi_middleware(JSONBodyGuard)
    return service


Spendlens = create_service(default_categorizer)
