"""One ASGI app of the service for every HTTP test, with switchable key checks and decision log.

BentoML registers its Prometheus metrics globally, so a process serves one ASGI app: the app's
authenticator and decision log delegate to `Backend`, which each test points at fakes (the
default) or at real keys and the `decisions` table in a SQLite file of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from serving.decisions import (
    DecisionInputs,
    DecisionLog,
    DecisionRecord,
    FeedbackResult,
    InMemoryDecisionLog,
    SqlDecisionLog,
)
from serving.reload import CategorizerPool, TenantMismatchError, UnknownTenantError
from serving.routing import Route, Source
from serving.schemas import CategorizeRequest, CategorizeResponse, Explanation
from serving.service import Authenticator, create_service, sql_authenticator
from spendlens.auth import ApiKeyInfo, Scope
from spendlens.settings import Settings
from spendlens.storage.db import make_engine, migrate, session_factory
from spendlens.storage.keys import create_key, revoke_key

TENANT = "acme"
OTHER = "globex"
MERCHANT_ID = "m-starbucks"
LABELS = ("FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_GROCERIES")


class FakeCategorizer:
    """Serves tenant acme; answers every request with coffee; remembers what it was asked."""

    tenant = TENANT

    def __init__(self, *, ready: bool = True) -> None:
        self.ready = ready
        self.seen: list[CategorizeRequest] = []

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        self.seen.extend(requests)
        if any(r.tenant not in (None, TENANT) for r in requests):
            raise TenantMismatchError(f"this service categorizes for tenant {TENANT!r}")
        return [
            (
                CategorizeResponse(
                    decision_id=uuid.uuid4().hex,
                    primary_category="FOOD_AND_DRINK",
                    category="FOOD_AND_DRINK_COFFEE",
                    confidence=0.97,
                    route=Route.AUTO,
                    source=Source.RULE,
                    rule_id="r-coffee",
                    explanation=Explanation(reason="a rule matched", rule_id="r-coffee"),
                ),
                DecisionInputs(
                    description=r.description.upper(),
                    features={"merchant_id": MERCHANT_ID, "mcc": r.mcc},
                ),
            )
            for r in requests
        ]

    def health(self) -> dict[str, bool]:
        return {"model_loaded": self.ready, "db_reachable": True, "ready": self.ready}


def fake_key(tenant: str, *scopes: Scope, revoked: bool = False) -> ApiKeyInfo:
    now = dt.datetime.now(dt.UTC)
    return ApiKeyInfo(
        id=uuid.uuid4().hex,
        tenant_id=tenant,
        name="test",
        prefix="0000abcd",
        scopes=frozenset(scopes),
        created_at=now,
        revoked_at=now if revoked else None,
    )


# Plaintext -> info: what the fake authenticator knows.
FAKE_KEYS = {
    "acme-all": fake_key(TENANT, Scope.CATEGORIZE, Scope.FEEDBACK),
    "acme-admin": fake_key(TENANT, Scope.ADMIN),
    "acme-review": fake_key(TENANT, Scope.REVIEW),
    "acme-revoked": fake_key(TENANT, Scope.CATEGORIZE, revoked=True),
    "globex-all": fake_key(OTHER, Scope.ADMIN),
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Backend:
    """What the shared app's key check and decision log currently delegate to."""

    categorizer: FakeCategorizer = field(default_factory=FakeCategorizer)
    authenticate: Authenticator = FAKE_KEYS.get
    log: DecisionLog = field(default_factory=InMemoryDecisionLog)
    pool: CategorizerPool | None = None  # a real pool (serving.reload) instead of the fake
    # Tenant data for the review/transaction endpoints: an unmigrated in-memory database (so
    # those endpoints answer 503) unless sql_backend points it at its SQLite file.
    sessions: sessionmaker[Session] = field(
        default_factory=lambda: session_factory(make_engine("sqlite://"))
    )


class BackendPool:
    """The backend's real pool when a test set one, else the fake categorizer for its tenant."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def get(self, tenant: str) -> Any:
        if self.backend.pool is not None:
            return self.backend.pool.get(tenant)
        if tenant != self.backend.categorizer.tenant:
            raise UnknownTenantError(f"tenant {tenant!r} is not served here")
        return self.backend.categorizer

    def ready(self) -> bool:
        if self.backend.pool is not None:
            return self.backend.pool.ready()
        return self.backend.categorizer.health()["ready"]

    def status(self) -> dict[str, dict[str, Any]]:
        if self.backend.pool is not None:
            return self.backend.pool.status()
        return {self.backend.categorizer.tenant: dict(self.backend.categorizer.health())}

    def stop(self) -> None:
        pass


class _Log:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def record(self, records: Sequence[DecisionRecord]) -> None:
        self.backend.log.record(records)

    def get(self, tenant: str, decision_id: str) -> DecisionRecord | None:
        return self.backend.log.get(tenant, decision_id)

    def feedback(
        self, tenant: str, decision_id: str, category: str, *, by: str | None
    ) -> FeedbackResult:
        return self.backend.log.feedback(tenant, decision_id, category, by=by)


@pytest.fixture(scope="session")
def backend() -> Backend:
    return Backend()


@pytest.fixture(scope="session")
def app_client(backend: Backend) -> Iterator[TestClient]:
    def check(key: str) -> ApiKeyInfo | None:  # late-bound: tests switch backend.authenticate
        return backend.authenticate(key)

    service = create_service(
        lambda: BackendPool(backend),
        name="spendlens-test",
        authenticator=lambda: check,
        decision_log=lambda: _Log(backend),
        sessions=lambda: backend.sessions,  # late-bound: sql_backend switches it
    )
    with TestClient(service.to_asgi()) as client:
        yield client


@pytest.fixture
def memory_log(backend: Backend) -> InMemoryDecisionLog:
    """Fake keys (FAKE_KEYS) and a fresh in-memory decision log."""
    log = InMemoryDecisionLog(LABELS)
    backend.authenticate = FAKE_KEYS.get
    backend.log = log
    return log


@dataclass
class SqlBackend:
    """Real keys (plaintext by name) and the decision log in a migrated SQLite file."""

    sessions: sessionmaker[Session]
    log: SqlDecisionLog
    keys: dict[str, str]


@pytest.fixture
def sql_backend(backend: Backend, tmp_path: Path) -> Iterator[SqlBackend]:
    engine = make_engine(f"sqlite:///{tmp_path / 'spendlens.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        keys["acme"], _ = create_key(session, TENANT, "app", "categorize,feedback")
        keys["acme-categorize"], _ = create_key(session, TENANT, "categorize only", "categorize")
        keys["acme-feedback"], _ = create_key(session, TENANT, "feedback only", "feedback")
        keys["acme-revoked"], info = create_key(session, TENANT, "old", "admin")
        revoke_key(session, TENANT, info.id)
        keys["globex"], _ = create_key(session, OTHER, "app", "admin")
    log = SqlDecisionLog(sessions, Settings(state_dir=tmp_path / "state"))
    backend.authenticate = sql_authenticator(sessions)
    backend.log = log
    unmigrated, backend.sessions = backend.sessions, sessions
    yield SqlBackend(sessions, log, keys)
    backend.authenticate = FAKE_KEYS.get
    backend.log = InMemoryDecisionLog(LABELS)
    backend.sessions = unmigrated
    engine.dispose()
