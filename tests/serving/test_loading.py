"""The real loader over HTTP: each tenant's champion and rules, hot reload, the champion cache.

One MLflow store per session holds two versions of a tiny model of tenant acme (v1 calls coffee
shops coffee, v2 calls them groceries); each test copies its database, sets the champion alias
and serves the service's shared ASGI app through a real CategorizerPool over RegistryLoader.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from starlette.testclient import TestClient

from features.transforms import FEATURE_COLUMNS, with_defaults
from rules.models import Rule, TextCondition
from rules.store import save_rules
from serving.loading import RegistryLoader, read_cache
from serving.reload import CategorizerPool
from spendlens.settings import Settings
from tests.conftest import BuildOnce
from tests.serving.conftest import OTHER, TENANT, Backend, SqlBackend, bearer
from training import tracking
from training.registry import CHAMPION, register_challenger

NAME = "spendlens-acme-default"
COFFEE, GROCERIES = "FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_GROCERIES"
TXN = {"description": "BLUE BOTTLE CAFE 0042", "amount": "-4.50", "date": "2024-03-05"}


def _fit(coffee_label: str) -> Pipeline:
    rows = [
        *(
            {"description": f"{m} CAFE {k}", "label": coffee_label}
            for m in ("BLUE BOTTLE", "PEETS")
            for k in range(5)
        ),
        *(
            {"description": f"{m} MARKET {k}", "label": "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"}
            for m in ("UBER", "LYFT")
            for k in range(5)
        ),
    ]
    frame = pd.DataFrame(rows)
    columns = ColumnTransformer([("text", TfidfVectorizer(), "description")])
    model = Pipeline([("columns", columns), ("clf", LogisticRegression(max_iter=300))])
    return model.fit(frame[["description"]], frame["label"])


def _log(settings: Settings, folder: Path, model: Pipeline, name: str) -> Any:
    heldout = folder / "heldout.parquet"
    pd.DataFrame({"description": ["PEETS CAFE 9"], "label": [COFFEE]}).to_parquet(heldout)
    return tracking.log_candidate(
        settings,
        TENANT,
        "default",
        candidate=name,
        model=model,
        params={},
        metrics={},
        per_class=[],
        artifacts={tracking.HELDOUT_ARTIFACT: heldout},
        lineage=tracking.Lineage(
            input_data_hash="0" * 64,
            n_rows=20,
            n_train=20,
            n_test=0,
            n_unseen=0,
            feature_service="categorizer_v1",
            git_commit="unknown",
            tenant=TENANT,
            taxonomy="default",
            source="generated",
        ),
        input_example=pd.DataFrame({"description": ["PEETS CAFE 1"]}),
    )


@pytest.fixture(scope="session")
def two_versions(build_once: BuildOnce, mlflow_empty_db: Path) -> Path:
    """A state dir whose MLflow store has versions 1 (coffee) and 2 (groceries) of acme."""

    def build(state: Path) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
            shutil.copyfile(mlflow_empty_db, state / "mlflow.db")
            settings = Settings(state_dir=state)
            client = tracking.tracking_client(settings)
            for name, label in (("v1", COFFEE), ("v2", GROCERIES)):
                run = _log(settings, state, _fit(label), name)
                register_challenger(client, NAME, run.run_id)

    return build_once("serving-two-versions", build)


def default_features(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Online features as for merchants never seen (the Feast store is not under test)."""
    frame: pd.DataFrame = with_defaults(pd.DataFrame(index=range(len(rows))))
    return frame[FEATURE_COLUMNS]


@pytest.fixture
def served(
    two_versions: Path, sql_backend: SqlBackend, backend: Backend, tmp_path: Path
) -> Iterator[tuple[Settings, CategorizerPool]]:
    """A real pool (champion v1 of acme) behind the shared app, with the SQL backend's keys."""
    state = tmp_path / "served"
    state.mkdir()
    shutil.copyfile(two_versions / "mlflow.db", state / "mlflow.db")
    database = sql_backend.sessions.kw["bind"].url.render_as_string(hide_password=False)
    settings = Settings(state_dir=state, database_url=database)
    tracking.tracking_client(settings).set_registered_model_alias(NAME, CHAMPION, "1")
    pool = CategorizerPool(RegistryLoader(settings, features=default_features), preload=[TENANT])
    backend.pool = pool
    yield settings, pool
    backend.pool = None
    pool.stop()


def _coffee_rule() -> Rule:
    return Rule(
        id="r-bottle",
        name="Blue Bottle is coffee",
        category=COFFEE,
        priority=100,
        confidence=0.99,
        conditions=(TextCondition(field="description", op="contains", value="blue bottle"),),
    )


def test_each_tenant_is_served_its_own_champion_and_rules(
    app_client: TestClient, sql_backend: SqlBackend, served: Any
) -> None:
    with sql_backend.sessions.begin() as session:
        save_rules(session, TENANT, [_coffee_rule()])
    served[1].refresh()
    acme, globex = bearer(sql_backend.keys["acme"]), bearer(sql_backend.keys["globex"])

    ours = app_client.post("/categorize", json=TXN, headers=acme).json()
    theirs = app_client.post("/categorize", json=TXN, headers=globex).json()

    assert (ours["source"], ours["rule_id"]) == ("rule", "r-bottle")
    # globex has neither acme's rule nor a champion of its own
    assert (theirs["source"], theirs["category"], theirs["route"]) == ("fallback", None, "review")
    tenants = app_client.post("/status").json()["tenants"]
    assert tenants[TENANT]["model_version"] == "1"
    assert tenants[OTHER]["model_version"] is None


def test_promoted_champion_is_served_after_a_reload_without_a_restart(
    app_client: TestClient, sql_backend: SqlBackend, served: Any
) -> None:
    settings, pool = served
    key = bearer(sql_backend.keys["acme"])
    before = app_client.post("/categorize", json=TXN, headers=key).json()
    assert (before["model_version"], before["category"]) == ("1", COFFEE)

    tracking.tracking_client(settings).set_registered_model_alias(NAME, CHAMPION, "2")
    pool.interval_seconds = 0.1
    pool.start()
    deadline, answers = time.monotonic() + 20, []
    while time.monotonic() < deadline:
        response = app_client.post("/categorize", json=TXN, headers=key)
        answers.append(response.status_code)
        if response.json().get("model_version") == "2":
            break
        time.sleep(0.05)
    pool.stop()

    after = app_client.post("/categorize", json=TXN, headers=key).json()
    assert (after["model_version"], after["category"]) == ("2", GROCERIES)
    assert set(answers) == {200}  # no request failed while the new champion loaded
    assert app_client.post("/status").json()["tenants"][TENANT]["model_version"] == "2"


def test_changed_rules_are_served_after_a_reload(
    app_client: TestClient, sql_backend: SqlBackend, served: Any
) -> None:
    _, pool = served
    key = bearer(sql_backend.keys["acme"])
    assert app_client.post("/categorize", json=TXN, headers=key).json()["source"] == "model"

    with sql_backend.sessions.begin() as session:
        save_rules(session, TENANT, [_coffee_rule()])
    [event] = pool.refresh()

    assert event.ok
    assert event.after.rules > event.before.rules
    assert app_client.post("/categorize", json=TXN, headers=key).json()["rule_id"] == "r-bottle"


class BrokenVersionTwo(RegistryLoader):
    """Version 2's artifact cannot be loaded (as when its files were deleted)."""

    def _model(self, tenant: str, version: str | None) -> Any:
        if version == "2":
            raise OSError("artifact of version 2 is missing")
        return super()._model(tenant, version)


def test_a_champion_that_fails_to_load_leaves_the_old_one_serving_and_readiness_says_so(
    app_client: TestClient, sql_backend: SqlBackend, served: Any, backend: Backend
) -> None:
    settings, _ = served
    pool = CategorizerPool(BrokenVersionTwo(settings, features=default_features), preload=[TENANT])
    backend.pool = pool
    tracking.tracking_client(settings).set_registered_model_alias(NAME, CHAMPION, "2")

    [event] = pool.refresh()

    assert not event.ok
    key = bearer(sql_backend.keys["acme"])
    assert app_client.post("/categorize", json=TXN, headers=key).json()["model_version"] == "1"
    status = app_client.post("/status").json()
    assert status["ready"] is True
    assert "artifact of version 2 is missing" in status["tenants"][TENANT]["reload_error"]
    assert app_client.get("/readyz").status_code == 200


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_mlflow_down_at_start_the_cached_champion_serves(
    app_client: TestClient,
    sql_backend: SqlBackend,
    served: Any,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, _ = served  # its pool loaded version 1 from the registry and cached it
    assert read_cache(settings, NAME) is not None
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = settings.model_copy(update={"mlflow_tracking_uri": f"http://127.0.0.1:{_closed_port()}"})
    pool = CategorizerPool(RegistryLoader(down, features=default_features), preload=[TENANT])
    backend.pool = pool

    key = bearer(sql_backend.keys["acme"])
    decided = app_client.post("/categorize", json=TXN, headers=key).json()

    assert (decided["model_version"], decided["category"]) == ("1", COFFEE)
    tenant = app_client.post("/status").json()["tenants"][TENANT]
    assert tenant["model_source"] == "cache"
    assert "cannot check for a new champion" in tenant["reload_error"]
