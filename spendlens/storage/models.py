"""SQLAlchemy ORM models; every row that holds user data carries its tenant id."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names so migrations look the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A random 32-hex-digit id, generated client-side so bulk inserts know their keys."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock storage uses."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    """A customer of the platform; every other table is scoped by it."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A bank account or card of a tenant; `tail` is its last four digits when known."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    tail: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestionBatch(Base):
    """One load of one file: what was detected, the counts, and whether it finished."""

    __tablename__ = "ingestion_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    source: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="running")
    detected: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    loaded: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    linked: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class IngestionReject(Base):
    """A row of a batch that was not loaded, with its line number, reason and a masked excerpt."""

    __tablename__ = "ingestion_rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingestion_batches.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    excerpt: Mapped[str] = mapped_column(String(200), default="")


class Transaction(Base):
    """A normalized transaction. Text columns hold PII-masked text only.

    `amount_minor` is the absolute amount in minor units; `direction` carries the sign.
    `linked_to_id` is set on a secondary record (an SMS alert) of a transaction that a statement
    also reported, so the pair is counted once.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "fingerprint"),
        Index("ix_transactions_tenant_date", "tenant_id", "txn_date"),
        Index("ix_transactions_tenant_merchant", "tenant_id", "merchant_id"),
        Index("ix_transactions_tenant_amount", "tenant_id", "amount_minor"),
        # A tenant's canonical ids in order, from the index alone: how backfills plan chunks.
        Index("ix_transactions_tenant_canonical_id", "tenant_id", "linked_to_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("ingestion_batches.id"), index=True)
    source: Mapped[str] = mapped_column(String(8))
    source_ref: Mapped[str | None] = mapped_column(String(128))
    txn_date: Mapped[dt.date] = mapped_column(Date)
    posted_date: Mapped[dt.date] = mapped_column(Date)
    posted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    description: Mapped[str] = mapped_column(String(2000))
    memo: Mapped[str | None] = mapped_column(String(2000))
    merchant_name: Mapped[str] = mapped_column(String(200))
    merchant_id: Mapped[str] = mapped_column(String(32))
    processor: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    direction: Mapped[str] = mapped_column(String(6))
    balance_minor: Mapped[int | None] = mapped_column(BigInteger)
    mcc: Mapped[str | None] = mapped_column(String(4))
    mcc_description: Mapped[str | None] = mapped_column(String(200))
    account_tail: Mapped[str | None] = mapped_column(String(4))
    fingerprint: Mapped[str] = mapped_column(String(64))
    linked_to_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Taxonomy(Base):
    """A versioned category taxonomy registered by a tenant (the default one included)."""

    __tablename__ = "taxonomies"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TaxonomyCategory(Base):
    """One label of a taxonomy version, with its optional parent."""

    __tablename__ = "taxonomy_categories"
    __table_args__ = (UniqueConstraint("taxonomy_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"), index=True)
    label: Mapped[str] = mapped_column(String(128))
    parent: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(1000), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Crosswalk(Base):
    """A mapping from one taxonomy version's labels onto another's."""

    __tablename__ = "crosswalks"
    __table_args__ = (UniqueConstraint("tenant_id", "source_taxonomy_id", "target_taxonomy_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    source_taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"))
    target_taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrosswalkEntry(Base):
    """One source label -> target label pair of a crosswalk."""

    __tablename__ = "crosswalk_entries"
    __table_args__ = (UniqueConstraint("crosswalk_id", "source_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crosswalk_id: Mapped[int] = mapped_column(ForeignKey("crosswalks.id"), index=True)
    source_label: Mapped[str] = mapped_column(String(128))
    target_label: Mapped[str] = mapped_column(String(128))


class Label(Base):
    """A category assigned to a transaction by a person or an import, in a named taxonomy."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_tenant_txn", "tenant_id", "transaction_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    transaction_id: Mapped[str] = mapped_column(ForeignKey("transactions.id"))
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id"))
    category: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RuleRow(Base):
    """A tenant's categorization rule; `body` holds the typed rule (see rules/models.py) as JSON.

    Columns a query filters or sorts on are copied out of the body.
    """

    __tablename__ = "rules"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(16))
    group: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RuleSetVersion(Base):
    """A counter per tenant, bumped on every rule change, so a running service can reload."""

    __tablename__ = "rule_set_versions"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MerchantFlag(Base):
    """What governed learning concluded about a merchant, e.g. ambiguous (no rule), and why."""

    __tablename__ = "merchant_flags"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ambiguous: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A tenant's API key: only the SHA-256 digest of the key is stored, never the key.

    `prefix` is the public part of the key that finds its row; `scopes` is comma-separated
    (see spendlens.auth.Scope). A revoked key keeps its row, with `revoked_at` set.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Decision(Base):
    """One categorization decision the service returned (the decision log), id = decision_id.

    `description` is the PII-masked text the categorizer saw, `fingerprint` the SHA-256 of the
    normalized request (repeats of a request share it), `features` the values the decision used.
    A correction of a decision without a stored transaction lands in the `corrected_*` columns.

    `fingerprint` has no index of its own: nothing the service runs looks decisions up by it,
    and a hash puts every insert on a random page of its index (on a 400,000-row log, a batch
    of 1,000 decisions took 82 ms to write with it and 24 ms without). Audit queries by
    fingerprint narrow by tenant and `created_at` first, which are indexed.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_tenant_created", "tenant_id", "created_at"),
        Index("ix_decisions_tenant_route_resolved", "tenant_id", "route", "resolved_at"),
        Index("ix_decisions_tenant_transaction", "tenant_id", "transaction_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    fingerprint: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(2000))
    category: Mapped[str | None] = mapped_column(String(128))
    primary_category: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    route: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(64))
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    corrected_category: Mapped[str | None] = mapped_column(String(128))
    corrected_by: Mapped[str | None] = mapped_column(String(128))
    corrected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when a reviewer (or feedback) settles a decision: it leaves the review queue.
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class TransactionCategory(Base):
    """The current machine category of a stored transaction in one taxonomy (one row each).

    Written by ingestion through the API and by backfills; a human label (`labels`) always
    outranks it when a category is shown. `decision_id` points at the service decision that
    set it; a row a backfill set has `run_id` instead (and a `backfill_changes` record).
    """

    __tablename__ = "transaction_categories"
    __table_args__ = (Index("ix_transaction_categories_tenant_category", "tenant_id", "category"),)

    transaction_id: Mapped[str] = mapped_column(ForeignKey("transactions.id"), primary_key=True)
    taxonomy: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    category: Mapped[str | None] = mapped_column(String(128))
    primary_category: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    route: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(64))
    decision_id: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BackfillRun(Base):
    """One backfill (re-categorization) run: its scope, what it used, progress and outcome.

    `cursor` is the last transaction id fully processed (runs walk transactions in id order),
    so a rerun of a crashed run resumes after it.
    """

    __tablename__ = "backfill_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    taxonomy: Mapped[str] = mapped_column(String(64))
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_until: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="running")
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(64))
    rules_version: Mapped[int | None] = mapped_column(Integer)
    cursor: Mapped[str | None] = mapped_column(String(32))
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class BackfillChange(Base):
    """The audit record of one decision a backfill run changed: from what to what.

    Append-only, one narrow row per changed transaction (a run that changes nothing writes
    none). Kept apart from `decisions`, the service's decision log: re-deciding history is not
    live traffic, so it must not reach monitoring windows or the review queue.
    """

    __tablename__ = "backfill_changes"

    run_id: Mapped[str] = mapped_column(ForeignKey("backfill_runs.id"), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    previous_category: Mapped[str | None] = mapped_column(String(128))  # None: was undecided
    category: Mapped[str | None] = mapped_column(String(128))  # None: the fallback


class MonitorRun(Base):
    """One monitoring run: the summary it computed and whether it asked for retraining."""

    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    taxonomy: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retrain: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    report_path: Mapped[str | None] = mapped_column(String(1000))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
