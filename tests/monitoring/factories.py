"""Rows for monitoring tests: decisions as the service logs them, transactions and labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from spendlens.storage.models import (
    Account,
    Decision,
    IngestionBatch,
    Label,
    Taxonomy,
    Tenant,
    Transaction,
    new_id,
)

TENANT, TAXONOMY = "acme", "default"
CHAMPION_ACCURACY = 0.9
CATEGORIES = ("coffee", "groceries", "transport")
N_MERCHANTS = 30


def labeled_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Labeled transactions like training's: 30 merchants, USD, amounts around 20."""
    rng = np.random.default_rng(seed)
    merchant = rng.integers(0, N_MERCHANTS, rows)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(rows)],
            "description": [f"SHOP {m} BUY {'X' * int(rng.integers(0, 10))}" for m in merchant],
            "merchant_id": [f"m_{m}" for m in merchant],
            "merchant_name": [f"Shop {m}" for m in merchant],
            "amount": rng.lognormal(3.0, 0.5, rows).round(2),
            "currency": "USD",
            "direction": "debit",
            "mcc": ["5814" if r < 0.5 else None for r in rng.random(rows)],
            "mcc_description": None,
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
            "label": [CATEGORIES[m % 3] for m in merchant],
        }
    )


def decision(
    created_at: dt.datetime,
    *,
    tenant: str = TENANT,
    source: str = "model",
    category: str | None = "coffee",
    confidence: float = 0.95,
    route: str = "auto",
    merchant_id: str = "m_1",
    amount_minor: int = 2_000,
    currency: str = "USD",
    mcc: str | None = "5814",
    description: str = "SHOP 1 BUY XX",
    transaction_id: str | None = None,
    corrected_category: str | None = None,
    corrected_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One `decisions` row with the `features` the service stores."""
    features: dict[str, Any] = {
        "merchant": "Shop",
        "merchant_id": merchant_id,
        "mcc": mcc,
        "amount_minor": amount_minor,
        "currency": currency,
        "direction": "debit",
        "date": created_at.date().isoformat(),
    }
    if source == "model":
        features["model_input"] = {"description": description, "amount": amount_minor / 100}
    return {
        "id": new_id(),
        "tenant_id": tenant,
        "created_at": created_at,
        "fingerprint": new_id() + new_id(),
        "description": description,
        "category": category,
        "primary_category": category,
        "confidence": confidence,
        "route": route,
        "source": source,
        "rule_id": "r1" if source == "rule" else None,
        "model_name": "spendlens-acme-default" if source == "model" else None,
        "model_version": "1" if source == "model" else None,
        "features": features,
        "transaction_id": transaction_id,
        "corrected_category": corrected_category,
        "corrected_by": "ann" if corrected_category else None,
        "corrected_at": corrected_at,
    }


def add_tenant(sessions: sessionmaker[Session], tenant: str = TENANT) -> None:
    with sessions.begin() as session:
        if session.get(Tenant, tenant) is None:
            session.add(Tenant(id=tenant, name=tenant))


def add_decisions(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    if rows:
        with sessions.begin() as session:
            session.execute(insert(Decision), rows)


def add_transaction(sessions: sessionmaker[Session], txn_id: str, tenant: str = TENANT) -> None:
    """A stored transaction (with its account and batch) that labels can point at."""
    with sessions.begin() as session:
        account = Account(tenant_id=tenant, name=f"acct-{txn_id}")
        batch = IngestionBatch(tenant_id=tenant, source="json", filename="f.json")
        session.add_all([account, batch])
        session.flush()
        session.add(
            Transaction(
                id=txn_id,
                tenant_id=tenant,
                account_id=account.id,
                batch_id=batch.id,
                source="json",
                txn_date=dt.date(2026, 11, 1),
                posted_date=dt.date(2026, 11, 1),
                description="SHOP 1 BUY",
                merchant_name="Shop",
                merchant_id="m_1",
                amount_minor=2_000,
                currency="USD",
                direction="debit",
                fingerprint=new_id(),
            )
        )


def add_label(
    sessions: sessionmaker[Session],
    txn_id: str,
    category: str,
    created_at: dt.datetime,
    *,
    source: str = "feedback",
    taxonomy: str = TAXONOMY,
    tenant: str = TENANT,
) -> None:
    """A label of `txn_id` in the named taxonomy (registered on first use)."""
    with sessions.begin() as session:
        row = session.scalar(
            select(Taxonomy).where(Taxonomy.tenant_id == tenant, Taxonomy.name == taxonomy)
        )
        if row is None:
            row = Taxonomy(tenant_id=tenant, name=taxonomy, version=1, content_hash="0" * 64)
            session.add(row)
            session.flush()
        session.add(
            Label(
                tenant_id=tenant,
                transaction_id=txn_id,
                taxonomy_id=row.id,
                category=category,
                source=source,
                created_at=created_at,
            )
        )
