"""JSON columns: what goes in comes back, on both backends, written by orjson."""

from __future__ import annotations

import json
import math

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving.decisions import DecisionRecord, SqlDecisionLog, new_decision_id
from spendlens.settings import Settings
from spendlens.storage.db import json_dumps
from spendlens.storage.models import Decision, utcnow
from spendlens.storage.repository import ensure_tenant


def test_json_dumps_writes_what_json_reads_back() -> None:
    value = {"a": [1, 2.5, None, True], "text": 'Café \u2603 "quoted"', 7: "int key"}
    assert json.loads(json_dumps(value)) == {
        **{k: v for k, v in value.items() if k != 7},
        "7": "int key",
    }


def test_json_dumps_writes_nan_as_null_which_postgres_accepts() -> None:
    assert json.loads(json_dumps({"x": math.nan, "y": math.inf})) == {"x": None, "y": None}


def test_json_dumps_falls_back_to_json_for_what_orjson_refuses() -> None:
    # orjson refuses float subclasses such as numpy's float64; json writes them as floats.
    assert json.loads(json_dumps({"p": np.float64(0.25)})) == {"p": 0.25}


def test_a_decisions_features_round_trip_through_the_database(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        ensure_tenant(session, "acme")
    features = {
        "merchant": "Blue Bottle",
        "model_input": {"amount": 4.5, "m_txn_count": 3.0, "missing": None},
        "alternatives": [{"category": "FOOD_AND_DRINK_COFFEE", "confidence": 0.97}],
    }
    record = DecisionRecord(
        id=new_decision_id(),
        tenant_id="acme",
        created_at=utcnow(),
        fingerprint="f" * 64,
        description="BLUE BOTTLE",
        category="FOOD_AND_DRINK_COFFEE",
        primary_category="FOOD_AND_DRINK",
        confidence=0.97,
        route="auto",
        source="model",
        features=features,
    )
    SqlDecisionLog(sessions, Settings()).record([record])
    with sessions() as session:
        stored = session.scalar(select(Decision.features).where(Decision.id == record.id))
    assert stored == features
