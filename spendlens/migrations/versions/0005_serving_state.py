"""review state on decisions, current transaction categories, backfill and monitoring runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "ix_decisions_tenant_route_resolved",
            ["tenant_id", "route", "resolved_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_decisions_tenant_transaction", ["tenant_id", "transaction_id"], unique=False
        )
    op.create_table(
        "transaction_categories",
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("taxonomy", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=128), nullable=True),
        sa.Column("primary_category", sa.String(length=128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("model_name", sa.String(length=200), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("decision_id", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transaction_categories_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_transaction_categories_transaction_id_transactions"),
        ),
        sa.PrimaryKeyConstraint(
            "transaction_id", "taxonomy", name=op.f("pk_transaction_categories")
        ),
    )
    with op.batch_alter_table("transaction_categories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transaction_categories_tenant_category", ["tenant_id", "category"], unique=False
        )
    op.create_table(
        "backfill_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("taxonomy", sa.String(length=64), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=True),
        sa.Column("cursor", sa.String(length=32), nullable=True),
        sa.Column("scanned", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_backfill_runs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_runs")),
    )
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backfill_runs_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("taxonomy", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("retrain", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("report_path", sa.String(length=1000), nullable=True),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_monitor_runs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    with op.batch_alter_table("monitor_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_runs_tenant_created", ["tenant_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("monitor_runs")
    op.drop_table("backfill_runs")
    op.drop_table("transaction_categories")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_tenant_transaction")
        batch_op.drop_index("ix_decisions_tenant_route_resolved")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_at")
