"""Stored transactions and labels become the canonical frames, with honest label times."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from spendlens.frames import (
    TXN_COLUMNS,
    corrected_decisions,
    frame_of,
    load_frames,
    newest_labels,
    training_frame,
    with_feedback,
)
from spendlens.ingest.loader import IngestOptions, csv_options_from_settings, ingest_bytes
from spendlens.settings import Settings
from spendlens.storage import repository as repo
from spendlens.storage.models import Decision
from spendlens.storage.taxonomies import taxonomy_id

STATEMENT = b"""Date,Description,Amount,Currency,Category
2024-03-01,MEGAMART #0012,-20.00,USD,FOOD_AND_DRINK_GROCERIES
2024-03-05,CORNER BAKERY 77,-6.50,USD,
2024-03-09,TOKYO NOODLE BAR,-1200,JPY,FOOD_AND_DRINK_RESTAURANT
"""


def _load(sessions: sessionmaker[Session], settings: Settings, tenant: str = "alpha") -> None:
    options = IngestOptions(tenant=tenant, csv=csv_options_from_settings(settings))
    summary = ingest_bytes(STATEMENT, "s.csv", sessions, settings, options)
    assert summary.loaded == 3


def test_stored_transactions_become_canonical_rows_in_major_units(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    with sessions() as session:
        frames = load_frames(session, "alpha")
    txns = frames.txns
    assert list(txns.columns) == list(TXN_COLUMNS)
    assert len(txns) == 3
    by_desc = txns.set_index("description")
    assert by_desc.loc["MEGAMART #0012", "amount"] == 20.0
    assert by_desc.loc["TOKYO NOODLE BAR", "amount"] == 1200.0  # JPY has no minor unit
    assert by_desc.loc["CORNER BAKERY 77", "direction"] == "debit"
    assert str(txns["event_timestamp"].dt.tz) == "UTC"
    assert txns["event_timestamp"].min() == pd.Timestamp("2024-03-01", tz="UTC")


def test_imported_labels_are_known_from_the_transaction_date(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    with sessions() as session:
        frames = load_frames(session, "alpha")
    labels = frames.labels.merge(frames.txns, on="transaction_id")
    assert len(labels) == 2
    assert (labels["label_timestamp"] == labels["event_timestamp"]).all()
    assert set(labels["label_source"]) == {"import"}


def test_a_correction_is_known_from_when_it_was_made_and_wins(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    with sessions() as session:
        txns = load_frames(session, "alpha").txns
        bakery = txns.loc[txns["description"] == "CORNER BAKERY 77", "transaction_id"].item()
        mart = txns.loc[txns["description"] == "MEGAMART #0012", "transaction_id"].item()
        tax = taxonomy_id(session, "alpha", "default")
        before = dt.datetime.now(dt.UTC)
        repo.record_feedback(session, "alpha", bakery, "FOOD_AND_DRINK_COFFEE", tax, by="bo")
        repo.record_feedback(session, "alpha", mart, "GENERAL_MERCHANDISE_OTHER", tax, by="bo")
        session.commit()
        frames = load_frames(session, "alpha")
    feedback = frames.labels[frames.labels["label_source"] == "feedback"]
    assert len(feedback) == 2
    assert (feedback["label_timestamp"] >= pd.Timestamp(before) - pd.Timedelta(seconds=1)).all()
    labeled = training_frame(frames.txns, frames.labels).set_index("transaction_id")
    assert len(labeled) == 3
    assert labeled.loc[mart, "label"] == "GENERAL_MERCHANDISE_OTHER"
    assert labeled.loc[bakery, "label"] == "FOOD_AND_DRINK_COFFEE"


def test_frames_never_mix_tenants_or_taxonomies(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings, "alpha")
    _load(sessions, settings, "beta")
    with sessions() as session:
        alpha = load_frames(session, "alpha")
        other_taxonomy = load_frames(session, "alpha", taxonomy="mine")
        empty = load_frames(session, "nobody")
    assert set(alpha.txns["tenant_id"]) == {"alpha"}
    assert len(alpha.txns) == 3
    assert other_taxonomy.labels.empty
    assert empty.txns.empty
    assert list(empty.txns.columns) == list(TXN_COLUMNS)


def test_dates_bound_the_loaded_transactions(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    with sessions() as session:
        frames = load_frames(session, "alpha", since=dt.date(2024, 3, 2), until=dt.date(2024, 3, 8))
    assert list(frames.txns["description"]) == ["CORNER BAKERY 77"]
    assert frames.labels.empty


def test_newest_label_wins_regardless_of_row_order() -> None:
    labels = pd.DataFrame(
        {
            "transaction_id": ["t1", "t1", "t2"],
            "category": ["NEW", "OLD", "X"],
            "label_source": ["feedback", "import", "import"],
            "label_timestamp": pd.to_datetime(["2024-05-01", "2024-01-01", "2024-01-01"], utc=True),
        }
    )
    assert newest_labels(labels).to_dict() == {"t1": "NEW", "t2": "X"}


def test_frame_of_fills_optional_columns() -> None:
    frame = frame_of(
        [{"transaction_id": "t", "event_timestamp": "2024-01-02", "amount": 3, "description": "X"}]
    )
    assert list(frame.columns) == list(TXN_COLUMNS)
    assert frame.loc[0, "mcc"] is None
    assert frame.loc[0, "amount"] == 3.0


def _decision(tenant: str, decision_id: str, **changes: object) -> Decision:
    values: dict[str, object] = {
        "id": decision_id,
        "tenant_id": tenant,
        "fingerprint": "0" * 64,
        "description": "QORVANTA 123 ONLINE",
        "category": "FOOD_AND_DRINK_COFFEE",
        "primary_category": "FOOD_AND_DRINK",
        "confidence": 0.4,
        "route": "review",
        "source": "model",
        "features": {
            "merchant": "Qorvanta",
            "merchant_id": "m-qorvanta",
            "mcc": None,
            "mcc_description": None,
            "amount_minor": 1250,
            "currency": "USD",
            "direction": "debit",
            "date": "2024-03-04",
            "account_tail": "1234",
        },
        "corrected_category": "ENTERTAINMENT_MUSIC_AND_AUDIO",
        "corrected_by": "qa",
        "corrected_at": dt.datetime(2024, 3, 6, 12, tzinfo=dt.UTC),
    }
    values.update(changes)
    return Decision(**values)


def test_corrections_of_unstored_decisions_become_training_rows(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _load(sessions, settings)
    _load(sessions, settings, tenant="beta")
    with sessions.begin() as session:
        session.add_all(
            [
                _decision("alpha", "d1"),
                _decision("alpha", "d2", corrected_category=None, corrected_at=None),
                _decision("alpha", "d3", transaction_id="t-stored"),  # already a label
                _decision("beta", "d4"),
            ]
        )
    with sessions() as session:
        stored = load_frames(session, "alpha")
        corrections = corrected_decisions(session, "alpha")
    assert list(corrections.txns["transaction_id"]) == ["decision:d1"]
    row = corrections.txns.iloc[0]
    assert row["amount"] == 12.5
    assert row["merchant_id"] == "m-qorvanta"
    assert row["account_id"] == "1234"
    assert row["event_timestamp"] == pd.Timestamp("2024-03-04", tz="UTC")
    label = corrections.labels.iloc[0]
    assert label["category"] == "ENTERTAINMENT_MUSIC_AND_AUDIO"
    assert label["label_source"] == "feedback"
    assert label["label_timestamp"] == pd.Timestamp("2024-03-06 12:00", tz="UTC")

    merged = with_feedback(stored, corrections)
    train = training_frame(merged.txns, merged.labels)
    assert len(train) == 3  # two imported labels plus the correction
    assert "ENTERTAINMENT_MUSIC_AND_AUDIO" in set(train["label"])
