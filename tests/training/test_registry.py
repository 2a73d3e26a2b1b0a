"""The registry: challenger/champion aliases, the gate on promotion, rollback, loading by alias.

One template store per worker holds three registered versions of a tiny text model: v1 is
mediocre (never predicts groceries), v2 is bad (every label rotated), v3 is good. Each test
copies the store's database and sets the aliases it needs.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline

from spendlens.settings import Settings
from training import registry, tracking
from training.registry import CHALLENGER, CHAMPION, HISTORY_TAG, RegistryError

TENANT, TAXONOMY = "acme", "default"
NAME = "spendlens-acme-default"
CATEGORIES = {
    "coffee": ("COFFEE", ["STARBUCKS", "COSTA", "PEETS", "DUNKIN"]),
    "transport": ("RIDE", ["UBER", "LYFT", "BOLT", "CURB"]),
    "groceries": ("MARKET", ["WALMART", "KROGER", "ALDI", "LIDL"]),
}


@pytest.fixture(autouse=True)
def offline_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run from an empty directory (to catch ./mlruns) with MLflow kept offline."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def rows(merchants_per_category: slice, per_merchant: int, start: int) -> pd.DataFrame:
    records = []
    for label, (hint, merchants) in CATEGORIES.items():
        for merchant in merchants[merchants_per_category]:
            for k in range(per_merchant):
                records.append(
                    {
                        "description": f"{merchant} {hint} {start + k}",
                        "merchant_name": merchant.title(),
                        "amount": float(5 + k),
                        "mcc": None,
                        "event_timestamp": pd.Timestamp("2024-03-01", tz="UTC"),
                        "m_txn_count": k,
                        "label": label,
                    }
                )
    return pd.DataFrame.from_records(records)


def dataset() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, heldout); the held-out set has seen merchants and one unseen merchant each."""
    train = rows(slice(0, 3), 10, 0)
    seen = rows(slice(0, 3), 3, 100).assign(unseen=False)
    unseen = rows(slice(3, 4), 5, 200).assign(unseen=True)
    return train, pd.concat([seen, unseen], ignore_index=True)


def fit(train: pd.DataFrame, relabel: Mapping[str, str]) -> Pipeline:
    columns = ColumnTransformer([("text", TfidfVectorizer(), "description")])
    model = Pipeline([("columns", columns), ("clf", LogisticRegression(max_iter=500))])
    return model.fit(train.drop(columns=["label"]), train["label"].replace(dict(relabel)))


def evaluate(model: Any, heldout: pd.DataFrame) -> dict[str, float]:
    """Test stand-in for training.evaluation: macro F1, unseen accuracy, one-bin ECE."""
    inputs = heldout.drop(columns=["label", "unseen"])
    truth = heldout["label"].to_numpy(dtype=object)
    predicted = model.predict(inputs)
    correct = predicted == truth
    unseen = heldout["unseen"].to_numpy(dtype=bool)
    confidence = model.predict_proba(inputs).max(axis=1)
    return {
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "unseen_merchant_accuracy": float(correct[unseen].mean()),
        "ece": float(abs(confidence.mean() - correct.mean())),
    }


def lineage(n_rows: int) -> tracking.Lineage:
    return tracking.Lineage(
        input_data_hash="0" * 64,
        n_rows=n_rows,
        n_train=n_rows,
        n_test=0,
        n_unseen=0,
        feature_service="categorizer_v1",
        git_commit="unknown",
        tenant=TENANT,
        taxonomy=TAXONOMY,
        source="generated",
    )


def log(settings: Settings, candidate: str, model: Pipeline, heldout_file: Path, **kw: Any) -> Any:
    return tracking.log_candidate(
        settings,
        TENANT,
        TAXONOMY,
        candidate=candidate,
        model=model,
        params={"candidate": candidate},
        metrics={},
        per_class=[],
        artifacts={tracking.HELDOUT_ARTIFACT: heldout_file},
        lineage=lineage(40),
        input_example=pd.read_parquet(heldout_file).drop(columns=["label", "unseen"]).head(3),
        **kw,
    )


@dataclass(frozen=True)
class Template:
    state: Path
    run_ids: dict[str, str]  # version -> run id


def register_three_versions(settings: Settings, folder: Path) -> dict[str, str]:
    """v1 mediocre (registered by log_candidate), v2 bad (by run id), v3 good (by model URI)."""
    train, heldout = dataset()
    heldout_file = folder / "heldout.parquet"
    heldout.to_parquet(heldout_file, index=False)
    mediocre = fit(train, {"groceries": "coffee"})
    bad = fit(train, {"coffee": "transport", "transport": "groceries", "groceries": "coffee"})
    good = fit(train, {})
    client = tracking.tracking_client(settings)
    first = log(settings, "mediocre", mediocre, heldout_file, registered_model_name=NAME)
    assert first.version == "1"
    second = log(settings, "bad", bad, heldout_file)
    assert registry.register_challenger(client, NAME, second.run_id) == "2"
    third = log(settings, "good", good, heldout_file)
    assert registry.register_challenger(client, NAME, third.model_uri) == "3"
    return {"1": first.run_id, "2": second.run_id, "3": third.run_id}


@pytest.fixture(scope="session")
def template(build_once: Any, mlflow_empty_db: Path) -> Template:
    """The three-version store, built once per session (its artifacts are only read)."""
    run_ids: dict[str, str] = {}

    def build(state: Path) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
            patch.setenv("DO_NOT_TRACK", "true")
            shutil.copyfile(mlflow_empty_db, state / "mlflow.db")
            ids = register_three_versions(Settings(state_dir=state), state)
        (state / "run_ids.json").write_text(json.dumps(ids))

    state = build_once("mlflow-registry-template", build)
    run_ids.update(json.loads((state / "run_ids.json").read_text()))
    return Template(state, run_ids)


@pytest.fixture
def settings(template: Template, tmp_path: Path) -> Settings:
    """A private copy of the template store (artifacts stay in the template, read-only)."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.copyfile(template.state / "mlflow.db", state / "mlflow.db")
    return Settings(state_dir=state)


def set_aliases(settings: Settings, *, champion: str | None, challenger: str | None) -> None:
    client = tracking.tracking_client(settings)
    for alias, version in ((CHAMPION, champion), (CHALLENGER, challenger)):
        if version is None:
            if alias in client.get_registered_model(NAME).aliases:
                client.delete_registered_model_alias(NAME, alias)
        else:
            client.set_registered_model_alias(NAME, alias, version)


def aliases(settings: Settings) -> dict[str, str]:
    model = tracking.tracking_client(settings).get_registered_model(NAME)
    return {alias: str(version) for alias, version in model.aliases.items()}


def version_tags(settings: Settings, version: str) -> dict[str, str]:
    return dict(tracking.tracking_client(settings).get_model_version(NAME, version).tags)


def model_tags(settings: Settings) -> dict[str, str]:
    return dict(tracking.tracking_client(settings).get_registered_model(NAME).tags)


def test_model_name_joins_prefix_tenant_and_taxonomy_in_registry_safe_characters(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path, model_prefix="spendlens")
    assert registry.model_name(settings, "acme", "default") == "spendlens-acme-default"
    assert (
        registry.model_name(settings, "Acme Corp.", "my/tax@1") == "spendlens-Acme_Corp_-my_tax_1"
    )


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("m@champion", ("m", "champion", None)),
        ("models:/m@challenger", ("m", "challenger", None)),
        ("m/12", ("m", None, "12")),
    ],
)
def test_parse_model_ref_accepts_alias_and_version_references(
    ref: str, parsed: tuple[str, str | None, str | None]
) -> None:
    assert registry.parse_model_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["m", "m@", "@champion", "m/latest", "m/0", "m/1@x"])
def test_parse_model_ref_rejects_anything_else_with_an_example(ref: str) -> None:
    with pytest.raises(RegistryError, match="name@alias"):
        registry.parse_model_ref(ref)


def test_registered_versions_keep_their_source_runs_and_the_newest_is_challenger(
    settings: Settings, template: Template
) -> None:
    client = tracking.tracking_client(settings)
    for version, run_id in template.run_ids.items():
        assert client.get_model_version(NAME, version).run_id == run_id
    assert aliases(settings) == {CHALLENGER: "3"}
    description = client.get_registered_model(NAME).description
    assert "champion" in description


def test_first_challenger_becomes_champion_without_a_gate(
    settings: Settings, offline_in_tmp: Path
) -> None:
    set_aliases(settings, champion=None, challenger="1")

    result = registry.promote(settings, NAME, evaluate=evaluate)

    assert result.promoted
    assert not result.forced
    assert result.previous_champion is None
    assert result.champion_version == "1"
    assert aliases(settings) == {CHAMPION: "1"}
    tags = version_tags(settings, "1")
    assert tags["gate.passed"] == "true"
    assert tags["gate.champion_version"] == "none"
    assert tags["gate.reason"] == "passed: no champion yet"
    assert float(tags["gate.challenger.macro_f1"]) == result.challenger_metrics["macro_f1"]
    assert HISTORY_TAG not in model_tags(settings)
    assert list(offline_in_tmp.iterdir()) == []


def test_gate_refuses_a_worse_challenger_and_keeps_the_champion(settings: Settings) -> None:
    set_aliases(settings, champion="1", challenger="2")

    result = registry.promote(settings, NAME, evaluate=evaluate)

    assert not result.promoted
    assert result.champion_version == "1"
    assert result.champion_metrics is not None
    assert result.challenger_metrics["macro_f1"] < result.champion_metrics["macro_f1"]
    assert aliases(settings) == {CHAMPION: "1", CHALLENGER: "2"}
    tags = version_tags(settings, "2")
    assert tags["gate.passed"] == "false"
    assert tags["gate.champion_version"] == "1"
    assert tags["gate.reason"].startswith("refused: macro_f1 ")
    assert "< champion" in tags["gate.reason"]
    assert "gate.forced" not in tags
    assert float(tags["gate.champion.macro_f1"]) == result.champion_metrics["macro_f1"]
    assert HISTORY_TAG not in model_tags(settings)


def test_gate_accepts_a_better_challenger_and_remembers_the_old_champion(
    settings: Settings,
) -> None:
    set_aliases(settings, champion="1", challenger="3")

    result = registry.promote(settings, NAME, evaluate=evaluate)

    assert result.promoted, result.decision.reasons
    assert result.previous_champion == "1"
    assert aliases(settings) == {CHAMPION: "3"}
    assert model_tags(settings)[HISTORY_TAG] == "1"
    assert version_tags(settings, "3")["gate.passed"] == "true"
    # The champion was re-measured on the challenger's held-out set, not read from its run.
    assert result.champion_metrics == evaluate(
        registry.load_model(settings, f"{NAME}/1").model, registry_heldout()
    )


def registry_heldout() -> pd.DataFrame:
    return dataset()[1]


def test_promote_measures_with_training_evaluation_by_default(settings: Settings) -> None:
    set_aliases(settings, champion="3", challenger="1")

    result = registry.promote(settings, NAME)

    assert not result.promoted
    assert {"macro_f1", "ece", "unseen_merchant_accuracy"} <= set(result.challenger_metrics)
    assert str(result).startswith(f"{NAME} version 1 refused; champion unchanged (was version 3)")
    assert version_tags(settings, "1")["gate.champion.accuracy"] == "1.0"


def test_force_promotes_a_refused_challenger_and_says_so(settings: Settings) -> None:
    set_aliases(settings, champion="1", challenger="2")

    result = registry.promote(settings, NAME, evaluate=evaluate, force=True)

    assert result.promoted
    assert result.forced
    assert not result.decision.passed
    assert aliases(settings) == {CHAMPION: "2"}
    tags = version_tags(settings, "2")
    assert (tags["gate.passed"], tags["gate.forced"]) == ("false", "true")
    assert model_tags(settings)[HISTORY_TAG] == "1"
    assert "forced to champion despite the gate (was version 1)" in str(result)


def test_rollback_restores_the_previous_champion_and_pops_the_history(
    settings: Settings,
) -> None:
    set_aliases(settings, champion=None, challenger="1")
    registry.promote(settings, NAME, evaluate=evaluate)
    set_aliases(settings, champion="1", challenger="3")
    registry.promote(settings, NAME, evaluate=evaluate)
    assert aliases(settings) == {CHAMPION: "3"}

    result = registry.rollback(settings, NAME)

    assert (result.from_version, result.to_version) == ("3", "1")
    assert str(result) == f"{NAME}: champion moved back from version 3 to 1"
    assert result.remaining_history == ()
    assert aliases(settings) == {CHAMPION: "1"}
    assert HISTORY_TAG not in model_tags(settings)
    assert version_tags(settings, "1")["rolled_back_from"] == "3"
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        registry.rollback(settings, NAME)


def test_rollback_walks_back_one_champion_at_a_time(settings: Settings) -> None:
    set_aliases(settings, champion="3", challenger=None)
    tracking.tracking_client(settings).set_registered_model_tag(NAME, HISTORY_TAG, "1,2")

    assert registry.rollback(settings, NAME).to_version == "2"
    assert model_tags(settings)[HISTORY_TAG] == "1"
    assert registry.rollback(settings, NAME).to_version == "1"
    assert aliases(settings) == {CHAMPION: "1"}


def test_rollback_without_history_fails_clearly(settings: Settings) -> None:
    set_aliases(settings, champion="1", challenger=None)
    with pytest.raises(RegistryError, match=r"no earlier champion.*version 1 is the first"):
        registry.rollback(settings, NAME)
    assert aliases(settings) == {CHAMPION: "1"}


def test_rollback_without_champion_or_model_fails_clearly(settings: Settings) -> None:
    set_aliases(settings, champion=None, challenger="3")
    with pytest.raises(RegistryError, match="has no 'champion'"):
        registry.rollback(settings, NAME)
    with pytest.raises(RegistryError, match="'spendlens-nobody-default' does not exist"):
        registry.rollback(settings, "spendlens-nobody-default")


def test_promote_without_challenger_or_model_fails_clearly(settings: Settings) -> None:
    set_aliases(settings, champion="1", challenger=None)
    with pytest.raises(RegistryError, match="has no 'challenger' version"):
        registry.promote(settings, NAME, evaluate=evaluate)
    with pytest.raises(RegistryError, match="does not exist; train one first"):
        registry.promote(settings, "spendlens-nobody-default", evaluate=evaluate)


def test_load_model_by_alias_returns_a_native_model_that_predicts(settings: Settings) -> None:
    set_aliases(settings, champion="3", challenger=None)

    loaded = registry.load_model(settings, f"{NAME}@champion")

    assert isinstance(loaded.model, Pipeline)
    assert (loaded.name, loaded.version, loaded.alias) == (NAME, "3", CHAMPION)
    assert (loaded.tenant, loaded.taxonomy, loaded.label) == (TENANT, TAXONOMY, f"{NAME}/3")
    assert loaded.tags["spendlens.candidate"] == "good"
    heldout = registry_heldout()
    predicted = loaded.model.predict(heldout.drop(columns=["label", "unseen"]))
    assert (predicted == heldout["label"].to_numpy()).mean() > 0.9
    by_version = registry.load_model(settings, f"{NAME}/2")
    assert (by_version.version, by_version.alias) == ("2", None)


def test_load_model_with_unknown_alias_or_model_fails_clearly(settings: Settings) -> None:
    set_aliases(settings, champion=None, challenger="3")
    with pytest.raises(RegistryError, match="has no alias 'champion'"):
        registry.load_model(settings, f"{NAME}@champion")
    with pytest.raises(RegistryError, match="does not exist"):
        registry.load_model(settings, "spendlens-nobody-default@champion")
    with pytest.raises(RegistryError, match="version 9 of"):
        registry.load_model(settings, f"{NAME}/9")


# --------------------------------------------------------------------------------------------
# The same flow with PostgreSQL as the tracking and registry store
# --------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_tracking_uri() -> Iterator[str]:
    """A fresh PostgreSQL database for MLflow's own tables, dropped afterwards."""
    from tests.conftest import POSTGRES_URL, require_postgres  # noqa: PLC0415

    require_postgres()
    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    database = f"mlflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            # MLflow keeps pooled connections to the store for the life of the process.
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.postgres
def test_registry_flow_on_a_postgres_tracking_store(
    postgres_tracking_uri: str, tmp_path: Path, offline_in_tmp: Path
) -> None:
    settings = Settings(state_dir=tmp_path / "state", mlflow_tracking_uri=postgres_tracking_uri)
    train, heldout = dataset()
    heldout_file = tmp_path / "heldout.parquet"
    heldout.to_parquet(heldout_file, index=False)

    first = log(settings, "mediocre", fit(train, {"groceries": "coffee"}), heldout_file)
    second = log(settings, "good", fit(train, {}), heldout_file)
    client = tracking.tracking_client(settings)
    assert registry.register_challenger(client, NAME, first.run_id) == "1"
    assert registry.promote(settings, NAME, evaluate=evaluate).promoted
    assert registry.register_challenger(client, NAME, second.model_uri) == "2"
    assert registry.promote(settings, NAME, evaluate=evaluate).promoted
    assert aliases(settings) == {CHAMPION: "2"}
    assert registry.load_model(settings, f"{NAME}@champion").model.predict(
        heldout.drop(columns=["label", "unseen"]).head(2)
    ).shape == (2,)

    assert registry.rollback(settings, NAME).to_version == "1"
    assert aliases(settings) == {CHAMPION: "1"}
    experiment = client.get_experiment(first.experiment_id)
    assert experiment.artifact_location.startswith((tmp_path / "state" / "mlartifacts").as_uri())
    assert list(offline_in_tmp.iterdir()) == []
    assert "MLFLOW_TRACKING_URI" not in os.environ or os.environ["MLFLOW_TRACKING_URI"] != (
        postgres_tracking_uri
    )
