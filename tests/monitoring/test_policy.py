"""Every branch of the retrain trigger policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from monitoring.policy import TriggerPolicy, decide
from monitoring.summary import (
    ColumnDrift,
    DriftKind,
    FeedbackAccuracy,
    MonitorCounts,
    MonitorSummary,
    Window,
)
from spendlens.settings import Settings

POLICY = TriggerPolicy(
    drift_share_threshold=0.5, accuracy_drop_points=5.0, min_feedback=30, new_feedback_retrain=100
)
WINDOW = Window(dt.datetime(2026, 11, 20, tzinfo=dt.UTC), dt.datetime(2026, 11, 21, tzinfo=dt.UTC))


def column(name: str, drifted: bool) -> ColumnDrift:
    return ColumnDrift(name, DriftKind.DATA, "K-S p_value", 0.01 if drifted else 0.5, 0.05, drifted)


def summary(
    drift_share: float | None = 0.2, model_accuracy: float | None = 0.9, model_n: int = 50
) -> MonitorSummary:
    accuracy = replace(FeedbackAccuracy.empty(), model_accuracy=model_accuracy, model_n=model_n)
    return MonitorSummary(
        window=WINDOW,
        counts=MonitorCounts(decisions=100, reference_rows=100),
        accuracy=accuracy,
        drift_share=drift_share,
        data_drift=(
            column("amount", True),
            column("currency", True),
            column("mcc_presence", False),
        ),
    )


def test_healthy_run_does_not_retrain_and_says_why_each_trigger_stayed_quiet() -> None:
    decision = decide(summary(), champion_accuracy=0.92, new_feedback=10, policy=POLICY)

    assert not decision.retrain
    assert decision.triggers == ()
    assert decision.reasons[0] == "no trigger fired"
    assert "data drift share 0.20 <= 0.50" in decision.reason
    assert "within 5 points" in decision.reason
    assert "10 new corrections since the champion was trained (< 100)" in decision.reason


def test_drift_share_above_threshold_retrains_and_names_drifted_columns() -> None:
    decision = decide(summary(drift_share=0.67), 0.92, 10, POLICY)

    assert decision.retrain
    assert decision.triggers == ("drift",)
    assert decision.reason == "data drift share 0.67 is above 0.50 (drifted: amount, currency)"


def test_drift_on_too_few_decisions_does_not_retrain_and_says_so() -> None:
    few = replace(summary(drift_share=1.0), counts=MonitorCounts(decisions=3, reference_rows=100))
    decision = decide(few, 0.92, 10, POLICY)

    assert not decision.retrain
    assert any("too few to judge drift" in reason for reason in decision.reasons)


def test_drift_share_equal_to_threshold_does_not_retrain() -> None:
    assert not decide(summary(drift_share=0.5), 0.92, 10, POLICY).retrain


def test_no_drift_measured_is_not_a_trigger() -> None:
    decision = decide(summary(drift_share=None), 0.92, 10, POLICY)

    assert not decision.retrain
    assert "no drift measured" in decision.reason


def test_accuracy_more_than_the_allowed_points_below_the_champion_retrains() -> None:
    decision = decide(summary(model_accuracy=0.80), 0.92, 10, POLICY)

    assert decision.triggers == ("accuracy",)
    assert "80.0% on 50 decisions vs champion 92.0%: 12.0 points below (limit 5)" in (
        decision.reason
    )


def test_accuracy_drop_within_the_allowed_points_does_not_retrain() -> None:
    assert not decide(summary(model_accuracy=0.88), 0.92, 10, POLICY).retrain


def test_too_little_feedback_skips_the_accuracy_trigger() -> None:
    decision = decide(summary(model_accuracy=0.10, model_n=29), 0.92, 10, POLICY)

    assert not decision.retrain
    assert "29 model decisions with feedback (< 30): too few to judge accuracy" in decision.reason


def test_unknown_champion_accuracy_skips_the_accuracy_trigger() -> None:
    decision = decide(summary(model_accuracy=0.10), None, 10, POLICY)

    assert not decision.retrain
    assert "champion accuracy unknown" in decision.reason


def test_enough_new_feedback_since_training_retrains() -> None:
    decision = decide(summary(), 0.92, 100, POLICY)

    assert decision.triggers == ("feedback",)
    assert decision.reason == "100 new corrections since the champion was trained (>= 100)"


def test_every_fired_trigger_is_reported() -> None:
    decision = decide(summary(drift_share=0.9, model_accuracy=0.5), 0.92, 500, POLICY)

    assert decision.triggers == ("drift", "accuracy", "feedback")
    assert len(decision.reasons) == 3


def test_policy_reads_the_monitor_settings() -> None:
    settings = Settings(
        monitor_drift_share_threshold=0.3,
        monitor_accuracy_drop_points=2,
        monitor_min_feedback=5,
        monitor_new_feedback_retrain=7,
    )

    assert TriggerPolicy.from_settings(settings) == TriggerPolicy(0.3, 2.0, 5, 7)
