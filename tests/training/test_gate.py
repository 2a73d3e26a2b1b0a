"""The promotion gate compares a challenger's metrics with the champion's, within tolerances."""

from __future__ import annotations

import math

import pytest

from spendlens.settings import Settings
from training.gate import GateTolerances, decide

TOL = GateTolerances(macro_f1=0.01, unseen_accuracy=0.02, ece=0.02)
CHAMPION = {"macro_f1": 0.80, "unseen_merchant_accuracy": 0.70, "ece": 0.05}


def test_tolerances_come_from_settings() -> None:
    settings = Settings(
        gate_macro_f1_tolerance=0.03, gate_unseen_accuracy_tolerance=0.04, gate_ece_tolerance=0.05
    )
    assert GateTolerances.from_settings(settings) == GateTolerances(0.03, 0.04, 0.05)


def test_passes_without_a_champion_whatever_the_metrics() -> None:
    decision = decide({"macro_f1": 0.1, "ece": 0.9}, None, TOL)
    assert decision.passed
    assert decision.reasons == ("no champion yet",)
    assert decision.compared["macro_f1"] == {"challenger": 0.1, "champion": None, "tolerance": 0.01}


def test_passes_a_better_challenger() -> None:
    challenger = {"macro_f1": 0.85, "unseen_merchant_accuracy": 0.75, "ece": 0.03}
    decision = decide(challenger, CHAMPION, TOL)
    assert decision.passed
    assert decision.reasons == ()
    assert decision.summary == "passed"


def test_passes_a_slightly_worse_challenger_within_tolerance() -> None:
    challenger = {"macro_f1": 0.795, "unseen_merchant_accuracy": 0.69, "ece": 0.06}
    assert decide(challenger, CHAMPION, TOL).passed


def test_passes_exactly_at_every_tolerance_edge() -> None:
    # 0.80 - 0.01 and 0.05 + 0.02 are not exact in binary floating point.
    challenger = {"macro_f1": 0.79, "unseen_merchant_accuracy": 0.68, "ece": 0.07}
    decision = decide(challenger, CHAMPION, TOL)
    assert decision.passed, decision.reasons


def test_refuses_a_worse_challenger_with_one_reason_per_failed_criterion() -> None:
    challenger = {"macro_f1": 0.71, "unseen_merchant_accuracy": 0.60, "ece": 0.10}
    decision = decide(challenger, CHAMPION, TOL)
    assert not decision.passed
    assert decision.reasons == (
        "macro_f1 0.7100 < champion 0.8000 - 0.0100",
        "unseen_merchant_accuracy 0.6000 < champion 0.7000 - 0.0200",
        "ece 0.1000 > champion 0.0500 + 0.0200",
    )
    assert decision.summary.startswith("refused: macro_f1 0.7100")


def test_refuses_on_a_single_failed_criterion() -> None:
    challenger = {"macro_f1": 0.90, "unseen_merchant_accuracy": 0.90, "ece": 0.0701}
    decision = decide(challenger, CHAMPION, TOL)
    assert not decision.passed
    assert decision.reasons == ("ece 0.0701 > champion 0.0500 + 0.0200",)


def test_skips_unseen_accuracy_missing_for_both_models_with_a_note() -> None:
    challenger = {"macro_f1": 0.80, "ece": 0.05}
    decision = decide(challenger, {"macro_f1": 0.80, "ece": 0.05}, TOL)
    assert decision.passed
    assert decision.reasons == ("unseen_merchant_accuracy not measured on either model",)


def test_treats_nan_as_missing() -> None:
    challenger = {"macro_f1": 0.80, "unseen_merchant_accuracy": math.nan, "ece": 0.05}
    champion = {**CHAMPION, "unseen_merchant_accuracy": math.nan}
    assert decide(challenger, champion, TOL).passed


def test_refuses_when_only_the_challenger_lacks_unseen_accuracy() -> None:
    challenger = {"macro_f1": 0.80, "ece": 0.05}
    decision = decide(challenger, CHAMPION, TOL)
    assert not decision.passed
    assert decision.reasons == (
        "unseen_merchant_accuracy missing for the challenger (champion 0.7000)",
    )


def test_passes_with_a_note_when_only_the_champion_lacks_unseen_accuracy() -> None:
    champion = {"macro_f1": 0.80, "ece": 0.05}
    decision = decide(CHAMPION, champion, TOL)
    assert decision.passed
    assert decision.reasons == ("unseen_merchant_accuracy not measured on the champion",)


@pytest.mark.parametrize("tolerance", [0.0, 0.05])
def test_identical_metrics_always_pass(tolerance: float) -> None:
    tol = GateTolerances(tolerance, tolerance, tolerance)
    assert decide(CHAMPION, CHAMPION, tol).passed
