"""Stored transactions and their labels as the canonical data frames features and training use.

`txns` has one row per transaction (SMS alerts linked to a statement row are left out: the pair
is one purchase); `labels` has one row per label event with the time the label became known.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from spendlens.money import currency_exponent, from_minor
from spendlens.normalize.transaction import NormalizedTransaction
from spendlens.storage.models import Decision, Label, Transaction
from spendlens.storage.models import Taxonomy as TaxonomyRow

TXN_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "tenant_id",
    "account_id",
    "event_timestamp",
    "description",
    "merchant_name",
    "merchant_id",
    "amount",
    "currency",
    "direction",
    "mcc",
    "mcc_description",
)
LABEL_COLUMNS: tuple[str, ...] = ("transaction_id", "category", "label_source", "label_timestamp")


@dataclass(frozen=True)
class Frames:
    """A tenant's transactions and the label events of one taxonomy."""

    txns: pd.DataFrame
    labels: pd.DataFrame


def day_start(day: dt.date) -> dt.datetime:
    """The UTC midnight a transaction date stands for."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def empty_txns() -> pd.DataFrame:
    """A txns frame with no rows and the canonical columns."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in TXN_COLUMNS})
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["amount"] = frame["amount"].astype(float)
    return frame


def empty_labels() -> pd.DataFrame:
    """A labels frame with no rows and the canonical columns."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})
    frame["label_timestamp"] = pd.to_datetime(frame["label_timestamp"], utc=True)
    return frame


def load_frames(
    session: Session,
    tenant_id: str,
    taxonomy: str = "default",
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Frames:
    """A tenant's stored transactions (optionally within dates) and its labels in `taxonomy`."""
    stmt = select(
        Transaction.id,
        Transaction.tenant_id,
        Transaction.account_id,
        Transaction.txn_date,
        Transaction.description,
        Transaction.merchant_name,
        Transaction.merchant_id,
        Transaction.amount_minor,
        Transaction.currency,
        Transaction.direction,
        Transaction.mcc,
        Transaction.mcc_description,
    ).where(Transaction.tenant_id == tenant_id, Transaction.linked_to_id.is_(None))
    if since is not None:
        stmt = stmt.where(Transaction.txn_date >= since)
    if until is not None:
        stmt = stmt.where(Transaction.txn_date <= until)
    rows = session.execute(stmt.order_by(Transaction.txn_date, Transaction.id)).all()
    if not rows:
        return Frames(empty_txns(), empty_labels())
    txns = pd.DataFrame(
        rows,
        columns=[
            "transaction_id",
            "tenant_id",
            "account_id",
            "txn_date",
            "description",
            "merchant_name",
            "merchant_id",
            "amount_minor",
            "currency",
            "direction",
            "mcc",
            "mcc_description",
        ],
    )
    txns["event_timestamp"] = pd.to_datetime(txns.pop("txn_date")).dt.tz_localize("UTC")
    scale = txns["currency"].map(lambda c: 10.0 ** currency_exponent(c))
    txns["amount"] = txns.pop("amount_minor").astype(float) / scale
    txns = txns[list(TXN_COLUMNS)]
    return Frames(txns, label_events(session, tenant_id, taxonomy, txns))


def label_events(
    session: Session, tenant_id: str, taxonomy: str, txns: pd.DataFrame
) -> pd.DataFrame:
    """Label events of the taxonomy (every version of that name) for these transactions."""
    stmt = (
        select(Label.transaction_id, Label.category, Label.source, Label.created_at, Label.id)
        .join(TaxonomyRow, TaxonomyRow.id == Label.taxonomy_id)
        .where(Label.tenant_id == tenant_id, TaxonomyRow.name == taxonomy)
        .order_by(Label.created_at, Label.id)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return empty_labels()
    labels = pd.DataFrame(
        rows, columns=["transaction_id", "category", "label_source", "created_at", "label_id"]
    )
    labels = labels[labels["transaction_id"].isin(txns["transaction_id"])]
    created = pd.to_datetime(labels["created_at"])
    if created.dt.tz is None:  # SQLite hands back naive datetimes; they were stored as UTC
        created = created.dt.tz_localize("UTC")
    else:
        created = created.dt.tz_convert("UTC")
    # An imported label describes the transaction as it happened (a historical file), so it
    # is known from the transaction's own date; a person's correction from when it was made.
    when = labels["transaction_id"].map(txns.set_index("transaction_id")["event_timestamp"])
    labels["label_timestamp"] = created.where(labels["label_source"] != "import", when)
    return labels[list(LABEL_COLUMNS)].reset_index(drop=True)


DECISION_ID_PREFIX = "decision:"


def corrected_decisions(
    session: Session, tenant_id: str, *, since: dt.datetime | None = None
) -> Frames:
    """Corrections of decisions about transactions that are not stored, as training rows.

    A correction of a decision about a stored transaction is already a label of that
    transaction; the others (an app that only calls the API) would be lost to training
    without this. Each row is rebuilt from what the decision log kept: the masked text and the
    normalized values, under the id `decision:<decision id>`.
    """
    stmt = select(
        Decision.id,
        Decision.description,
        Decision.features,
        Decision.corrected_category,
        Decision.corrected_at,
    ).where(
        Decision.tenant_id == tenant_id,
        Decision.corrected_category.is_not(None),
        Decision.transaction_id.is_(None),
    )
    if since is not None:
        stmt = stmt.where(Decision.corrected_at >= since)
    txns, labels = [], []
    for decision_id, description, features, category, corrected_at in session.execute(
        stmt.order_by(Decision.corrected_at, Decision.id)
    ):
        values = dict(features or {})
        if not values.get("date") or values.get("amount_minor") is None:
            continue  # logged without normalized values: nothing to learn from
        currency = str(values.get("currency") or "USD")
        row_id = f"{DECISION_ID_PREFIX}{decision_id}"
        txns.append(
            {
                "transaction_id": row_id,
                "tenant_id": tenant_id,
                "account_id": values.get("account_tail") or "unknown",
                "event_timestamp": day_start(dt.date.fromisoformat(str(values["date"]))),
                "description": description,
                "merchant_name": values.get("merchant") or "",
                "merchant_id": values.get("merchant_id") or "",
                "amount": float(from_minor(int(values["amount_minor"]), currency)),
                "currency": currency,
                "direction": values.get("direction") or "debit",
                "mcc": values.get("mcc"),
                "mcc_description": values.get("mcc_description"),
            }
        )
        when = corrected_at if corrected_at.tzinfo else corrected_at.replace(tzinfo=dt.UTC)
        labels.append(
            {
                "transaction_id": row_id,
                "category": category,
                "label_source": "feedback",
                "label_timestamp": when,
            }
        )
    if not txns:
        return Frames(empty_txns(), empty_labels())
    label_frame = pd.DataFrame(labels, columns=list(LABEL_COLUMNS))
    label_frame["label_timestamp"] = pd.to_datetime(label_frame["label_timestamp"], utc=True)
    return Frames(frame_of(txns), label_frame)


def with_feedback(stored: Frames, corrections: Frames) -> Frames:
    """`stored` plus decision corrections, as one set of frames (training, features)."""
    if corrections.txns.empty:
        return stored
    if stored.txns.empty:
        return corrections
    return Frames(
        pd.concat([stored.txns, corrections.txns], ignore_index=True),
        pd.concat([stored.labels, corrections.labels], ignore_index=True),
    )


def newest_labels(labels: pd.DataFrame) -> pd.Series:
    """The newest category per transaction id (ties: the later event in the frame wins)."""
    if labels.empty:
        return pd.Series(dtype=object, name="label")
    ordered = labels.sort_values("label_timestamp", kind="stable")
    return ordered.groupby("transaction_id")["category"].last().rename("label")


def training_frame(txns: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Labeled transactions: `txns` with a `label` column, unlabeled rows dropped."""
    label = newest_labels(labels)
    out = txns.join(label, on="transaction_id", how="inner")
    return out.reset_index(drop=True)


def frame_of(records: Sequence[dict[str, object]]) -> pd.DataFrame:
    """A txns frame from dicts with the canonical keys (missing optional keys become None)."""
    if not records:
        return empty_txns()
    # Column lists built directly (one frame construction, no column assignments): serving
    # builds a frame per request. A key some records lack reads as NaN there, as in
    # `DataFrame.from_records`; a key no record has is a column of None.
    present = {key for record in records for key in record}
    columns: dict[str, object] = {}
    for column in TXN_COLUMNS:
        if column not in present:
            columns[column] = [None] * len(records)
        else:
            columns[column] = [record.get(column, math.nan) for record in records]
    columns["event_timestamp"] = pd.to_datetime(columns["event_timestamp"], utc=True)
    frame = pd.DataFrame(columns)
    frame["amount"] = frame["amount"].astype(float)
    return frame


def record_of(
    row: NormalizedTransaction, transaction_id: str, tenant_id: str, account_id: str
) -> dict[str, object]:
    """The txns-frame record of a normalized row that is not stored (a file, a request)."""
    return {
        "transaction_id": transaction_id,
        "tenant_id": tenant_id,
        "account_id": account_id,
        "event_timestamp": day_start(row.txn_date),
        "description": row.description,
        "merchant_name": row.merchant.name,
        "merchant_id": row.merchant.merchant_id,
        "amount": float(from_minor(row.amount_minor, row.currency)),
        "currency": row.currency,
        "direction": row.direction.value,
        "mcc": row.mcc,
        "mcc_description": row.mcc_description,
    }
