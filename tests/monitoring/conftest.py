"""Fixtures for tests/monitoring: a tiny champion with a training snapshot, built once per session.

Logging a model and creating MLflow's tables cost seconds, so a template state dir (MLflow
SQLite store + artifacts) is built once per session (shared by xdist workers through a file lock)
and each test gets a copy. Evidently is imported once per process by whichever test needs it.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spendlens.settings import Settings
from tests.conftest import BuildOnce
from tests.monitoring.factories import CHAMPION_ACCURACY, TAXONOMY, TENANT, labeled_frame


def tiny_model(labeled: pd.DataFrame) -> Pipeline:
    columns = ColumnTransformer([("text", TfidfVectorizer(), "description")])
    model = Pipeline([("columns", columns), ("clf", LogisticRegression(max_iter=300))])
    return model.fit(labeled[["description"]], labeled["label"])


def _build_champion(state: Path) -> None:
    """An MLflow store whose `spendlens-acme-default@champion` has a reference snapshot."""
    from training import tracking  # noqa: PLC0415
    from training.evaluation import split_holdout  # noqa: PLC0415
    from training.pipeline import reference_snapshot, train_merchants  # noqa: PLC0415
    from training.registry import CHAMPION, model_name  # noqa: PLC0415

    settings = Settings(state_dir=state)
    labeled = labeled_frame()
    split = split_holdout(labeled["merchant_id"].to_numpy(dtype=object), 0.2, 0.1, 42)
    model = tiny_model(labeled.iloc[split.train_index])
    proba = model.predict_proba(labeled.iloc[split.test_index][["description"]])
    reference = reference_snapshot(labeled, split, list(model.classes_), proba, 10_000, 42)
    files = state / "files"
    files.mkdir()
    reference.to_parquet(files / "reference.parquet", index=False)
    train_merchants(labeled, split).to_parquet(files / "merchants.parquet", index=False)
    lineage = tracking.Lineage(
        input_data_hash="0" * 64,
        n_rows=len(labeled),
        n_train=len(split.train_index),
        n_test=len(split.test_index),
        n_unseen=split.n_unseen,
        feature_service="categorizer_v1",
        git_commit="unknown",
        tenant=TENANT,
        taxonomy=TAXONOMY,
        source="generated",
    )
    name = model_name(settings, TENANT, TAXONOMY)
    logged = tracking.log_candidate(
        settings,
        TENANT,
        TAXONOMY,
        candidate="tiny",
        model=model,
        params={"candidate": "tiny"},
        metrics={"accuracy": CHAMPION_ACCURACY, "macro_f1": 0.88},
        per_class=[],
        artifacts={
            tracking.REFERENCE_ARTIFACT: files / "reference.parquet",
            tracking.TRAIN_MERCHANTS_ARTIFACT: files / "merchants.parquet",
        },
        lineage=lineage,
        input_example=labeled[["description"]].head(3),
        registered_model_name=name,
    )
    assert logged.version is not None
    tracking.tracking_client(settings).set_registered_model_alias(name, CHAMPION, logged.version)


@pytest.fixture(autouse=True)
def offline_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run from an empty directory (to catch ./mlruns) with MLflow kept offline."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _copy_state(template: Path, tmp_path: Path) -> Settings:
    """A private copy of a template state dir, its MLflow store repointed at the copy.

    MLflow stores absolute artifact URIs; every text value naming the template dir is rewritten,
    so runs logged by a test land in its own copy.
    """
    state = tmp_path / "state"
    shutil.copytree(template, state, ignore=shutil.ignore_patterns(".complete"))
    with closing(sqlite3.connect(state / "mlflow.db")) as db, db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for column in db.execute(f'pragma table_info("{table}")').fetchall():
                if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                    db.execute(
                        f'update "{table}" set "{column[1]}" = replace("{column[1]}", ?, ?)',
                        (str(template), str(state)),
                    )
    return Settings(state_dir=state)


@pytest.fixture
def champion_settings(build_once: BuildOnce, tmp_path: Path) -> Settings:
    """Settings whose state dir holds an MLflow store with a champion (copy of a template)."""
    return _copy_state(build_once("monitoring-champion", _build_champion), tmp_path)
