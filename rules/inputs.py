"""Read a tenant's stored transactions as rows the rules engine and the analyses can use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.engine import RuleInput
from spendlens.normalize.transaction import NormalizedTransaction
from spendlens.storage.models import Account, Transaction
from spendlens.storage.repository import labels_for, validate_tenant_id

__all__ = ["ROWS_PER_CHUNK", "TxnRow", "iter_row_chunks", "load_rows", "rule_input_of"]


@dataclass(frozen=True, slots=True)
class TxnRow:
    """One canonical transaction: what rules see, its newest label, and what a report shows."""

    id: str
    date: dt.date
    input: RuleInput
    label: str | None
    description: str  # PII-masked, as stored
    merchant: str
    amount_minor: int  # absolute; `input.direction` carries the sign
    currency: str


def rule_input_of(txn: Transaction, account_name: str | None) -> RuleInput:
    """The engine's view of one stored transaction."""
    return RuleInput(
        description=txn.description,
        merchant=txn.merchant_name,
        memo=txn.memo,
        amount_minor=txn.amount_minor,
        currency=txn.currency,
        direction=txn.direction,
        date=txn.txn_date,
        mcc=txn.mcc,
        account=account_name,
        account_tail=txn.account_tail,
    )


def load_rows(session: Session, tenant: str, *, since: dt.date | None = None) -> list[TxnRow]:
    """The tenant's canonical transactions (linked SMS duplicates left out), oldest first.

    Only reads: nothing is added to or changed in the session.

    Args:
        session: an open session.
        tenant: the only tenant whose transactions, accounts and labels are read.
        since: when given, only transactions on or after this date.
    """
    return [row for chunk in iter_row_chunks(session, tenant, since=since) for row in chunk]


ROWS_PER_CHUNK = 50_000


def iter_row_chunks(
    session: Session,
    tenant: str,
    *,
    since: dt.date | None = None,
    chunk_rows: int = ROWS_PER_CHUNK,
) -> Iterator[list[TxnRow]]:
    """`load_rows` in chunks of at most `chunk_rows`, same rows and order, read as a stream.

    One query, fetched `chunk_rows` at a time (a server-side cursor on PostgreSQL), so
    memory is bounded by the chunk size, not by the tenant's number of transactions (the
    session's identity map holds loaded transactions weakly). Only reads.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    validate_tenant_id(tenant)
    stmt = (
        select(Transaction, Account.name)
        # Both sides are tenant-filtered: an account id never leaks another tenant's name.
        .join(
            Account,
            (Account.id == Transaction.account_id) & (Account.tenant_id == tenant),
            isouter=True,
        )
        .where(Transaction.tenant_id == tenant, Transaction.linked_to_id.is_(None))
        .order_by(Transaction.txn_date, Transaction.id)
        .execution_options(yield_per=chunk_rows)
    )
    if since is not None:
        stmt = stmt.where(Transaction.txn_date >= since)
    for part in session.execute(stmt).partitions():
        labels = labels_for(session, tenant, [txn.id for txn, _ in part])
        yield [
            TxnRow(
                id=txn.id,
                date=txn.txn_date,
                input=rule_input_of(txn, name),
                label=labels.get(txn.id),
                description=txn.description,
                merchant=txn.merchant_name,
                amount_minor=txn.amount_minor,
                currency=txn.currency,
            )
            for txn, name in part
        ]


def rule_input_of_normalized(row: NormalizedTransaction, account: str | None) -> RuleInput:
    """The engine's view of a row fresh from normalization (not stored yet)."""
    return RuleInput(
        description=row.description,
        merchant=row.merchant.name,
        memo=row.memo,
        amount_minor=row.amount_minor,
        currency=row.currency,
        direction=row.direction.value,
        date=row.txn_date,
        mcc=row.mcc,
        account=account,
        account_tail=row.account_tail,
    )
