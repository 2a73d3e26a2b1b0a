"""The BentoML service: POST /categorize, /categorize_batch and /feedback, plus health.

Every data endpoint needs an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`):
401 without a valid, unrevoked key, 403 when the key lacks the endpoint's scope (categorize
for /categorize and /categorize_batch, feedback for /feedback), or the body names another
tenant than the key's. The tenant always comes from the key. Health endpoints (/livez, /readyz,
/status) and /metrics (Prometheus) stay open. Every decision returned is in the decision log
(serving.decisions) before the response is sent.

`bentoml serve serving.service:Spendlens` (bentofile.yaml) serves it on 127.0.0.1:3000; pass
`--host` to expose it deliberately. One service serves every tenant: each worker keeps a pool
of categorizers (serving.reload), one per tenant (champion model, compiled rules, routing
policy), built on the tenant's first request or at start for `serve_tenants`, and swapped in
the background when the champion alias or the tenant's rules move. `create_service` builds the
same service around any pool, which is how the tests serve fakes.

Bad input is a 4xx JSON body `{"error": ..., "detail": [...]}`: 422 with pydantic's field
errors, 413 for batches over MAX_BATCH (counted before any item is validated), 401/403 for
keys and tenants as above, 404 for feedback on an unknown decision. The endpoints therefore take
the raw JSON object and validate it themselves (BentoML's own validation would answer 400 and
cannot tell "too many" from "invalid").
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import bentoml
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from serving.coalesce import Coalescer
from serving.decisions import (
    DecisionInputs,
    DecisionLog,
    DecisionRecord,
    SqlDecisionLog,
    UnknownCategoryError,
    UnknownDecisionError,
)
from serving.http_routes import UPLOAD_KEY, RestRoutes, Upload
from serving.metrics import service_metrics
from serving.openapi import OpenAPIDocs
from serving.reload import TenantMismatchError, UnknownTenantError
from serving.schemas import (
    EXPLAIN_MAX_ROWS,
    MAX_BATCH,
    BatchRequest,
    BatchResponse,
    CategorizeRequest,
    CategorizeResponse,
    CreditLine,
    ErrorBody,
    ExportQuery,
    FeedbackRequest,
    FeedbackResponse,
    IngestQuery,
    IngestReject,
    IngestResponse,
    LearnedDecision,
    ResolveRequest,
    ResolveResponse,
    ReviewItem,
    ReviewQueueQuery,
    ReviewQueueResponse,
    SpendLine,
    SpendQuery,
    SpendReportResponse,
    TransactionList,
    TransactionOut,
    TransactionQuery,
)
from spendlens.auth import ApiKeyInfo
from spendlens.auth import Scope as KeyScope
from spendlens.money import from_minor
from spendlens.settings import Settings

if TYPE_CHECKING:
    # SQLAlchemy is imported where the database is used: `bentoml serve`'s supervisor imports
    # this module but never touches the database.
    from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 << 20  # 10,000 transactions with long descriptions fit easily
MISSING_KEY = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
_GUARDED_PATHS = frozenset({"/categorize", "/categorize_batch", "/feedback"})
JSON_KEY = "spendlens.json"  # where JSONBodyGuard leaves the parsed body of those routes
# The most single /categorize requests decided in one call: explained requests stay explained.
COALESCE_MAX = EXPLAIN_MAX_ROWS

# Loopback unless the operator passes --host (or a BENTOML_CONFIG) on purpose.
SERVICE_CONFIG: dict[str, Any] = {
    "http": {"host": "127.0.0.1", "port": 3000},
    "workers": 1,
    "traffic": {"timeout": 60},
    "endpoints": {"livez": "/livez", "readyz": "/readyz"},
    # The decision routes (/categorize, /categorize_batch) are the hot path: an access-log line
    # and an OpenTelemetry span (no exporter is configured by default) were a fifth of a single
    # request's CPU in the worker (py-spy), and every decision they return is in the decision
    # log anyway. Other routes keep both; a BENTOML_CONFIG file can turn them back on.
    "logging": {"access": {"skip_paths": ["/categorize"]}},
    "tracing": {"excluded_urls": ["/categorize"]},
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


class PoolLike(Protocol):
    """The categorizers of every tenant the service serves (serving.reload.CategorizerPool)."""

    def get(self, tenant: str) -> CategorizerLike:
        """The tenant's categorizer.

        Raises:
            UnknownTenantError: the tenant is not served here.
        """

    def ready(self) -> bool:
        """Every preloaded tenant can serve."""

    def status(self) -> dict[str, dict[str, Any]]:
        """Per tenant: health, versions, reload errors."""

    def stop(self) -> None:
        """Stop background reloading."""


PoolFactory = Callable[[], PoolLike]
# An API key -> its info when it is a stored, unrevoked key, else None.
Authenticator = Callable[[str], ApiKeyInfo | None]
AuthenticatorFactory = Callable[[], Authenticator]
DecisionLogFactory = Callable[[], DecisionLog]
# The session factory of the tenant data (transactions, labels, decisions); called per request,
# so it must be cheap (the default builds its engine once per process).
SessionsFactory = Callable[[], "sessionmaker[Session]"]


def default_pool() -> PoolLike:
    """The real categorizers of `Settings()` (environment `SPENDLENS_*`), reloading.

    Preloads `serve_tenants` (default: the default tenant) so readiness means "can serve";
    other tenants load on their first request.
    """
    from serving.loading import RegistryLoader, limit_registry_retries  # noqa: PLC0415
    from serving.memory import (  # noqa: PLC0415
        MemoryGovernor,
        freeze_long_lived,
        release_free_memory,
        thaw,
    )
    from serving.reload import CategorizerPool, ReloadEvent  # noqa: PLC0415

    settings = Settings()
    limit_registry_retries(settings)
    metrics = service_metrics()

    def on_reload(event: ReloadEvent) -> None:
        metrics.reloads.labels(tenant=event.tenant, outcome="ok" if event.ok else "failed").inc()
        if event.ok:
            metrics.serving(event.tenant, event.after.model)
        if event.ok and event.after.model != event.before.model:
            # The old model may be garbage now and the new one is long-lived: freeze anew
            # (a full collection, ~0.25 s; changed rules alone do not pay it).
            thaw()
            _warm_up(pool.get(event.tenant))
            freeze_long_lived()

    pool = CategorizerPool(
        RegistryLoader(settings),
        preload=settings.serve_tenants or [settings.default_tenant],
        interval_seconds=settings.reload_interval_seconds,
        on_reload=on_reload,
        # Loads, first reads and large batches leave freed heap pages behind (~30 MB).
        after_check=lambda: (governor(), release_free_memory()),
    )
    for tenant, state in pool.status().items():
        metrics.serving(tenant, state["model_version"])
        _warm_up(pool.get(tenant))
    freeze_long_lived()
    release_free_memory()
    # Measured from here: what the memos add as traffic brings new descriptors.
    governor = MemoryGovernor(settings.cache_memory_mb, lambda: _clear_caches(pool))
    pool.start()
    return pool


def _clear_caches(pool: Any) -> None:
    """Empty the memos of every categorizer the pool serves (each refills on use)."""
    for categorizer in pool.categorizers():
        clear = getattr(categorizer, "clear_caches", None)
        if clear is not None:
            clear()
    service_metrics().memo_clears.inc()


def _warm_up(categorizer: object) -> None:
    """Run a categorizer's warm-up when it has one; a failure is logged, never raised."""
    warm_up = getattr(categorizer, "warm_up", None)
    if warm_up is None:
        return
    try:
        warm_up()
    except Exception:
        logger.warning("warming up the categorizer failed", exc_info=True)


def sql_authenticator(
    sessions: Any,
    ttl_seconds: float = 0.0,
    *,
    max_keys: int = 10_000,
    clock: Callable[[], float] = time.monotonic,
) -> Authenticator:
    """Look keys up with spendlens.storage.keys.authenticate, one short session per call.

    A valid key is remembered (by its SHA-256) for `ttl_seconds`: the lookup was a tenth of a
    rule-decided request's CPU (profiled). So a key revoked while the service runs stops
    working within `ttl_seconds`; an unknown or revoked key is never remembered, so a new key
    works at once and bad keys cannot fill the memo.

    Args:
        max_keys: the bound of the memo; when full it starts over.
        clock: seconds, monotonic (tests pass a fake).
    """
    from spendlens.auth import hash_key  # noqa: PLC0415
    from spendlens.storage.keys import authenticate  # noqa: PLC0415

    valid: dict[str, tuple[float, ApiKeyInfo]] = {}

    def look_up(key: str) -> ApiKeyInfo | None:
        with sessions() as session:
            return authenticate(session, key)

    def check(key: str) -> ApiKeyInfo | None:
        now, digest = clock(), hash_key(key)
        remembered = valid.get(digest)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        info = look_up(key)
        if info is not None:
            if len(valid) >= max_keys:
                valid.clear()
            valid[digest] = (now + ttl_seconds, info)
        return info

    return check if ttl_seconds > 0 else look_up


def default_authenticator() -> Authenticator:
    """Keys from the database of `Settings()`, valid ones remembered `key_cache_seconds`."""
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    settings = Settings()
    sessions = session_factory(engine_from_settings(settings))
    return sql_authenticator(sessions, settings.key_cache_seconds)


def default_decision_log() -> DecisionLog:
    """The `decisions` table of the database of `Settings()`."""
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    settings = Settings()
    return SqlDecisionLog(session_factory(engine_from_settings(settings)), settings)


@functools.cache
def default_sessions() -> sessionmaker[Session]:
    """Sessions on the database of `Settings()`, one engine per process."""
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    return session_factory(engine_from_settings(Settings()))


def _invalid_query(exc: ValidationError) -> JSONResponse:
    detail = exc.errors(include_url=False, include_context=False, include_input=False)
    return _error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        f"{exc.error_count()} invalid query parameter(s)",
        [dict(d) for d in detail],
    )


def _json(model: BaseModel, status: HTTPStatus = HTTPStatus.OK) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status.value)


def _db_unavailable() -> JSONResponse:
    logger.exception("database error")
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "the database is unavailable; try again later")


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


class LiveService:
    """The running instance of one service (one per worker process), for its middleware."""

    def __init__(self) -> None:
        self.instance: SpendlensAPI | None = None


class JSONBodyGuard:
    """ASGI middleware: the data endpoints get a JSON object of at most `max_bytes`.

    Answers 401 at once when no API key header is present (the endpoint checks the key), 413
    for a larger body, 400 for one that is not JSON and 422 for JSON that is not an object,
    before BentoML parses it (BentoML would answer 500 or a 400 naming its internals). The
    parsed object goes to the endpoint in `scope[JSON_KEY]` and BentoML gets `{}`: for a
    method that takes the body itself, BentoML 1.4 builds the input's JSON schema on every
    request (~0.3 ms, 6% of a single request's CPU, measured) and parses the JSON again.

    Once the service instance is up (`live`), a valid /categorize body is answered here, with
    the same handler as the `categorize` API method, and never reaches BentoML's per-call
    machinery (routing, request context, input/output specs). Side by side on loopback, that
    machinery cost ~0.4 ms of a 2.1-2.5 ms request. BentoML's outer middlewares (request
    metrics, the traffic timeout) still wrap it.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, live: LiveService | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.live = live

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
        api = self.live.instance if self.live is not None else None
        if api is not None and scope["path"] == "/categorize":
            await _answer_directly(api, parsed, scope, receive, send)
            return
        scope[JSON_KEY] = parsed
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"{}", "more_body": False}

        await self.app(scope, replay, send)


async def _answer_directly(
    api: SpendlensAPI, payload: dict[str, Any], scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one /categorize body with `api`; an unexpected failure is a logged JSON 500."""
    try:
        response = await api.answer_single(payload, api_key_of(Headers(scope=scope)))
    except Exception:
        logger.exception("categorizing a transaction failed")
        response = _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the service log")
    await response(scope, receive, send)


def json_body(ctx: bentoml.Context) -> dict[str, Any]:
    """The JSON object `JSONBodyGuard` parsed from the request."""
    body: dict[str, Any] = ctx.request.scope[JSON_KEY]
    return body


@dataclass(frozen=True, slots=True)
class _Single:
    """One /categorize request as the decide thread gets it: its JSON body and API key."""

    payload: dict[str, Any]
    key: str | None


def _encoded(model: BaseModel) -> Response:
    """A validated response model, encoded once by pydantic (BentoML's output path re-validates
    and re-encodes it: about a quarter of a 1,000-row batch's time)."""
    return Response(model.model_dump_json(), media_type="application/json")


def _respond(ctx: bentoml.Context, result: Any) -> Any:
    """BentoML overwrites the status of a returned Response with ctx's: keep ours."""
    status = result.status_code if isinstance(result, JSONResponse) else HTTPStatus.OK.value
    ctx.response.status_code = status
    return result


class SpendlensAPI:
    """The endpoints; `create_service` turns a subclass of it into a BentoML service."""

    pool_factory: ClassVar[PoolFactory] = staticmethod(default_pool)
    authenticator_factory: ClassVar[AuthenticatorFactory] = staticmethod(default_authenticator)
    decision_log_factory: ClassVar[DecisionLogFactory] = staticmethod(default_decision_log)
    sessions_factory: ClassVar[SessionsFactory] = staticmethod(default_sessions)
    live: ClassVar[LiveService | None] = None  # set by `create_service`

    def __init__(self) -> None:
        self.pool = type(self).pool_factory()
        self.authenticate = type(self).authenticator_factory()
        self.decisions = type(self).decision_log_factory()
        # Every decision is made in this one thread: the endpoints await it, so the event loop
        # keeps gathering requests, and decisions never contend for the GIL with each other.
        self._decider = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spendlens-decide")
        self._singles: Coalescer[_Single, Response] = Coalescer(
            self._categorize_singles, max_batch=COALESCE_MAX, executor=self._decider
        )
        live = type(self).live
        if live is not None:
            live.instance = self

    def __is_ready__(self) -> bool:
        return self.pool.ready()

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]
    def _stop_reloading(self) -> None:
        live = type(self).live
        if live is not None and live.instance is self:
            live.instance = None
        self.pool.stop()
        self._decider.shutdown(wait=False)

    def categorizer_for(self, tenant: str) -> CategorizerLike:
        """The categorizer serving `tenant` (the caller has checked the key's tenant).

        Raises:
            UnknownTenantError: the tenant is not served here.
        """
        return self.pool.get(tenant)

    def _authorize(self, ctx: bentoml.Context, needed: KeyScope) -> ApiKeyInfo | JSONResponse:
        """The caller's key when it may do `needed` for this service's tenant, else 401/403."""
        return self._authorize_key(api_key_of(ctx.request.headers), needed)

    def _authorize_key(self, key: str | None, needed: KeyScope) -> ApiKeyInfo | JSONResponse:
        """`_authorize` of a key already taken from the headers (None: none was sent)."""
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
        return info

    def _run(
        self, key: ApiKeyInfo, requests: Sequence[CategorizeRequest], endpoint: str
    ) -> list[CategorizeResponse] | JSONResponse:
        """Decide, then log every decision (one write per call) before answering."""
        for request in requests:
            if request.tenant is not None and request.tenant != key.tenant_id:
                return _error(
                    HTTPStatus.FORBIDDEN,
                    f"the API key cannot act for tenant {request.tenant!r}",
                )
        try:
            categorizer = self.categorizer_for(key.tenant_id)
        except UnknownTenantError:
            return _error(HTTPStatus.FORBIDDEN, "the API key's tenant is not served here")
        started = time.perf_counter()
        try:
            decided = categorizer.decide(requests)
        except TenantMismatchError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        metrics = service_metrics()
        metrics.decide_seconds.labels(endpoint=endpoint).observe(time.perf_counter() - started)
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
        metrics.count_decisions(
            key.tenant_id, [(r.route.value, r.source.value) for r, _ in decided]
        )
        return [response for response, _ in decided]

    @bentoml.api(route="/categorize", output_spec=CategorizeResponse)  # type: ignore[untyped-decorator]
    async def categorize(self, ctx: bentoml.Context) -> Any:
        """Categorize one transaction (a CategorizeRequest JSON object)."""
        # JSONBodyGuard answers /categorize itself once the instance is registered; this
        # method describes the route (OpenAPI) and serves a service built without the guard.
        answer = await self.answer_single(json_body(ctx), api_key_of(ctx.request.headers))
        return _respond(ctx, answer)

    async def answer_single(self, payload: dict[str, Any], key: str | None) -> Response:
        """The response to one /categorize body, decided alone or with others waiting."""
        return await self._singles.submit(_Single(payload, key))

    def _categorize_singles(self, singles: list[_Single]) -> list[Response]:
        """The responses of single /categorize requests that arrived together, in order.

        Each is checked on its own (key, body, tenant: its own 4xx); the valid ones of a tenant
        are decided in one call and logged in one write, so a failing log fails them together.
        """
        out: list[Response | None] = [None] * len(singles)
        by_tenant: dict[str, list[tuple[int, ApiKeyInfo, CategorizeRequest]]] = {}
        for i, single in enumerate(singles):
            key = self._authorize_key(single.key, KeyScope.CATEGORIZE)
            if isinstance(key, JSONResponse):
                out[i] = key
                continue
            try:
                request = CategorizeRequest.model_validate(single.payload)
            except ValidationError as exc:
                out[i] = _invalid(exc)
                continue
            if request.tenant is not None and request.tenant != key.tenant_id:
                out[i] = _error(
                    HTTPStatus.FORBIDDEN, f"the API key cannot act for tenant {request.tenant!r}"
                )
                continue
            by_tenant.setdefault(key.tenant_id, []).append((i, key, request))
        for jobs in by_tenant.values():
            result = self._run(jobs[0][1], [request for _, _, request in jobs], "categorize")
            for n, (i, _, _) in enumerate(jobs):
                out[i] = result if isinstance(result, JSONResponse) else _encoded(result[n])
        return [response for response in out if response is not None]

    @bentoml.api(route="/categorize_batch", output_spec=BatchResponse)  # type: ignore[untyped-decorator]
    async def categorize_batch(self, ctx: bentoml.Context) -> Any:
        """Categorize up to MAX_BATCH transactions: {"transactions": [...]}."""
        # In the decide thread, so that batches and coalesced singles never run side by side.
        loop = asyncio.get_running_loop()
        # The key is read here: the request's context does not follow it into the thread.
        key = api_key_of(ctx.request.headers)
        decide = functools.partial(self._categorize_batch, json_body(ctx), key)
        return _respond(ctx, await loop.run_in_executor(self._decider, decide))

    def _categorize_batch(self, payload: dict[str, Any], api_key: str | None) -> Any:
        key = self._authorize_key(api_key, KeyScope.CATEGORIZE)
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
        result = self._run(key, batch.transactions, "categorize_batch")
        if isinstance(result, JSONResponse):
            return result
        return _encoded(BatchResponse(count=len(result), results=result))

    @bentoml.api(route="/feedback", output_spec=FeedbackResponse)  # type: ignore[untyped-decorator]
    def feedback(self, ctx: bentoml.Context) -> Any:
        """Correct a decision: {"decision_id", "category", "by"?}; then governed learning runs."""
        return _respond(ctx, self._feedback(json_body(ctx), ctx))

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
    def status(self) -> dict[str, Any]:
        """Readiness in detail: ready, and per loaded tenant its health, champion and rules
        versions, where the model came from (registry or cache) and any failed reload."""
        return {"ready": self.pool.ready(), "tenants": self.pool.status()}

    # --- review queue, transactions, reports (GET routes go through http_routes.RestRoutes) ---

    def _sessions(self) -> sessionmaker[Session]:
        return type(self).sessions_factory()

    def _ingest_settings(self) -> Settings:
        """Limits and defaults of ingestion (`Settings()`), built on first use."""
        settings: Settings | None = getattr(self, "_settings_cache", None)
        if settings is None:
            settings = Settings()
            self._settings_cache = settings
        return settings

    def _authorize_any(self, ctx: bentoml.Context, *scopes: KeyScope) -> ApiKeyInfo | JSONResponse:
        """The caller's key when it holds any of `scopes`, else the 401/403 of the last one."""
        result: ApiKeyInfo | JSONResponse = _error(HTTPStatus.FORBIDDEN, "no scope allows this")
        for needed in scopes:
            result = self._authorize(ctx, needed)
            if not isinstance(result, JSONResponse) or result.status_code != HTTPStatus.FORBIDDEN:
                return result
        names = " or ".join(repr(s.value) for s in scopes)
        return _error(HTTPStatus.FORBIDDEN, f"the API key lacks the {names} scope")

    @bentoml.api(route="/review/queue", output_spec=ReviewQueueResponse)  # type: ignore[untyped-decorator]
    def review_queue(self, ctx: bentoml.Context) -> Any:
        """GET ?limit=: the key's tenant's unresolved review decisions, oldest first."""
        return _respond(ctx, self._review_queue(ctx))

    def _review_queue(self, ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import review  # noqa: PLC0415

        key = self._authorize(ctx, KeyScope.REVIEW)
        if isinstance(key, JSONResponse):
            return key
        try:
            query = ReviewQueueQuery.model_validate(dict(ctx.request.query_params))
        except ValidationError as exc:
            return _invalid_query(exc)
        try:
            with self._sessions()() as session:
                items = review.review_queue(session, key.tenant_id, query.limit)
                open_count = review.open_count(session, key.tenant_id)
        except SQLAlchemyError:
            return _db_unavailable()
        out = []
        for item in items:
            amount = None
            if item.amount_minor is not None and item.currency:
                value = from_minor(item.amount_minor, item.currency)
                amount = str(-value if item.direction == "debit" else value)
            out.append(
                ReviewItem.model_validate(
                    {
                        **asdict(item),
                        "amount": amount,
                    }
                )
            )
        return _json(ReviewQueueResponse(open=open_count, count=len(out), items=out))

    @bentoml.api(route="/review/{decision_id}/resolve", output_spec=ResolveResponse)  # type: ignore[untyped-decorator]
    def resolve_review(self, payload: dict[str, Any], /, ctx: bentoml.Context) -> Any:
        """Resolve a queued decision: {} accepts its suggestion, {"category": ...} overrides it."""
        return _respond(ctx, self._resolve_review(payload, ctx))

    def _resolve_review(self, payload: dict[str, Any], ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import review  # noqa: PLC0415

        key = self._authorize(ctx, KeyScope.REVIEW)
        if isinstance(key, JSONResponse):
            return key
        decision_id = str(ctx.request.path_params.get("decision_id", ""))
        try:
            request = ResolveRequest.model_validate(payload)
        except ValidationError as exc:
            return _invalid(exc)
        by = request.by or f"api-key:{key.prefix}"
        try:
            done = review.resolve(
                self.decisions, key.tenant_id, decision_id, category=request.category, by=by
            )
        except UnknownDecisionError:
            return _error(HTTPStatus.NOT_FOUND, f"no decision {decision_id!r}")
        except (review.AlreadyResolvedError, review.NotInReviewError) as exc:
            return _error(HTTPStatus.CONFLICT, str(exc))
        except (review.NothingToAcceptError, UnknownCategoryError) as exc:
            return _error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        except SQLAlchemyError:
            return _db_unavailable()
        return _json(
            ResolveResponse(
                decision_id=done.decision_id,
                category=done.category,
                accepted=done.accepted,
                resolved_by=by,
                stored_on="transaction" if done.feedback.stored_on == "transaction" else "decision",
                learned=[LearnedDecision.model_validate(d) for d in done.feedback.learned],
            )
        )

    @bentoml.api(route="/transactions/ingest", output_spec=IngestResponse)  # type: ignore[untyped-decorator]
    def ingest_transactions(self, ctx: bentoml.Context) -> Any:
        """Load a CSV / JSON (list or {"transactions": [...]}) / SMS upload, then categorize it."""
        return _respond(ctx, self._ingest_transactions(ctx))

    def _ingest_transactions(self, ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import transactions  # noqa: PLC0415
        from spendlens.ingest.types import NotAStatementError  # noqa: PLC0415

        key = self._authorize(ctx, KeyScope.ADMIN)
        if isinstance(key, JSONResponse):
            return key
        upload = ctx.request.scope.get(UPLOAD_KEY)
        if not isinstance(upload, Upload):
            return _error(HTTPStatus.BAD_REQUEST, "no upload in the request body")
        try:
            query = IngestQuery.model_validate({**ctx.request.query_params, **upload.fields})
        except ValidationError as exc:
            return _invalid_query(exc)
        fmt = query.format
        if fmt == "auto" and upload.content_type in ("text/csv", "application/json"):
            fmt = "csv" if upload.content_type == "text/csv" else "json"
        filename = query.filename or upload.filename or f"upload.{fmt if fmt != 'auto' else 'txt'}"
        try:
            categorizer = self.categorizer_for(key.tenant_id)
        except UnknownTenantError:
            return _error(HTTPStatus.FORBIDDEN, "the API key's tenant is not served here")
        try:
            outcome = transactions.ingest(
                upload.data,
                filename,
                tenant=key.tenant_id,
                sessions=self._sessions(),
                settings=self._ingest_settings(),
                categorizer=categorizer,
                decisions=self.decisions,
                fmt=fmt,
                account=query.account,
            )
        except NotAStatementError as exc:
            return _error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        except SQLAlchemyError:
            return _db_unavailable()
        summary = outcome.summary
        return _json(
            IngestResponse(
                batch_id=summary.batch_id,
                filename=summary.filename,
                source=summary.source.value if summary.source else None,
                rows_total=summary.rows_total,
                loaded=summary.loaded,
                duplicates=summary.duplicates,
                linked=summary.linked,
                rejected=summary.rejected,
                categorized=outcome.categorized,
                review=outcome.review,
                uncategorized=outcome.uncategorized,
                rejects=[
                    IngestReject(line=r.line_no, reason=r.reason, excerpt=r.excerpt)
                    for r in summary.rejects
                ],
                warnings=[*summary.warnings, *outcome.warnings],
            )
        )

    def _listing_query(
        self, ctx: bentoml.Context, model: type[ExportQuery]
    ) -> tuple[ApiKeyInfo, Any] | JSONResponse:
        key = self._authorize_any(ctx, KeyScope.CATEGORIZE, KeyScope.REVIEW)
        if isinstance(key, JSONResponse):
            return key
        try:
            return key, model.model_validate(dict(ctx.request.query_params))
        except ValidationError as exc:
            return _invalid_query(exc)

    @bentoml.api(route="/transactions", output_spec=TransactionList)  # type: ignore[untyped-decorator]
    def list_transactions(self, ctx: bentoml.Context) -> Any:
        """GET ?limit&cursor&date_from&date_until&category&search: newest first, by cursor."""
        return _respond(ctx, self._list_transactions(ctx))

    def _list_transactions(self, ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import transactions  # noqa: PLC0415

        parsed = self._listing_query(ctx, TransactionQuery)
        if isinstance(parsed, JSONResponse):
            return parsed
        key, query = parsed
        filters = transactions.ListFilter(
            query.date_from, query.date_until, query.category, query.search
        )
        try:
            with self._sessions()() as session:
                page = transactions.list_transactions(
                    session, key.tenant_id, filters, limit=query.limit, cursor=query.cursor
                )
        except transactions.InvalidCursorError as exc:
            return _error(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                str(exc),
                [{"loc": ["cursor"], "msg": "not a cursor of this listing", "type": "value_error"}],
            )
        except SQLAlchemyError:
            return _db_unavailable()
        items = [
            TransactionOut.model_validate({**asdict(t), "amount": t.amount}) for t in page.items
        ]
        return _json(
            TransactionList(
                total=page.total, count=len(items), next_cursor=page.next_cursor, items=items
            )
        )

    @bentoml.api(route="/transactions/export.csv")  # type: ignore[untyped-decorator]
    def export_transactions(self, ctx: bentoml.Context) -> Any:
        """GET with the listing's filters (no paging): every matching row as text/csv."""
        return _respond(ctx, self._export_transactions(ctx))

    def _export_transactions(self, ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import transactions  # noqa: PLC0415

        parsed = self._listing_query(ctx, ExportQuery)
        if isinstance(parsed, JSONResponse):
            return parsed
        key, query = parsed
        filters = transactions.ListFilter(
            query.date_from, query.date_until, query.category, query.search
        )
        try:
            with self._sessions()() as session:
                text = transactions.export_csv(session, key.tenant_id, filters)
        except SQLAlchemyError:
            return _db_unavailable()
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
        )

    @bentoml.api(route="/reports/spend", output_spec=SpendReportResponse)  # type: ignore[untyped-decorator]
    def spend_report(self, ctx: bentoml.Context) -> Any:
        """GET ?date_from&date_until: debits by month and category, credits apart."""
        return _respond(ctx, self._spend_report(ctx))

    def _spend_report(self, ctx: bentoml.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from serving import transactions  # noqa: PLC0415

        key = self._authorize_any(ctx, KeyScope.CATEGORIZE, KeyScope.REVIEW)
        if isinstance(key, JSONResponse):
            return key
        try:
            query = SpendQuery.model_validate(dict(ctx.request.query_params))
        except ValidationError as exc:
            return _invalid_query(exc)
        try:
            with self._sessions()() as session:
                report = transactions.spend_report(
                    session, key.tenant_id, query.date_from, query.date_until
                )
        except SQLAlchemyError:
            return _db_unavailable()
        return _json(
            SpendReportResponse(
                date_from=report.date_from,
                date_until=report.date_until,
                credits_handling=(
                    "debits only in lines; credits (refunds, income) are totalled apart in "
                    "credits and never subtracted; amounts per currency, never converted"
                ),
                lines=[
                    SpendLine(
                        month=s.month,
                        category=s.category,
                        currency=s.currency,
                        total_minor=s.total_minor,
                        total=str(from_minor(s.total_minor, s.currency)),
                        count=s.count,
                    )
                    for s in report.lines
                ],
                credits=[
                    CreditLine(
                        month=c.month,
                        currency=c.currency,
                        total_minor=c.total_minor,
                        total=str(from_minor(c.total_minor, c.currency)),
                        count=c.count,
                    )
                    for c in report.credits
                ],
            )
        )


def create_service(
    pool: PoolFactory,
    *,
    name: str = "spendlens",
    authenticator: AuthenticatorFactory = default_authenticator,
    decision_log: DecisionLogFactory = default_decision_log,
    sessions: SessionsFactory = default_sessions,
) -> Any:
    """A BentoML service whose workers build their categorizers with `pool`.

    `authenticator` and `decision_log` build the key check and the decision log per worker
    (the database of `Settings()` unless given).
    """
    live = LiveService()
    inner = type(
        name.title().replace("-", "").replace("_", ""),
        (SpendlensAPI,),
        {
            "live": live,
            "pool_factory": staticmethod(pool),
            "authenticator_factory": staticmethod(authenticator),
            "decision_log_factory": staticmethod(decision_log),
            "sessions_factory": staticmethod(sessions),
            "__module__": __name__,
        },
    )
    service = bentoml.service(inner, name=name, **SERVICE_CONFIG)
    service.add_asgi_middleware(JSONBodyGuard, live=live)
    service.add_asgi_middleware(RestRoutes)
    service.add_asgi_middleware(OpenAPIDocs)
    return service


Spendlens = create_service(default_pool)
