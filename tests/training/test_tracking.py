"""MLflow tracking: per-tenant experiments with explicit artifact locations, complete runs."""

from __future__ import annotations

import json
import os
import stat
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spendlens.settings import Settings
from training import tracking
from training.tracking import Lineage

# A 1x1 transparent PNG: the tracker only moves files, it does not draw them.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(autouse=True)
def offline_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run from an empty directory (to catch ./mlruns) with MLflow kept offline."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def settings(mlflow_settings: Settings) -> Settings:
    return mlflow_settings


def model_input(n: int = 40) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    words = ["STARBUCKS", "UBER", "WALMART", "SHELL"]
    labels = ["coffee", "transport", "groceries", "transport"]
    idx = np.arange(n) % len(words)
    frame = pd.DataFrame(
        {
            "description": [f"{words[i]} STORE {k}" for k, i in enumerate(idx)],
            "merchant_name": [words[i].title() for i in idx],
            "amount": np.linspace(1.0, 90.0, n),
            "currency": "USD",
            "direction": "debit",
            "mcc": [None if i == 0 else "5411" for i in idx],
            "event_timestamp": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
            "m_txn_count": idx.astype("int64"),
            "m_amount_median": [np.nan if i == 1 else 10.0 for i in idx],
            "m_confirmed_top": ["" for _ in idx],
        }
    )
    return frame, np.asarray([labels[i] for i in idx], dtype=object)


def fitted_model() -> tuple[Pipeline, pd.DataFrame]:
    inputs, y = model_input()
    columns = ColumnTransformer(
        [("text", TfidfVectorizer(), "description"), ("amount", "passthrough", ["amount"])]
    )
    model = Pipeline([("columns", columns), ("clf", LogisticRegression(max_iter=500))])
    return model.fit(inputs, y), inputs


def lineage() -> Lineage:
    return Lineage(
        input_data_hash="ab" * 32,
        n_rows=40,
        n_train=30,
        n_test=10,
        n_unseen=4,
        feature_service="categorizer_v1",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        tenant="acme",
        taxonomy="default",
        source="file:statement.csv",
    )


def test_experiment_is_created_once_with_an_artifact_location_under_the_state_dir(
    settings: Settings, offline_in_tmp: Path
) -> None:
    experiment_id = tracking.experiment_for(settings, "acme", "default")
    assert tracking.experiment_for(settings, "acme", "default") == experiment_id

    experiment = tracking.tracking_client(settings).get_experiment(experiment_id)
    assert experiment.name == "spendlens/acme/default"
    expected = settings.state_dir / "mlartifacts" / "acme" / "default"
    assert experiment.artifact_location == expected.as_uri()
    assert experiment.experiment_id != "0"
    assert (settings.state_dir / "mlflow.db").is_file()
    assert list(offline_in_tmp.iterdir()) == []


def test_experiment_location_uses_safe_directory_names(settings: Settings) -> None:
    experiment_id = tracking.experiment_for(settings, "ac me/../x", "my taxonomy")
    experiment = tracking.tracking_client(settings).get_experiment(experiment_id)
    assert experiment.name == "spendlens/ac me/../x/my taxonomy"
    root = settings.resolved_mlflow_artifact_root
    assert experiment.artifact_location == (root / "ac_me_.._x" / "my_taxonomy").as_uri()


def test_logged_run_holds_metrics_params_lineage_artifacts_and_a_complete_model(
    settings: Settings, offline_in_tmp: Path, tmp_path: Path
) -> None:
    import mlflow  # noqa: PLC0415 - 5 s import, only for the tests that need it

    model, inputs = fitted_model()
    files = tmp_path / "files"
    files.mkdir()
    (files / "reliability.png").write_bytes(PNG)
    (files / "cm.png").write_bytes(PNG)
    heldout = inputs.head(8).assign(label="coffee", unseen=[True, False] * 4)
    heldout.to_parquet(files / "heldout.parquet", index=False)
    uri_before = mlflow.get_tracking_uri()

    logged = tracking.log_candidate(
        settings,
        "acme",
        "default",
        candidate="linear",
        model=model,
        params={"candidate": "linear", "seed": 42, "n_classes": 3},
        metrics={"macro_f1": 0.75, "ece": 0.04, "unseen_merchant_accuracy": float("nan")},
        per_class=[{"label": "coffee", "f1": 0.5, "support": 3}],
        artifacts={
            "plots/reliability.png": files / "reliability.png",
            "plots/confusion_matrix.png": files / "cm.png",
            tracking.HELDOUT_ARTIFACT: files / "heldout.parquet",
        },
        lineage=lineage(),
        input_example=inputs.head(5),
        registered_model_name="spendlens-acme-default",
    )

    client = tracking.tracking_client(settings)
    run = client.get_run(logged.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "linear"
    assert run.info.experiment_id == tracking.experiment_for(settings, "acme", "default")
    assert run.data.metrics == {"macro_f1": 0.75, "ece": 0.04}
    assert run.data.params == {"candidate": "linear", "seed": "42", "n_classes": "3"}
    tags = run.data.tags
    assert tags["lineage.input_data_hash"] == "ab" * 32
    assert tags["lineage.n_unseen"] == "4"
    assert tags["lineage.feature_service"] == "categorizer_v1"
    assert tags["lineage.source"] == "file:statement.csv"
    assert tags["mlflow.source.git.commit"] == lineage().git_commit
    assert tags["spendlens.candidate"] == "linear"
    assert tags[tracking.MODEL_URI_TAG] == logged.model_uri

    artifact_dir = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifact_dir.is_relative_to(settings.state_dir / "mlartifacts" / "acme" / "default")
    stored = {str(p.relative_to(artifact_dir)) for p in artifact_dir.rglob("*") if p.is_file()}
    assert stored == {
        "plots/reliability.png",
        "plots/confusion_matrix.png",
        "heldout/heldout.parquet",
        "lineage.json",
        "evaluation/per_class.json",
    }
    assert json.loads((artifact_dir / "lineage.json").read_text())["n_train"] == 30
    per_class = json.loads((artifact_dir / "evaluation/per_class.json").read_text())
    assert per_class == {"per_class": [{"label": "coffee", "f1": 0.5, "support": 3}]}

    with tracking.mlflow_uris(settings):
        info = mlflow.models.get_model_info(logged.model_uri)
    schema = {spec.name: spec.type.name for spec in info.signature.inputs.inputs}
    assert schema["description"] == "string"
    assert schema["event_timestamp"] == "datetime"
    assert set(schema) == set(inputs.columns)
    assert info.signature.outputs is not None
    assert info.saved_input_example_info is not None
    assert info.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert info.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    model_dir = Path(
        client.get_logged_model(info.model_id).artifact_location.removeprefix("file://")
    )
    assert model_dir.is_relative_to(settings.state_dir / "mlartifacts")
    requirements = (model_dir / "requirements.txt").read_text().splitlines()
    for pin in tracking.pinned_requirements():
        assert pin in requirements
    assert any(line.startswith("scikit-learn==") for line in requirements)

    assert logged.version == "1"
    challenger = client.get_model_version_by_alias("spendlens-acme-default", "challenger")
    assert str(challenger.version) == "1"
    assert challenger.run_id == logged.run_id
    assert logged.url == (
        f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{logged.run_id}"
    )
    assert mlflow.get_tracking_uri() == uri_before
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert list(offline_in_tmp.iterdir()) == []


def test_log_candidate_rejects_artifact_paths_outside_the_run(
    settings: Settings, tmp_path: Path
) -> None:
    model, inputs = fitted_model()
    (tmp_path / "x.png").write_bytes(PNG)
    with pytest.raises(ValueError, match="relative file path"):
        tracking.log_candidate(
            settings,
            "acme",
            "default",
            candidate="linear",
            model=model,
            params={},
            metrics={},
            per_class=[],
            artifacts={"../escape.png": tmp_path / "x.png"},
            lineage=lineage(),
            input_example=inputs.head(2),
        )


def test_mlflow_uris_points_the_fluent_api_at_the_settings_store_and_restores_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow  # noqa: PLC0415 - 5 s import, only for the tests that need it

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    before = mlflow.get_tracking_uri()
    with tracking.mlflow_uris(settings) as uri:
        assert uri == f"sqlite:///{settings.state_dir / 'mlflow.db'}"
        assert mlflow.get_tracking_uri() == uri
        assert mlflow.get_registry_uri() == uri
    assert mlflow.get_tracking_uri() == before
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////elsewhere/mlflow.db"
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def test_run_url_points_at_the_local_ui_or_the_tracking_server(tmp_path: Path) -> None:
    local = Settings(state_dir=tmp_path)
    assert tracking.run_url(local, "3", "abc") == "http://127.0.0.1:5000/#/experiments/3/runs/abc"
    server = Settings(state_dir=tmp_path, mlflow_tracking_uri="http://mlflow.internal:8080/")
    assert (
        tracking.run_url(server, "3", "abc")
        == "http://mlflow.internal:8080/#/experiments/3/runs/abc"
    )


def test_input_data_hash_ignores_row_order_and_sees_label_changes() -> None:
    frame = pd.DataFrame({"transaction_id": ["t2", "t1"], "label": ["food", "rent"]})
    same = frame.iloc[::-1]
    relabeled = frame.assign(label=["food", "food"])
    assert tracking.input_data_hash(frame) == tracking.input_data_hash(same)
    assert tracking.input_data_hash(frame) != tracking.input_data_hash(relabeled)
    assert len(tracking.input_data_hash(frame)) == 64


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_git_commit_reads_head_and_falls_back_to_unknown(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert tracking.git_commit(tmp_path, git=_script(tmp_path / "ok", f"echo {sha}")) == sha
    fails = _script(tmp_path / "fails", "echo 'fatal: not a git repository' >&2; exit 128")
    assert tracking.git_commit(tmp_path, git=fails) == "unknown"
    assert tracking.git_commit(tmp_path, git=_script(tmp_path / "junk", "echo hello")) == "unknown"
    assert tracking.git_commit(tmp_path, git=str(tmp_path / "missing-git")) == "unknown"


def test_pinned_requirements_pin_installed_versions_and_skip_absent_packages() -> None:
    pins = tracking.pinned_requirements(("scikit-learn", "no-such-package-spendlens"))
    assert pins == [f"scikit-learn=={version('scikit-learn')}"]
    names = [pin.split("==")[0] for pin in tracking.pinned_requirements()]
    assert {"scikit-learn", "pandas", "numpy", "cloudpickle"} <= set(names)
