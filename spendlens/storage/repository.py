"""Tenant-scoped queries. Every function takes the tenant id: there is no unscoped read."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from spendlens.storage.models import (
    Account,
    IngestionBatch,
    IngestionReject,
    Label,
    Tenant,
    Transaction,
)

T = TypeVar("T")
_TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Keep IN lists well under SQLite's bound-parameter limit.
IN_CHUNK = 500


class TenantError(ValueError):
    """A tenant id that is not a valid slug."""


def validate_tenant_id(tenant_id: str) -> str:
    """Return the id if it is a lowercase slug (letters, digits, '-', '_'), else raise."""
    if not _TENANT_ID_RE.match(tenant_id):
        raise TenantError(
            f"invalid tenant id {tenant_id!r}: use 1-64 lowercase letters, digits, '-' or '_'"
        )
    return tenant_id


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ensure_tenant(session: Session, tenant_id: str, name: str | None = None) -> Tenant:
    """Get a tenant, creating it on first use."""
    tenant = session.get(Tenant, validate_tenant_id(tenant_id))
    if tenant is None:
        tenant = Tenant(id=tenant_id, name=name or tenant_id)
        session.add(tenant)
        session.flush()
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    """All tenants (an operator view; not exposed to tenants)."""
    return list(session.scalars(select(Tenant).order_by(Tenant.id)))


def ensure_account(session: Session, tenant_id: str, name: str, tail: str | None = None) -> Account:
    """Get a tenant's account by name, creating it (and learning its tail) on first use."""
    account = session.scalar(
        select(Account).where(Account.tenant_id == tenant_id, Account.name == name)
    )
    if account is None:
        account = Account(tenant_id=tenant_id, name=name, tail=tail)
        session.add(account)
        session.flush()
    elif tail and not account.tail:
        account.tail = tail
    return account


def find_accounts_by_tail(session: Session, tenant_id: str, tail: str) -> list[Account]:
    """A tenant's accounts whose last four digits are `tail`."""
    return list(
        session.scalars(select(Account).where(Account.tenant_id == tenant_id, Account.tail == tail))
    )


def existing_fingerprints(
    session: Session, tenant_id: str, fingerprints: Sequence[str]
) -> set[str]:
    """The subset of `fingerprints` already stored for this tenant."""
    found: set[str] = set()
    for part in chunks(fingerprints):
        found.update(
            session.scalars(
                select(Transaction.fingerprint).where(
                    Transaction.tenant_id == tenant_id, Transaction.fingerprint.in_(part)
                )
            )
        )
    return found


def link_candidates(
    session: Session,
    tenant_id: str,
    *,
    sms: bool,
    start: dt.date,
    end: dt.date,
    amounts: Sequence[int],
) -> list[Transaction]:
    """Unlinked transactions that could be the other half of an SMS/statement pair.

    Args:
        sms: True to find stored SMS alerts (for new statement rows), False for statement rows.
        start, end: inclusive date window.
        amounts: minor-unit amounts of the new rows; only equal amounts can match.
    """
    source_filter = Transaction.source == "sms" if sms else Transaction.source != "sms"
    found: list[Transaction] = []
    for part in chunks(sorted(set(amounts))):
        stmt = select(Transaction).where(
            Transaction.tenant_id == tenant_id,
            source_filter,
            Transaction.linked_to_id.is_(None),
            Transaction.txn_date.between(start, end),
            Transaction.amount_minor.in_(part),
        )
        found.extend(session.scalars(stmt))
    if sms:
        return found
    # A statement row that already has an SMS linked to it is taken.
    taken = set(
        session.scalars(
            select(Transaction.linked_to_id).where(
                Transaction.tenant_id == tenant_id,
                Transaction.linked_to_id.in_([t.id for t in found] or [""]),
            )
        )
    )
    return [t for t in found if t.id not in taken]


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Filters for listing a tenant's transactions."""

    since: dt.date | None = None
    until: dt.date | None = None
    search: str | None = None
    merchant_id: str | None = None
    account: str | None = None
    include_linked: bool = False


def _filtered(tenant_id: str, filters: TransactionFilter) -> Select[Transaction]:
    stmt = select(Transaction).where(Transaction.tenant_id == tenant_id)
    if not filters.include_linked:
        stmt = stmt.where(Transaction.linked_to_id.is_(None))
    if filters.since:
        stmt = stmt.where(Transaction.txn_date >= filters.since)
    if filters.until:
        stmt = stmt.where(Transaction.txn_date <= filters.until)
    if filters.merchant_id:
        stmt = stmt.where(Transaction.merchant_id == filters.merchant_id)
    if filters.account:
        stmt = stmt.join(Account, Account.id == Transaction.account_id).where(
            Account.name == filters.account
        )
    if filters.search:
        pattern = f"%{filters.search.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Transaction.description).like(pattern),
                func.lower(Transaction.merchant_name).like(pattern),
            )
        )
    return stmt


def list_transactions(
    session: Session,
    tenant_id: str,
    filters: TransactionFilter | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> list[Transaction]:
    """A page of a tenant's transactions, newest first."""
    stmt = _filtered(tenant_id, filters or TransactionFilter())
    stmt = stmt.order_by(Transaction.txn_date.desc(), Transaction.id).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_transactions(
    session: Session, tenant_id: str, filters: TransactionFilter | None = None
) -> int:
    """How many of a tenant's transactions match the filters."""
    sub = _filtered(tenant_id, filters or TransactionFilter()).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def labels_for(session: Session, tenant_id: str, transaction_ids: Sequence[str]) -> dict[str, str]:
    """Newest label per transaction among the given ids."""
    result: dict[str, tuple[dt.datetime, int, str]] = {}
    for part in chunks(transaction_ids):
        rows = session.execute(
            select(Label.transaction_id, Label.created_at, Label.id, Label.category).where(
                Label.tenant_id == tenant_id, Label.transaction_id.in_(part)
            )
        )
        for txn_id, created, label_id, category in rows:
            if txn_id not in result or (created, label_id) > result[txn_id][:2]:
                result[txn_id] = (created, label_id, category)
    return {txn_id: value[2] for txn_id, value in result.items()}


def list_batches(session: Session, tenant_id: str, limit: int = 20) -> list[IngestionBatch]:
    """A tenant's most recent ingestion batches."""
    stmt = (
        select(IngestionBatch)
        .where(IngestionBatch.tenant_id == tenant_id)
        .order_by(IngestionBatch.started_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get_batch(session: Session, tenant_id: str, batch_id: str) -> IngestionBatch | None:
    """One batch of this tenant (None for another tenant's batch)."""
    return session.scalar(
        select(IngestionBatch).where(
            IngestionBatch.tenant_id == tenant_id, IngestionBatch.id == batch_id
        )
    )


def batch_rejects(session: Session, tenant_id: str, batch_id: str) -> list[IngestionReject]:
    """The rejected rows of one of this tenant's batches, in file order."""
    stmt = (
        select(IngestionReject)
        .where(IngestionReject.tenant_id == tenant_id, IngestionReject.batch_id == batch_id)
        .order_by(IngestionReject.line_no)
    )
    return list(session.scalars(stmt))


class UnknownTransactionError(LookupError):
    """The tenant has no transaction with that id."""


def record_feedback(
    session: Session,
    tenant_id: str,
    transaction_id: str,
    category: str,
    taxonomy_id: int,
    *,
    by: str | None,
    source: str = "feedback",
) -> Label:
    """Store a person's category for one of the tenant's transactions (a correction).

    Raises:
        UnknownTransactionError: the id is not one of this tenant's transactions.
    """
    txn = session.scalar(
        select(Transaction).where(
            Transaction.tenant_id == tenant_id, Transaction.id == transaction_id
        )
    )
    if txn is None:
        raise UnknownTransactionError(f"tenant {tenant_id!r} has no transaction {transaction_id!r}")
    label = Label(
        tenant_id=tenant_id,
        transaction_id=transaction_id,
        taxonomy_id=taxonomy_id,
        category=category,
        source=source,
        created_by=by,
    )
    session.add(label)
    session.flush()
    return label
