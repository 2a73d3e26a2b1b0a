"""When to retrain: a pure function of a monitoring summary, the champion and new feedback.

Retrain when ANY of:
* data drift: the share of drifted data columns is above `drift_share_threshold`, measured on
  at least `min_decisions` decisions (a quiet hour's handful says nothing about drift);
* accuracy: accuracy from feedback on MODEL decisions (at least `min_feedback` of them) is more
  than `accuracy_drop_points` percentage points below the champion's evaluated accuracy;
* feedback volume: at least `new_feedback_retrain` corrections arrived since the champion was
  trained, so a new model would learn from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring.summary import MonitorSummary
from spendlens.settings import Settings


@dataclass(frozen=True)
class TriggerPolicy:
    """The thresholds of the retrain decision (from `Settings.monitor_*`)."""

    drift_share_threshold: float = 0.5
    accuracy_drop_points: float = 5.0
    min_feedback: int = 30
    new_feedback_retrain: int = 500
    min_decisions: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> TriggerPolicy:
        """The policy configured by SPENDLENS_MONITOR_* settings."""
        return cls(
            drift_share_threshold=settings.monitor_drift_share_threshold,
            accuracy_drop_points=settings.monitor_accuracy_drop_points,
            min_feedback=settings.monitor_min_feedback,
            new_feedback_retrain=settings.monitor_new_feedback_retrain,
            min_decisions=settings.monitor_min_decisions,
        )


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain; `reasons` say why (the triggers that fired) or why not."""

    retrain: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    triggers: tuple[str, ...] = field(default_factory=tuple)  # "drift", "accuracy", "feedback"

    @property
    def reason(self) -> str:
        """All reasons in one line."""
        return "; ".join(self.reasons)


def decide(
    summary: MonitorSummary,
    champion_accuracy: float | None,
    new_feedback: int,
    policy: TriggerPolicy,
) -> RetrainDecision:
    """Apply the trigger policy.

    Args:
        champion_accuracy: the champion's held-out accuracy from its training run (0..1), or
            None when unknown (the accuracy trigger is then skipped, and says so).
        new_feedback: corrections that arrived since the champion was trained.
    """
    fired: list[tuple[str, str]] = []
    quiet: list[str] = []

    share = summary.drift_share
    if share is None:
        quiet.append("no drift measured (see the run status)")
    elif summary.counts.decisions < policy.min_decisions:
        quiet.append(
            f"data drift share {share:.2f} on {summary.counts.decisions} decisions "
            f"(< {policy.min_decisions}): too few to judge drift"
        )
    elif share > policy.drift_share_threshold:
        drifted = ", ".join(c.column for c in summary.data_drift if c.drifted)
        fired.append(
            (
                "drift",
                f"data drift share {share:.2f} is above {policy.drift_share_threshold:.2f} "
                f"(drifted: {drifted})",
            )
        )
    else:
        quiet.append(f"data drift share {share:.2f} <= {policy.drift_share_threshold:.2f}")

    accuracy = summary.accuracy
    if champion_accuracy is None:
        quiet.append("champion accuracy unknown: accuracy trigger skipped")
    elif accuracy.model_accuracy is None or accuracy.model_n < policy.min_feedback:
        quiet.append(
            f"{accuracy.model_n} model decisions with feedback (< {policy.min_feedback}): "
            "too few to judge accuracy"
        )
    else:
        drop = (champion_accuracy - accuracy.model_accuracy) * 100
        text = (
            f"accuracy from feedback {accuracy.model_accuracy:.1%} on {accuracy.model_n} "
            f"decisions vs champion {champion_accuracy:.1%}"
        )
        if drop > policy.accuracy_drop_points:
            fired.append(
                (
                    "accuracy",
                    f"{text}: {drop:.1f} points below (limit {policy.accuracy_drop_points:g})",
                )
            )
        else:
            quiet.append(f"{text}: within {policy.accuracy_drop_points:g} points")

    if new_feedback >= policy.new_feedback_retrain:
        fired.append(
            (
                "feedback",
                f"{new_feedback} new corrections since the champion was trained "
                f"(>= {policy.new_feedback_retrain})",
            )
        )
    else:
        quiet.append(
            f"{new_feedback} new corrections since the champion was trained "
            f"(< {policy.new_feedback_retrain})"
        )

    if fired:
        return RetrainDecision(
            retrain=True,
            reasons=tuple(text for _, text in fired),
            triggers=tuple(name for name, _ in fired),
        )
    return RetrainDecision(retrain=False, reasons=("no trigger fired", *quiet))
