"""backfill audit records apart from the decision log; an index to plan backfills

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backfill_changes",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("previous_category", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["backfill_runs.id"], name=op.f("fk_backfill_changes_run_id_backfill_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "transaction_id", name=op.f("pk_backfill_changes")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_tenant_canonical_id",
            ["tenant_id", "linked_to_id", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_tenant_canonical_id")
    op.drop_table("backfill_changes")
