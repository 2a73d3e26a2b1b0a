"""`run_monitor` end to end on SQLite with a tiny champion in a temporary MLflow store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitoring.job import KIND, KIND_TAG, MonitorStatus, run_monitor
from monitoring.store import list_monitor_runs
from spendlens.settings import Settings
from spendlens.storage.db import make_engine, migrate, session_factory
from tests.monitoring.factories import TAXONOMY, TENANT, add_decisions, add_tenant, decision
from training.tracking import tracking_client

# After the session's champion was trained, so corrections count as new feedback.
NOW = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'spendlens.db'}")
    migrate(engine)
    factory = session_factory(engine)
    add_tenant(factory)
    yield factory
    engine.dispose()


def like_training(n: int, seed: int) -> list[dict[str, object]]:
    """Model decisions drawn like the champion's training data (see conftest.labeled_frame)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        merchant = int(rng.integers(0, 30))
        confidence = float(rng.uniform(0.4, 0.99))
        route = "auto" if confidence >= 0.9 else "suggest" if confidence >= 0.6 else "review"
        rows.append(
            decision(
                NOW - dt.timedelta(minutes=5 + i),
                category=("coffee", "groceries", "transport")[merchant % 3],
                confidence=confidence,
                route=route,
                merchant_id=f"m_{merchant}",
                amount_minor=int(rng.lognormal(3.0, 0.5) * 100),
                mcc="5814" if rng.random() < 0.5 else None,
                description=f"SHOP {merchant} BUY {'X' * int(rng.integers(0, 10))}",
            )
        )
    return rows


def drifted(n: int, seed: int) -> list[dict[str, object]]:
    """Decisions for new merchants, 30x the amounts, in EUR, without MCCs."""
    rows = like_training(n, seed)
    for row in rows:
        row["features"] = {
            **row["features"],  # type: ignore[dict-item]
            "merchant_id": f"m_new_{row['id']}",
            "amount_minor": int(row["features"]["amount_minor"]) * 30,  # type: ignore[index]
            "currency": "EUR",
            "mcc": None,
        }
    return rows


def test_drifted_window_with_bad_feedback_asks_for_retraining_and_records_everything(
    champion_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    rows = drifted(300, seed=1)
    # 40 corrections of model decisions, half of them confirming: 50% vs the champion's 90%.
    for i, row in enumerate(rows[:40]):
        row["corrected_category"] = row["category"] if i % 2 else "transport_x"
        row["corrected_at"] = NOW - dt.timedelta(minutes=1)
    add_decisions(sessions, rows)

    result = run_monitor(champion_settings, sessions, TENANT, TAXONOMY, now=NOW)

    assert result.status is MonitorStatus.OK
    assert result.retrain
    assert set(result.decision.triggers) == {"drift", "accuracy"}
    summary = result.summary
    assert summary is not None
    assert summary.drift_share is not None
    assert summary.drift_share > 0.5
    drifted_columns = {c.column for c in summary.drifted_columns}
    assert {"amount", "merchant_novelty", "mcc_presence", "currency"} <= drifted_columns
    assert summary.counts.decisions == 300
    assert summary.counts.new_merchant_share == 1.0
    assert summary.accuracy.model_n == 40
    assert summary.accuracy.model_accuracy == pytest.approx(0.5)
    assert result.new_feedback == 40

    assert result.html_path is not None
    assert result.json_path is not None
    assert result.html_path.is_file()
    assert result.html_path.stat().st_size > 10_000
    reports = champion_settings.state_dir / "reports" / "monitoring" / TENANT / TAXONOMY
    assert result.json_path.parent.parent == reports
    document = json.loads(result.json_path.read_text())
    assert document["decision"]["retrain"] is True
    assert document["champion"]["version"] == "1"
    assert document["summary"]["drift_share"] == summary.drift_share

    client = tracking_client(champion_settings)
    assert result.mlflow_run_id is not None
    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags[KIND_TAG] == KIND
    assert run.data.tags["spendlens.champion_model"] == "spendlens-acme-default"
    assert run.data.tags["spendlens.champion_version"] == "1"
    assert run.data.metrics["drift_share"] == pytest.approx(summary.drift_share)
    assert run.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id, "monitoring")}
    assert artifacts == {"monitoring/report.html", "monitoring/summary.json"}
    assert str(champion_settings.state_dir) in run.info.artifact_uri

    stored = list_monitor_runs(sessions, TENANT)
    assert [r.id for r in stored] == [result.monitor_run_id]
    assert stored[0].retrain is True
    assert "data drift share" in stored[0].reason
    assert stored[0].mlflow_run_id == result.mlflow_run_id
    assert stored[0].model_version == "1"
    assert stored[0].summary["summary"]["counts"]["decisions"] == 300


def test_window_like_the_training_data_does_not_ask_for_retraining(
    champion_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    add_decisions(sessions, like_training(400, seed=2))

    result = run_monitor(champion_settings, sessions, TENANT, TAXONOMY, now=NOW)

    assert result.status is MonitorStatus.OK
    assert result.summary is not None
    assert result.summary.drift_share is not None
    assert result.summary.drift_share < 0.5
    assert not result.retrain, result.decision.reason
    assert "no trigger fired" in result.decision.reason
    assert {c.column for c in result.summary.prediction_drift} == {
        "category",
        "confidence",
        "route",
    }


def test_decisions_outside_the_window_are_not_monitored(
    champion_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    old = like_training(50, seed=3)
    for row in old:
        row["created_at"] = NOW - dt.timedelta(hours=30)
    add_decisions(sessions, old)

    result = run_monitor(champion_settings, sessions, TENANT, TAXONOMY, now=NOW, hours=24)

    assert result.status is MonitorStatus.NO_DECISIONS
    assert "no decisions between" in result.note
    assert result.html_path is None
    assert result.json_path is not None
    assert json.loads(result.json_path.read_text())["status"] == "no_decisions"
    assert result.mlflow_run_id is not None
    assert not result.retrain
    assert len(list_monitor_runs(sessions, TENANT)) == 1


def test_no_champion_is_a_clear_result_not_a_crash(
    champion_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # The store has a champion for acme only.
    add_tenant(sessions, "other")
    add_decisions(sessions, [{**row, "tenant_id": "other"} for row in like_training(5, seed=4)])

    result = run_monitor(champion_settings, sessions, "other", TAXONOMY, now=NOW)

    assert result.status is MonitorStatus.NO_CHAMPION
    assert not result.retrain
    assert "no champion model for tenant 'other'" in result.decision.reason
    assert result.mlflow_run_id is None
    stored = list_monitor_runs(sessions, "other")
    assert len(stored) == 1
    assert stored[0].model_name is None
    assert "train and promote" in stored[0].reason
    assert list_monitor_runs(sessions, TENANT) == []


def test_champion_without_a_training_snapshot_still_checks_feedback(
    champion_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    snapshots = list(champion_settings.state_dir.rglob("reference/reference.parquet"))
    assert len(snapshots) == 1
    snapshots[0].unlink()
    add_decisions(sessions, like_training(20, seed=5))

    result = run_monitor(champion_settings, sessions, TENANT, TAXONOMY, now=NOW)

    assert result.status is MonitorStatus.NO_REFERENCE
    assert "trained before monitoring snapshots were logged" in result.note
    assert result.summary is not None
    assert result.summary.drift_share is None
    assert result.summary.counts.decisions == 20
    assert result.html_path is None
    assert "no drift measured" in result.decision.reason
    assert len(list_monitor_runs(sessions, TENANT)) == 1
