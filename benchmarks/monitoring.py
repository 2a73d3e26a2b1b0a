"""A monitoring run over 100,000 generated decisions (no text drift), split into its steps.

Setup (not counted): generate and normalize transactions, log a champion whose training
snapshot is 20,000 of them, and insert 100,000 decisions of the others (5% corrected) into a
scratch SQLite database. Then `run_monitor` is timed: load (champion, reference and the decision
window), accuracy (feedback and new-feedback count), drift (frames + Evidently), report (HTML and
JSON files) and log (the MLflow run). Target: under 30 s beyond imports.
`SPENDLENS_BENCH_MONITOR_ROWS` sets a smaller size for a quick check.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from spendlens.settings import Settings

ROWS, REFERENCE_ROWS, SEED = 100_000, 20_000, 3
TARGET_S = 30.0
TENANT, TAXONOMY = "bench", "default"


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def _log_champion(settings: Settings, labeled: pd.DataFrame, folder: Path) -> None:
    """Register a tiny model as champion with a reference snapshot of `labeled`."""
    import numpy as np  # noqa: PLC0415
    from sklearn.dummy import DummyClassifier  # noqa: PLC0415

    from training import tracking  # noqa: PLC0415
    from training.evaluation import split_holdout  # noqa: PLC0415
    from training.pipeline import reference_snapshot, train_merchants  # noqa: PLC0415
    from training.registry import CHAMPION, model_name  # noqa: PLC0415

    split = split_holdout(labeled["merchant_id"].to_numpy(dtype=object), 0.2, 0.1, SEED)
    classes = sorted(labeled["label"].unique())
    rng = np.random.default_rng(SEED)
    proba = rng.dirichlet(np.full(len(classes), 0.2), len(split.test_index))
    reference_snapshot(labeled, split, classes, proba, REFERENCE_ROWS, SEED).to_parquet(
        folder / "reference.parquet", index=False
    )
    train_merchants(labeled, split).to_parquet(folder / "merchants.parquet", index=False)
    example = labeled[["amount"]].head(3)
    model = DummyClassifier().fit(example, labeled["label"].head(3))
    lineage = tracking.Lineage(
        "0" * 64, len(labeled), 0, 0, 0, "-", "unknown", TENANT, TAXONOMY, "generated"
    )
    name = model_name(settings, TENANT, TAXONOMY)
    logged = tracking.log_candidate(
        settings,
        TENANT,
        TAXONOMY,
        candidate="bench",
        model=model,
        params={},
        metrics={"accuracy": 0.9},
        per_class=[],
        artifacts={
            tracking.REFERENCE_ARTIFACT: folder / "reference.parquet",
            tracking.TRAIN_MERCHANTS_ARTIFACT: folder / "merchants.parquet",
        },
        lineage=lineage,
        input_example=example,
        registered_model_name=name,
    )
    assert logged.version is not None
    tracking.tracking_client(settings).set_registered_model_alias(name, CHAMPION, logged.version)


def _decisions(frame: pd.DataFrame, now: dt.datetime) -> list[dict[str, Any]]:
    """Decision-log rows for generated transactions, spread over the last 23 hours."""
    from decimal import Decimal  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from spendlens.money import to_minor  # noqa: PLC0415
    from spendlens.storage.models import new_id  # noqa: PLC0415

    rng = np.random.default_rng(SEED)
    confidence = rng.beta(6, 1.5, len(frame))
    is_rule = rng.random(len(frame)) < 0.3
    corrected = rng.random(len(frame)) < 0.05
    rows = []
    for i, txn in enumerate(frame.itertuples(index=False)):
        created = now - dt.timedelta(seconds=int(rng.integers(60, 23 * 3600)))
        conf = float(confidence[i])
        route = "auto" if is_rule[i] or conf >= 0.9 else "suggest" if conf >= 0.6 else "review"
        amount_minor = to_minor(Decimal(str(txn.amount)), str(txn.currency))
        rows.append(
            {
                "id": new_id(),
                "tenant_id": TENANT,
                "created_at": created,
                "fingerprint": new_id(),
                "description": txn.description,
                "category": txn.label,
                "primary_category": txn.label,
                "confidence": 0.98 if is_rule[i] else conf,
                "route": route,
                "source": "rule" if is_rule[i] else "model",
                "features": {
                    "merchant_id": txn.merchant_id,
                    "mcc": txn.mcc,
                    "amount_minor": amount_minor,
                    "currency": txn.currency,
                    "direction": txn.direction,
                    "model_input": {"description": txn.description},
                },
                "corrected_category": txn.label if corrected[i] and i % 2 else None,
                "corrected_at": created if corrected[i] and i % 2 else None,
            }
        )
    return rows


def run() -> dict[str, Any]:
    """Time one monitoring run over ROWS decisions in a scratch state dir."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    rows = int(os.environ.get("SPENDLENS_BENCH_MONITOR_ROWS", ROWS))
    started = time.perf_counter()
    import evidently  # noqa: F401, PLC0415 - imported up front: import time is not run time
    import mlflow  # noqa: F401, PLC0415
    from sqlalchemy import insert  # noqa: PLC0415

    from monitoring.job import run_monitor  # noqa: PLC0415
    from spendlens.settings import Settings  # noqa: PLC0415
    from spendlens.storage.db import make_engine, migrate, session_factory  # noqa: PLC0415
    from spendlens.storage.models import Decision, Tenant  # noqa: PLC0415
    from training.synthetic import generated_frame  # noqa: PLC0415

    import_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="spendlens-bench-monitor-") as tmp:
        folder = Path(tmp)
        os.environ["MPLCONFIGDIR"] = str(folder / "mpl")
        settings = Settings(state_dir=folder / "state")
        reference_rows = min(REFERENCE_ROWS, rows)
        _say(f"generating {reference_rows + rows:,} transactions")
        started = time.perf_counter()
        frame = generated_frame(reference_rows + rows, SEED, tenant=TENANT)
        _log_champion(settings, frame.iloc[:reference_rows].reset_index(drop=True), folder)
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        sessions = session_factory(engine)
        now = dt.datetime.now(dt.UTC)
        with sessions.begin() as session:
            session.add(Tenant(id=TENANT, name=TENANT))
        decisions = _decisions(frame.iloc[reference_rows:], now)
        with sessions.begin() as session:
            for start in range(0, len(decisions), 10_000):
                session.execute(insert(Decision), decisions[start : start + 10_000])
        setup_s = time.perf_counter() - started

        _say(f"monitoring {rows:,} decisions")
        started = time.perf_counter()
        result = run_monitor(settings, sessions, TENANT, TAXONOMY, now=now, text_drift=False)
        total_s = time.perf_counter() - started
        engine.dispose()
    _say(f"monitoring took {total_s:.1f} s (target < {TARGET_S:.0f} s)")
    summary = result.summary
    return {
        "rows": rows,
        "imports_s": round(import_s, 1),
        "setup_s": round(setup_s, 1),
        "total_s": round(total_s, 2),
        "steps_s": result.timings,
        "target_s": TARGET_S,
        "met": total_s < TARGET_S,
        "status": str(result.status),
        "drift_share": None if summary is None else summary.drift_share,
        "retrain": result.retrain,
    }
