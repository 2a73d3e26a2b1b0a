"""Train, evaluate and register candidates for one tenant and taxonomy.

The steps are library functions (features, candidates, evaluation, tracking, registry); this
module only wires them in order so that the CLI and the Prefect flows run the same thing.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spendlens.frames import DECISION_ID_PREFIX, Frames, training_frame
from spendlens.settings import Settings
from training.candidates import MODEL_INPUT_COLUMNS
from training.evaluation import EvalReport, Split, evaluate_predictions, split_holdout

FEATURE_SERVICE = "categorizer_v1"
# What the model sees of a transaction besides the Feast features.
INPUT_COLUMNS = MODEL_INPUT_COLUMNS
MIN_ROWS, MIN_CLASSES = 20, 2


class TrainingDataError(ValueError):
    """The labeled data cannot train a model (too few rows, classes or merchants)."""


@dataclass(frozen=True)
class CandidateResult:
    """One trained and logged candidate."""

    name: str
    report: EvalReport
    run_id: str
    run_url: str
    fit_seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced; `best` got the `challenger` alias as `version`."""

    tenant: str
    taxonomy: str
    model_name: str
    candidates: tuple[CandidateResult, ...]
    best: str
    version: str
    n_rows: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def best_result(self) -> CandidateResult:
        """The candidate registered as challenger."""
        return next(c for c in self.candidates if c.name == self.best)


def model_input(labeled: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The model's input frame: transaction columns plus the feature service's columns."""
    base = labeled[list(INPUT_COLUMNS)].reset_index(drop=True)
    return pd.concat([base, features.reset_index(drop=True)], axis=1)


def split_keys(labeled: pd.DataFrame) -> np.ndarray:
    """What each row's held-out draw hashes: its transaction id, stable across retrains.

    A corrected decision without a stored transaction is keyed by what it was about instead:
    its id holds a random decision id, which would move it between train and test on every
    retrain of the same data.
    """
    ids = labeled["transaction_id"].astype(str)
    content = (
        "content:"
        + labeled["description"].astype(str)
        + "\x1f"
        + labeled["amount"].astype(str)
        + "\x1f"
        + labeled["event_timestamp"].astype(str)
        + "\x1f"
        + labeled["account_id"].astype(str)
    )
    keys = ids.where(~ids.str.startswith(DECISION_ID_PREFIX), content)
    return np.asarray(keys.to_numpy(dtype=object))


def entity_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The entity frame Feast joins features onto (one row per transaction)."""
    return frame[
        ["transaction_id", "tenant_id", "account_id", "merchant_id", "event_timestamp"]
    ].reset_index(drop=True)


def data_hash(labeled: pd.DataFrame) -> str:
    """A fingerprint of the training data: sorted (transaction id, label) pairs."""
    pairs = sorted(zip(labeled["transaction_id"], labeled["label"], strict=True))
    digest = hashlib.sha256()
    for txn_id, label in pairs:
        digest.update(f"{txn_id}\t{label}\n".encode())
    return digest.hexdigest()


def reference_snapshot(
    labeled: pd.DataFrame,
    split: Split,
    classes: Sequence[str],
    proba: np.ndarray[Any, Any],
    max_rows: int,
    seed: int,
) -> pd.DataFrame:
    """Monitoring's drift reference: a sample of the labeled rows, compact.

    Columns: amount, description (masked; for optional text drift), description_length,
    merchant_id, has_mcc, currency, direction, label, split ("train"/"heldout"), unseen
    (merchant absent from train), and on held-out rows the model's predicted_category and
    confidence (None/NaN on train rows: a model is overconfident on its own training rows).
    """
    n = len(labeled)
    predicted = np.full(n, None, dtype=object)
    confidence = np.full(n, np.nan)
    in_split = np.full(n, "train", dtype=object)
    unseen = np.zeros(n, dtype=bool)
    test = split.test_index
    predicted[test] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    confidence[test] = proba.max(axis=1)
    in_split[test] = "heldout"
    unseen[test] = split.unseen
    mcc = labeled["mcc"]
    frame = pd.DataFrame(
        {
            "amount": labeled["amount"].astype(float).to_numpy(),
            "description": labeled["description"].fillna("").astype(str).to_numpy(),
            "description_length": labeled["description"].fillna("").str.len().to_numpy(),
            "merchant_id": labeled["merchant_id"].astype(str).to_numpy(),
            "has_mcc": (mcc.notna() & (mcc.astype(str) != "")).to_numpy(),
            "currency": labeled["currency"].astype(str).to_numpy(),
            "direction": labeled["direction"].astype(str).to_numpy(),
            "label": labeled["label"].astype(str).to_numpy(),
            "split": in_split,
            "unseen": unseen,
            "predicted_category": predicted,
            "confidence": confidence,
        }
    )
    if n > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    return frame.reset_index(drop=True)


def train_merchants(labeled: pd.DataFrame, split: Split) -> pd.DataFrame:
    """The distinct merchant ids of the training rows (one column, `merchant_id`)."""
    ids = labeled["merchant_id"].astype(str).to_numpy()[split.train_index]
    return pd.DataFrame({"merchant_id": sorted(set(ids.tolist()))})


def _reference_tables(
    settings: Settings,
    labeled: pd.DataFrame,
    split: Split,
    classes: Sequence[str],
    proba: np.ndarray[Any, Any],
) -> dict[str, pd.DataFrame]:
    from training.tracking import REFERENCE_ARTIFACT, TRAIN_MERCHANTS_ARTIFACT  # noqa: PLC0415

    reference = reference_snapshot(
        labeled, split, classes, proba, settings.monitor_reference_rows, settings.train_seed
    )
    merchants = train_merchants(labeled, split)
    return {REFERENCE_ARTIFACT: reference, TRAIN_MERCHANTS_ARTIFACT: merchants}


def best_candidate(results: Sequence[CandidateResult]) -> CandidateResult:
    """The candidate to challenge with: best macro-F1 on the held-out set, then unseen accuracy."""
    return max(
        results,
        key=lambda r: (
            round(r.report.macro_f1, 4),
            r.report.unseen_merchant_accuracy or 0.0,
            -r.report.ece,
        ),
    )


def evaluate_model(model: Any, heldout: pd.DataFrame) -> EvalReport:
    """Metrics of any categorizer on a held-out frame (model input + `label` [+ `unseen`])."""
    x = heldout.drop(columns=[c for c in ("label", "unseen") if c in heldout])
    proba = model.predict_proba(x)
    unseen = heldout["unseen"].to_numpy(dtype=bool) if "unseen" in heldout else None
    return evaluate_predictions(
        heldout["label"].to_numpy(dtype=object), proba, list(model.classes_), unseen
    )


def train(
    settings: Settings,
    frames: Frames,
    tenant: str,
    taxonomy: str,
    *,
    source: str = "db",
    candidates: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    materialize: bool = True,
) -> TrainResult:
    """Features -> candidates -> MLflow runs -> the best registered as `challenger`.

    With `materialize`, the features also go to the online store at the end, for serving.

    Raises:
        TrainingDataError: too few labeled rows, classes or merchants to train and evaluate.
    """
    from features.store import (  # noqa: PLC0415
        build_features,
        historical_features,
        materialize_online,
    )
    from training import registry, tracking  # noqa: PLC0415
    from training.candidates import CANDIDATES, fit_candidate  # noqa: PLC0415
    from training.prior import load_or_fit_prior  # noqa: PLC0415

    timings: dict[str, float] = {}
    labeled = training_frame(frames.txns, frames.labels)
    _check_trainable(labeled)

    started = time.perf_counter()
    progress(f"building features for {len(frames.txns):,} transactions")
    built = build_features(
        settings, frames.txns, frames.labels, tenant, taxonomy, materialize=False
    )
    features = historical_features(settings, entity_rows(labeled), tenant, taxonomy)
    timings["features_s"] = time.perf_counter() - started

    x = model_input(labeled, features)
    y = labeled["label"].to_numpy(dtype=object)
    try:
        split = split_holdout(
            labeled["merchant_id"].to_numpy(dtype=object),
            settings.unseen_merchant_fraction,
            settings.seen_test_fraction,
            settings.train_seed,
            row_keys=split_keys(labeled),
        )
    except ValueError as exc:
        raise TrainingDataError(str(exc)) from exc

    started = time.perf_counter()
    progress("loading the platform prior")
    prior = load_or_fit_prior(
        settings.state_dir / "models", settings.prior_rows, settings.train_seed
    )
    timings["prior_s"] = time.perf_counter() - started

    x_train, y_train = x.iloc[split.train_index], y[split.train_index]
    x_test, y_test = x.iloc[split.test_index], y[split.test_index]
    heldout = x_test.reset_index(drop=True).assign(label=y_test, unseen=split.unseen)
    lineage = tracking.Lineage(
        input_data_hash=data_hash(labeled),
        n_rows=len(labeled),
        n_train=len(split.train_index),
        n_test=len(split.test_index),
        n_unseen=int(split.unseen.sum()),
        feature_service=FEATURE_SERVICE,
        git_commit=tracking.git_commit(),
        tenant=tenant,
        taxonomy=taxonomy,
        source=source,
    )
    name = registry.model_name(settings, tenant, taxonomy)
    results: list[CandidateResult] = []
    for candidate in candidates or CANDIDATES:
        progress(f"training candidate {candidate} on {len(x_train):,} rows")
        started = time.perf_counter()
        model = fit_candidate(candidate, x_train, y_train, prior=prior, seed=settings.train_seed)
        fit_s = time.perf_counter() - started
        proba = model.predict_proba(x_test)
        report = evaluate_predictions(y_test, proba, list(model.classes_), split.unseen)
        started = time.perf_counter()
        logged = _log(
            settings,
            tracking,
            tenant,
            taxonomy,
            candidate,
            model,
            report,
            proba,
            heldout,
            lineage,
            _reference_tables(settings, labeled, split, list(model.classes_), proba),
        )
        timings[f"{candidate}_fit_s"] = fit_s
        timings[f"{candidate}_log_s"] = time.perf_counter() - started
        results.append(CandidateResult(candidate, report, logged.run_id, logged.url, fit_s))

    best = best_candidate(results)
    started = time.perf_counter()
    client = tracking.tracking_client(settings)
    version = registry.register_challenger(client, name, best.run_id)
    timings["register_s"] = time.perf_counter() - started
    if materialize and built.materialized is not None:
        # Serving reads the online store; training itself only needed the offline one.
        progress("materializing features into the online store")
        started = time.perf_counter()
        materialize_online(settings, built.materialized)
        timings["materialize_online_s"] = time.perf_counter() - started
    return TrainResult(
        tenant=tenant,
        taxonomy=taxonomy,
        model_name=name,
        candidates=tuple(results),
        best=best.name,
        version=str(version),
        n_rows=len(labeled),
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _check_trainable(labeled: pd.DataFrame) -> None:
    if len(labeled) < MIN_ROWS:
        raise TrainingDataError(
            f"{len(labeled)} labeled transactions; at least {MIN_ROWS} are needed to train"
        )
    classes = labeled["label"].nunique()
    if classes < MIN_CLASSES:
        raise TrainingDataError(f"the labels have {classes} category; at least 2 are needed")


def _log(
    settings: Settings,
    tracking: Any,
    tenant: str,
    taxonomy: str,
    candidate: str,
    model: Any,
    report: EvalReport,
    proba: np.ndarray[Any, Any],
    heldout: pd.DataFrame,
    lineage: Any,
    tables: dict[str, pd.DataFrame] | None = None,
) -> Any:
    """Log one candidate's run: params, metrics, plots, held-out set, model.

    `tables` are extra parquet artifacts (destination path -> frame), e.g. the drift reference.
    """
    from training.evaluation import confusion_png, reliability_png  # noqa: PLC0415

    classes = list(model.classes_)
    y_true = heldout["label"].to_numpy(dtype=object)
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    with tempfile.TemporaryDirectory(prefix="spendlens-run-") as tmp:
        folder = Path(tmp)
        reliability_png(folder / "reliability.png", y_true, proba, classes)
        confusion_png(folder / "confusion_matrix.png", y_true, y_pred, sorted(set(y_true)))
        heldout_path = folder / "heldout.parquet"
        heldout.to_parquet(heldout_path, index=False)
        extra = {}
        for index, (destination, table) in enumerate((tables or {}).items()):
            extra[destination] = folder / f"table_{index}.parquet"
            table.to_parquet(extra[destination], index=False)
        params = {
            "candidate": candidate,
            "seed": settings.train_seed,
            "unseen_merchant_fraction": settings.unseen_merchant_fraction,
            "seen_test_fraction": settings.seen_test_fraction,
            "prior_rows": settings.prior_rows,
            "n_classes": len(classes),
            "feature_service": FEATURE_SERVICE,
        }
        return tracking.log_candidate(
            settings,
            tenant,
            taxonomy,
            candidate=candidate,
            model=model,
            params=params,
            metrics=report.as_metrics(),
            per_class=report.per_class_table(),
            artifacts={
                "plots/reliability.png": folder / "reliability.png",
                "plots/confusion_matrix.png": folder / "confusion_matrix.png",
                "heldout/heldout.parquet": heldout_path,
                **extra,
            },
            lineage=lineage,
            input_example=heldout.drop(columns=["label", "unseen"]).head(5),
        )
