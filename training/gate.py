"""The promotion gate: may a challenger replace the champion? Pure; no MLflow here.

Both models are measured on the challenger's held-out set, so the numbers compare like with like.
A challenger may be slightly worse than the champion (by the tolerances) and still pass: small
regressions are noise on a few hundred held-out rows, and refusing them would freeze the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from spendlens.settings import Settings

__all__ = ["CRITERIA", "Criterion", "GateDecision", "GateTolerances", "decide"]

# Absorbs float error at the boundary: 0.79 must pass against 0.80 - 0.01.
_EPS = 1e-9


@dataclass(frozen=True)
class Criterion:
    """One gated metric: higher or lower is better, and which tolerance applies."""

    metric: str
    better: Literal["higher", "lower"]
    tolerance: Literal["macro_f1", "unseen_accuracy", "ece"]


CRITERIA: tuple[Criterion, ...] = (
    Criterion("macro_f1", "higher", "macro_f1"),
    Criterion("unseen_merchant_accuracy", "higher", "unseen_accuracy"),
    Criterion("ece", "lower", "ece"),
)


@dataclass(frozen=True)
class GateTolerances:
    """How much worse than the champion a challenger may be, per criterion."""

    macro_f1: float = 0.01
    unseen_accuracy: float = 0.02
    ece: float = 0.02

    @classmethod
    def from_settings(cls, settings: Settings) -> GateTolerances:
        """The tolerances configured in `Settings.gate_*_tolerance`."""
        return cls(
            macro_f1=settings.gate_macro_f1_tolerance,
            unseen_accuracy=settings.gate_unseen_accuracy_tolerance,
            ece=settings.gate_ece_tolerance,
        )


@dataclass(frozen=True)
class GateDecision:
    """The verdict; `reasons` lists failed criteria (or notes when it passed).

    `compared` maps each gated metric to {"challenger", "champion", "tolerance"} (None = missing).
    """

    passed: bool
    reasons: tuple[str, ...]
    compared: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for a tag or a log message."""
        verdict = "passed" if self.passed else "refused"
        return f"{verdict}: {'; '.join(self.reasons)}" if self.reasons else verdict


def _value(metrics: Mapping[str, float] | None, key: str) -> float | None:
    if metrics is None or key not in metrics:
        return None
    value = float(metrics[key])
    return None if math.isnan(value) else value


def _check(
    criterion: Criterion, challenger: float | None, champion: float | None, tol: float
) -> tuple[bool, str | None]:
    """(ok, reason or note) for one criterion."""
    name = criterion.metric
    if champion is None:
        if challenger is None:
            return True, f"{name} not measured on either model"
        return True, f"{name} not measured on the champion"
    if challenger is None:
        # Cannot show the challenger is not worse: refuse rather than promote blind.
        return False, f"{name} missing for the challenger (champion {champion:.4f})"
    if criterion.better == "higher":
        if challenger + _EPS < champion - tol:
            return False, f"{name} {challenger:.4f} < champion {champion:.4f} - {tol:.4f}"
        return True, None
    if challenger - _EPS > champion + tol:
        return False, f"{name} {challenger:.4f} > champion {champion:.4f} + {tol:.4f}"
    return True, None


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    tol: GateTolerances,
) -> GateDecision:
    """Pass when there is no champion, or the challenger is within tolerance on every criterion.

    Criteria: macro_f1 >= champion - tol, unseen_merchant_accuracy >= champion - tol,
    ece <= champion + tol. A metric missing (or NaN) for both models is skipped with a note, one
    missing only for the champion passes with a note, one missing only for the challenger fails.
    """
    tolerances = {"macro_f1": tol.macro_f1, "unseen_accuracy": tol.unseen_accuracy, "ece": tol.ece}
    compared: dict[str, dict[str, float | None]] = {}
    failures: list[str] = []
    notes: list[str] = []
    for criterion in CRITERIA:
        mine = _value(challenger, criterion.metric)
        theirs = _value(champion, criterion.metric)
        tolerance = tolerances[criterion.tolerance]
        compared[criterion.metric] = {
            "challenger": mine,
            "champion": theirs,
            "tolerance": tolerance,
        }
        if champion is None:
            continue
        ok, message = _check(criterion, mine, theirs, tolerance)
        if message is not None:
            (notes if ok else failures).append(message)
    if champion is None:
        return GateDecision(True, ("no champion yet",), compared)
    if failures:
        return GateDecision(False, tuple(failures), compared)
    return GateDecision(True, tuple(notes), compared)
