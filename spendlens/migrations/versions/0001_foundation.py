"""foundation: tenants, accounts, transactions, batches, taxonomies, labels

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tail", sa.String(length=4), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_accounts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_accounts_tenant_id")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ingestion_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detected", sa.JSON(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("linked", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ingestion_batches_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_batches")),
    )
    with op.batch_alter_table("ingestion_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingestion_batches_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "taxonomies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_taxonomies_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomies")),
        sa.UniqueConstraint("tenant_id", "name", "version", name=op.f("uq_taxonomies_tenant_id")),
    )
    with op.batch_alter_table("taxonomies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taxonomies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "crosswalks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source_taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("target_taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_taxonomy_id"],
            ["taxonomies.id"],
            name=op.f("fk_crosswalks_source_taxonomy_id_taxonomies"),
        ),
        sa.ForeignKeyConstraint(
            ["target_taxonomy_id"],
            ["taxonomies.id"],
            name=op.f("fk_crosswalks_target_taxonomy_id_taxonomies"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_crosswalks_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crosswalks")),
        sa.UniqueConstraint(
            "tenant_id",
            "source_taxonomy_id",
            "target_taxonomy_id",
            name=op.f("uq_crosswalks_tenant_id"),
        ),
    )
    with op.batch_alter_table("crosswalks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crosswalks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ingestion_rejects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("excerpt", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingestion_batches.id"],
            name=op.f("fk_ingestion_rejects_batch_id_ingestion_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ingestion_rejects_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_rejects")),
    )
    with op.batch_alter_table("ingestion_rejects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingestion_rejects_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ingestion_rejects_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "taxonomy_categories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("parent", sa.String(length=128), nullable=True),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"],
            ["taxonomies.id"],
            name=op.f("fk_taxonomy_categories_taxonomy_id_taxonomies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy_categories")),
        sa.UniqueConstraint(
            "taxonomy_id", "label", name=op.f("uq_taxonomy_categories_taxonomy_id")
        ),
    )
    with op.batch_alter_table("taxonomy_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxonomy_categories_taxonomy_id"), ["taxonomy_id"], unique=False
        )

    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_ref", sa.String(length=128), nullable=True),
        sa.Column("txn_date", sa.Date(), nullable=False),
        sa.Column("posted_date", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("memo", sa.String(length=2000), nullable=True),
        sa.Column("merchant_name", sa.String(length=200), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("processor", sa.String(length=64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=True),
        sa.Column("mcc", sa.String(length=4), nullable=True),
        sa.Column("mcc_description", sa.String(length=200), nullable=True),
        sa.Column("account_tail", sa.String(length=4), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("linked_to_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_transactions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingestion_batches.id"],
            name=op.f("fk_transactions_batch_id_ingestion_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["linked_to_id"],
            ["transactions.id"],
            name=op.f("fk_transactions_linked_to_id_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transactions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("tenant_id", "fingerprint", name=op.f("uq_transactions_tenant_id")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transactions_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transactions_linked_to_id"), ["linked_to_id"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_tenant_amount", ["tenant_id", "amount_minor"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_tenant_date", ["tenant_id", "txn_date"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_tenant_merchant", ["tenant_id", "merchant_id"], unique=False
        )

    op.create_table(
        "crosswalk_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("crosswalk_id", sa.Integer(), nullable=False),
        sa.Column("source_label", sa.String(length=128), nullable=False),
        sa.Column("target_label", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["crosswalk_id"],
            ["crosswalks.id"],
            name=op.f("fk_crosswalk_entries_crosswalk_id_crosswalks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crosswalk_entries")),
        sa.UniqueConstraint(
            "crosswalk_id", "source_label", name=op.f("uq_crosswalk_entries_crosswalk_id")
        ),
    )
    with op.batch_alter_table("crosswalk_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crosswalk_entries_crosswalk_id"), ["crosswalk_id"], unique=False
        )

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("taxonomy_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"], ["taxonomies.id"], name=op.f("fk_labels_taxonomy_id_taxonomies")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_labels_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_labels_transaction_id_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index("ix_labels_tenant_txn", ["tenant_id", "transaction_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index("ix_labels_tenant_txn")

    op.drop_table("labels")
    with op.batch_alter_table("crosswalk_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crosswalk_entries_crosswalk_id"))

    op.drop_table("crosswalk_entries")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_tenant_merchant")
        batch_op.drop_index("ix_transactions_tenant_date")
        batch_op.drop_index("ix_transactions_tenant_amount")
        batch_op.drop_index(batch_op.f("ix_transactions_linked_to_id"))
        batch_op.drop_index(batch_op.f("ix_transactions_batch_id"))
        batch_op.drop_index(batch_op.f("ix_transactions_account_id"))

    op.drop_table("transactions")
    with op.batch_alter_table("taxonomy_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxonomy_categories_taxonomy_id"))

    op.drop_table("taxonomy_categories")
    with op.batch_alter_table("ingestion_rejects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingestion_rejects_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ingestion_rejects_batch_id"))

    op.drop_table("ingestion_rejects")
    with op.batch_alter_table("crosswalks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crosswalks_tenant_id"))

    op.drop_table("crosswalks")
    with op.batch_alter_table("taxonomies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxonomies_tenant_id"))

    op.drop_table("taxonomies")
    with op.batch_alter_table("ingestion_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingestion_batches_tenant_id"))

    op.drop_table("ingestion_batches")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_tenant_id"))

    op.drop_table("accounts")
    op.drop_table("tenants")
