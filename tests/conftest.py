"""Shared fixtures: every storage test runs on SQLite and on an isolated PostgreSQL schema."""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from spendlens.settings import Settings
from spendlens.storage.db import make_engine, migrate, session_factory

POSTGRES_URL = os.environ.get(
    "SPENDLENS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def _postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip locally, fail in CI (CI=true), when PostgreSQL is not there."""
    reason = _postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_schema_url() -> Iterator[tuple[str, str]]:
    """A fresh, empty PostgreSQL schema for one test; yields (url, schema) and drops it after."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "spendlens.db"
        eng = make_engine(f"sqlite:///{path}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    schema_fixture = request.getfixturevalue("postgres_schema_url")
    url, schema = schema_fixture
    # search_path puts every table (and Alembic's version table) in this test's own schema.
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory bound to the per-test database."""
    return session_factory(engine)


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a private state dir (the database comes from the `engine` fixture)."""
    return Settings(state_dir=tmp_path_factory.mktemp("state"))


# MLflow stores built once per session and copied per test: creating MLflow's tables runs its
# whole Alembic history (3-12 s on SQLite). Shared by the xdist workers through a file lock.
BuildOnce = Callable[[str, Callable[[Path], None]], Path]


@pytest.fixture(scope="session")
def build_once(tmp_path_factory: pytest.TempPathFactory) -> BuildOnce:
    """`build_once(name, build)`: a directory filled by `build` once per test session.

    Under xdist every worker has its own base temp dir; their common parent is per session.
    `build` runs inside the directory (anything MLflow drops in the cwd stays there) with
    MLflow's telemetry off.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent

    def get(name: str, build: Callable[[Path], None]) -> Path:
        target = root / name
        with (root / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                with pytest.MonkeyPatch.context() as patch:
                    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
                    patch.chdir(target)
                    build(target)
                (target / ".complete").touch()
        return target

    return get


def _create_mlflow_tables(state: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        from training.tracking import tracking_client  # noqa: PLC0415 - after the env is set

        tracking_client(Settings(state_dir=state)).search_experiments()  # creates the tables


@pytest.fixture(scope="session")
def mlflow_empty_db(build_once: BuildOnce) -> Path:
    """An MLflow SQLite database with every table created and no data (do not modify)."""
    return build_once("mlflow-empty", _create_mlflow_tables) / "mlflow.db"
