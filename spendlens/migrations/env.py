"""Alembic environment: always driven programmatically by `spendlens.storage.db.migrate`."""

from __future__ import annotations

from alembic import context

from spendlens.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `spendlens init` / spendlens.storage.db.migrate")

# render_as_batch: SQLite can only alter tables by copying them; batch mode does that for us.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
