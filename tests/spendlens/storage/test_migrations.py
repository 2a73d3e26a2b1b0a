"""The Alembic migrations build exactly the schema the ORM models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from spendlens.storage.db import migrate
from spendlens.storage.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(engine: Engine) -> None:
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"tenants", "accounts", "transactions", "ingestion_batches", "labels"} <= tables
    assert "alembic_version" in tables
