"""Engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from spendlens.settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a loader writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def json_dumps(value: Any) -> str:
    """The text of a JSON column's value.

    orjson writes a decision row's features (~40 values) in a tenth of json.dumps' time; the
    decision log serializes one per decision. Unlike json.dumps it writes NaN and infinities
    as null (valid JSON, which PostgreSQL requires); values it cannot encode go to json.dumps.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings spendlens relies on."""
    kwargs.setdefault("json_serializer", json_dumps)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def engine_from_settings(settings: Settings) -> Engine:
    """Engine for the configured database; creates the state dir for the default SQLite file."""
    if settings.database_url is None:
        settings.ensure_state_dir()
    return make_engine(settings.resolved_database_url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit (the CLI prints them)."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (idempotent)."""
    from alembic import command  # noqa: PLC0415 -- alembic is only needed when migrating
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(resources.files("spendlens") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
