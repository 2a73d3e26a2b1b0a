"""Hold-out splits, metrics and plots of training.evaluation, on hand-built predictions."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.evaluation import (
    OTHER_LABEL,
    EvalReport,
    confusion_png,
    evaluate_predictions,
    folded_confusion,
    format_report,
    reliability_png,
    split_holdout,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_hot(
    predicted: Sequence[str],
    classes: Sequence[str],
    confidence: float | Sequence[float] | npt.NDArray[np.float64] = 0.9,
) -> npt.NDArray[np.float64]:
    """Probabilities whose top class is `predicted` with the given confidence per row."""
    conf = np.broadcast_to(np.asarray(confidence, dtype=np.float64), (len(predicted),))
    rest = (1.0 - conf) / (len(classes) - 1)
    proba = np.repeat(rest[:, None], len(classes), axis=1)
    proba[np.arange(len(predicted)), [list(classes).index(p) for p in predicted]] = conf
    return proba


def _ranked(correct: Sequence[bool]) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Rows with strictly decreasing confidence; the model predicts "a", truth is "a" if correct."""
    n = len(correct)
    confidence = np.linspace(0.99, 0.6, n)
    y_true = ["a" if ok else "b" for ok in correct]
    return y_true, _one_hot(["a"] * n, ["a", "b"], confidence)


# --------------------------------------------------------------------------------------------
# split_holdout
# --------------------------------------------------------------------------------------------


def test_grouped_split_puts_no_merchant_in_both_train_and_test() -> None:
    merchants = np.array([f"m{i % 40}" for i in range(1000)])

    split = split_holdout(merchants, 0.2, 0.1, seed=7)

    held_out = set(merchants[split.test_index[split.unseen]])
    assert held_out
    assert held_out.isdisjoint(merchants[split.train_index])


def test_split_holds_out_the_requested_share_of_merchants_and_of_seen_rows() -> None:
    merchants = np.array([f"m{i % 50}" for i in range(1000)])  # 20 rows per merchant

    split = split_holdout(merchants, 0.2, 0.1, seed=3)

    assert len(set(merchants[split.test_index[split.unseen]])) == 10
    assert split.n_unseen == 200
    assert int((~split.unseen).sum()) == 80  # 10% of the 800 rows of the other 40 merchants


def test_split_always_holds_out_a_merchant_and_keeps_a_train_row() -> None:
    split = split_holdout(["a", "a", "b"], 0.01, 0.99, seed=0)

    assert split.n_unseen >= 1
    assert len(split.train_index) >= 1


def test_split_of_a_single_merchant_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 distinct merchants"):
        split_holdout(["a", "a", "a"], 0.2, 0.1, seed=0)


@pytest.mark.parametrize(("unseen", "seen"), [(0.0, 0.1), (1.0, 0.1), (0.2, 1.0), (0.2, -0.1)])
def test_split_rejects_fractions_outside_their_range(unseen: float, seen: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        split_holdout(["a", "b", "c"], unseen, seen, seed=0)


def test_seen_test_row_whose_merchant_has_no_train_row_is_flagged_unseen() -> None:
    # One row per merchant: 1 merchant is held out, then 5 of the other 9 rows go to test,
    # and their merchants have no train row left either.
    merchants = [f"m{i}" for i in range(10)]

    split = split_holdout(merchants, 0.1, 0.5, seed=1)

    assert len(split.test_index) == 6
    assert split.unseen.all()


def test_stratified_split_draws_seen_test_rows_per_label_and_keeps_singletons_in_train() -> None:
    # 20 merchants x 20 rows: 15 "a", 4 "b" and one label unique to the merchant.
    merchants = np.repeat([f"m{i}" for i in range(20)], 20)
    per_merchant = [["a"] * 15 + ["b"] * 4 + [f"only-m{i}"] for i in range(20)]
    labels = np.array([label for rows in per_merchant for label in rows])

    split = split_holdout(merchants, 0.1, 0.6, seed=5, stratify=labels)

    seen_test_labels = labels[split.test_index[~split.unseen]].tolist()
    assert split.n_unseen == 40  # 2 merchants held out
    assert seen_test_labels.count("a") == 162  # 60% of 18 * 15
    assert seen_test_labels.count("b") == 43  # 60% of 18 * 4 = 43.2
    assert not [label for label in seen_test_labels if label.startswith("only-")]


def test_stratify_must_align_with_merchant_ids() -> None:
    with pytest.raises(ValueError, match="stratify"):
        split_holdout(["a", "b", "c"], 0.3, 0.1, seed=0, stratify=["x", "y"])


@settings(max_examples=75, deadline=None)
@given(
    merchants=st.lists(st.sampled_from([f"m{i}" for i in range(12)]), min_size=2, max_size=80),
    unseen_fraction=st.floats(min_value=0.01, max_value=0.99),
    seen_fraction=st.floats(min_value=0.0, max_value=0.99),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_split_is_deterministic_per_seed_and_partitions_the_rows(
    merchants: list[str], unseen_fraction: float, seen_fraction: float, seed: int
) -> None:
    if len(set(merchants)) < 2:
        with pytest.raises(ValueError, match="at least 2 distinct merchants"):
            split_holdout(merchants, unseen_fraction, seen_fraction, seed)
        return

    first = split_holdout(merchants, unseen_fraction, seen_fraction, seed)
    again = split_holdout(merchants, unseen_fraction, seen_fraction, seed)

    assert np.array_equal(first.train_index, again.train_index)
    assert np.array_equal(first.test_index, again.test_index)
    assert np.array_equal(first.unseen, again.unseen)
    every_row = np.sort(np.concatenate([first.train_index, first.test_index]))
    assert np.array_equal(every_row, np.arange(len(merchants)))
    assert len(first.unseen) == len(first.test_index)
    assert len(first.train_index) >= 1
    assert first.n_unseen >= 1
    train_merchants = {merchants[i] for i in first.train_index}
    assert [merchants[i] not in train_merchants for i in first.test_index] == first.unseen.tolist()


# --------------------------------------------------------------------------------------------
# evaluate_predictions
# --------------------------------------------------------------------------------------------


def test_perfectly_calibrated_predictions_have_near_zero_ece() -> None:
    # At each confidence level c (one per ECE bin), exactly c of the 100 rows are right.
    y_true: list[str] = []
    confidence: list[float] = []
    for level in (0.6, 0.7, 0.8, 0.9, 1.0):
        n_right = round(level * 100)
        y_true += ["a"] * n_right + ["b"] * (100 - n_right)
        confidence += [level] * 100
    proba = _one_hot(["a"] * len(y_true), ["a", "b"], confidence)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.ece == pytest.approx(0.0, abs=1e-9)


def test_overconfident_predictions_have_high_ece() -> None:
    y_true = ["a", "b"] * 50
    proba = _one_hot(["a"] * 100, ["a", "b"], 0.99)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.ece == pytest.approx(0.49)


def test_ece_weights_each_bin_by_its_rows() -> None:
    # 30 rows at 0.9 all right (gap 0.1), 10 rows at 0.5 all wrong (gap 0.5): (3 + 5) / 40.
    y_true = ["a"] * 30 + ["b"] * 10
    proba = _one_hot(["a"] * 40, ["a", "b"], [0.9] * 30 + [0.5] * 10)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.ece == pytest.approx(0.2)


def test_coverage_at_95_precision_stops_before_the_first_precision_drop() -> None:
    # Ranked by confidence: 19 right, then 2 wrong, then alternating. The prefix of 20 has
    # precision 19/20 = 0.95; from 21 rows on no prefix gets back to 0.95.
    correct = [True] * 19 + [False, False] + [i % 2 == 0 for i in range(19)]
    y_true, proba = _ranked(correct)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.coverage_at_95_precision == pytest.approx(20 / 40)
    assert report.threshold_at_95_precision == pytest.approx(proba[19, 0])


def test_coverage_at_95_precision_takes_the_largest_prefix_even_after_an_early_dip() -> None:
    # Right, wrong, then 38 right: the prefix of 2 is at 50%, but all 40 rows reach 39/40.
    correct = [True, False] + [True] * 38
    y_true, proba = _ranked(correct)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.coverage_at_95_precision == 1.0
    assert report.threshold_at_95_precision == pytest.approx(proba[-1, 0])


def test_coverage_at_95_precision_never_splits_rows_of_equal_confidence() -> None:
    # 19 right at 0.99, then right, wrong, wrong all at 0.8: accepting only the first 0.8 row
    # would be 20/20, but a threshold of 0.8 accepts all three (20/22 < 0.95).
    y_true = ["a"] * 20 + ["b", "b"]
    proba = _one_hot(["a"] * 22, ["a", "b"], [0.99] * 19 + [0.8] * 3)

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.coverage_at_95_precision == pytest.approx(19 / 22)
    assert report.threshold_at_95_precision == pytest.approx(0.99)


def test_coverage_is_zero_at_threshold_one_when_no_prefix_is_precise_enough() -> None:
    y_true, proba = _ranked([False, True, True])

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.coverage_at_95_precision == 0.0
    assert report.threshold_at_95_precision == 1.0


def test_unseen_accuracy_only_counts_unseen_rows() -> None:
    # Unseen rows are all right, seen rows all wrong.
    y_true = ["a", "b", "a", "b", "a"]
    predicted = ["a", "b", "b", "a", "b"]
    unseen = np.array([True, True, False, False, False])

    report = evaluate_predictions(y_true, _one_hot(predicted, ["a", "b"]), ["a", "b"], unseen)

    assert report.n_unseen == 2
    assert report.unseen_merchant_accuracy == 1.0
    assert report.unseen_merchant_macro_f1 == 1.0
    assert report.seen_accuracy == 0.0
    assert report.seen_macro_f1 == 0.0
    assert report.accuracy == pytest.approx(2 / 5)


def test_unknown_true_label_counts_as_error() -> None:
    # "c" is not among the model's classes: its row is wrong whatever the model predicts.
    y_true = ["a", "b", "c", "c"]
    proba = _one_hot(["a", "b", "a", "b"], ["a", "b"])

    report = evaluate_predictions(y_true, proba, ["a", "b"])

    assert report.accuracy == pytest.approx(0.5)
    assert report.per_class_f1["c"] == 0.0
    assert report.per_class_support["c"] == 2
    # a and b: precision 1/2, recall 1 -> F1 2/3 each; c: 0.
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


def test_macro_f1_averages_only_labels_present_in_y_true() -> None:
    # The model knows "c" and predicts it once, but no row is truly "c".
    y_true = ["a", "a", "b", "b"]
    proba = _one_hot(["a", "a", "b", "c"], ["a", "b", "c"])

    report = evaluate_predictions(y_true, proba, ["a", "b", "c"])

    assert set(report.per_class_f1) == {"a", "b"}
    # a: F1 1; b: precision 1, recall 1/2 -> 2/3.
    assert report.macro_f1 == pytest.approx((1 + 2 / 3) / 2)


def test_metrics_leave_out_keys_of_empty_subsets_instead_of_nan() -> None:
    y_true = ["a", "b"]
    proba = _one_hot(["a", "a"], ["a", "b"])

    without_mask = evaluate_predictions(y_true, proba, ["a", "b"]).as_metrics()
    all_seen = evaluate_predictions(y_true, proba, ["a", "b"], [False, False]).as_metrics()

    assert "unseen_merchant_accuracy" not in without_mask
    assert "seen_accuracy" not in without_mask
    assert "unseen_merchant_macro_f1" not in all_seen
    assert all_seen["seen_accuracy"] == pytest.approx(0.5)
    assert all_seen["n_unseen"] == 0.0
    for metrics in (without_mask, all_seen):
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def test_as_metrics_reports_every_metric_when_both_subsets_have_rows() -> None:
    report = evaluate_predictions(
        ["a", "b"], _one_hot(["a", "b"], ["a", "b"]), ["a", "b"], [True, False]
    )

    assert set(report.as_metrics()) == {
        "accuracy",
        "macro_f1",
        "ece",
        "coverage_at_95_precision",
        "threshold_at_95_precision",
        "unseen_merchant_accuracy",
        "unseen_merchant_macro_f1",
        "seen_accuracy",
        "seen_macro_f1",
        "n_rows",
        "n_unseen",
    }


def test_report_round_trips_through_json() -> None:
    report = evaluate_predictions(
        ["a", "b", "c"], _one_hot(["a", "a", "b"], ["a", "b"]), ["a", "b"], [True, False, False]
    )

    text = report.to_json()

    assert json.loads(text)["per_class_support"] == {"a": 1, "b": 1, "c": 1}
    assert EvalReport.from_json(text) == report


def test_per_class_table_lists_the_worst_label_first() -> None:
    report = evaluate_predictions(
        ["a", "a", "b", "b"], _one_hot(["a", "a", "a", "b"], ["a", "b"]), ["a", "b"]
    )

    table = report.per_class_table()

    assert [row["label"] for row in table] == ["b", "a"]
    assert table[0] == {"label": "b", "f1": pytest.approx(2 / 3), "support": 2}


def test_format_report_shows_metrics_and_marks_missing_subsets() -> None:
    report = evaluate_predictions(["a", "b"], _one_hot(["a", "a"], ["a", "b"]), ["a", "b"])

    text = format_report(report)

    assert "accuracy" in text
    assert "0.5000" in text
    assert "unseen-merchant accuracy    n/a" in text
    assert text.splitlines()[-1].split() == ["a", "0.6667", "1"]


@pytest.mark.parametrize(
    ("proba", "classes"),
    [
        (np.full((2, 3), 1 / 3), ["a", "b"]),
        (np.full((3, 2), 0.5), ["a", "b"]),
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), ["a", "b"]),
    ],
)
def test_evaluation_rejects_probabilities_that_do_not_fit(
    proba: npt.NDArray[np.float64], classes: list[str]
) -> None:
    with pytest.raises(ValueError, match="proba"):
        evaluate_predictions(["a", "b"], proba, classes)


def test_evaluation_rejects_an_unseen_mask_of_another_length() -> None:
    with pytest.raises(ValueError, match="unseen"):
        evaluate_predictions(["a", "b"], np.full((2, 2), 0.5), ["a", "b"], [True])


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mpl_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep matplotlib's font cache out of the home directory."""
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))


def _many_classes(
    n_rows: int = 2000, n_classes: int = 104
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float64], list[str]]:
    rng = np.random.default_rng(0)
    classes = [f"category-{i:03d}" for i in range(n_classes)]
    truth_index = rng.integers(0, n_classes, n_rows)
    logits = rng.normal(size=(n_rows, n_classes))
    logits[np.arange(n_rows), truth_index] += 3.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.asarray(classes)[truth_index], proba, classes


@pytest.mark.usefixtures("mpl_config")
def test_reliability_png_is_written(tmp_path: Path) -> None:
    y_true, proba, classes = _many_classes()

    path = reliability_png(tmp_path / "plots" / "reliability.png", y_true, proba, classes)

    assert path == tmp_path / "plots" / "reliability.png"
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert path.stat().st_size > 5_000


@pytest.mark.usefixtures("mpl_config")
def test_confusion_png_is_written_for_many_labels(tmp_path: Path) -> None:
    y_true, proba, classes = _many_classes()
    y_pred = np.asarray(classes)[proba.argmax(axis=1)]

    path = confusion_png(tmp_path / "confusion.png", y_true, y_pred, sorted(set(y_true)))

    assert path.read_bytes().startswith(PNG_MAGIC)
    assert path.stat().st_size > 5_000


def test_confusion_folds_rare_labels_into_other() -> None:
    y_true = ["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"]
    y_pred = ["a"] * 5 + ["b"] * 3 + ["d"] + ["c", "a"] + ["c"]

    names, matrix = folded_confusion(y_true, y_pred, ["a", "b", "c", "d"], max_labels=3)

    assert names == ["a", "b", OTHER_LABEL]
    assert matrix.tolist() == [
        [1.0, 0.0, 0.0],
        [0.0, 0.75, 0.25],
        [1 / 3, 0.0, 2 / 3],  # c -> c, c -> a, d -> c
    ]


def test_confusion_puts_predictions_outside_the_labels_into_other() -> None:
    names, matrix = folded_confusion(["a", "b"], ["a", "z"], ["a", "b"])

    assert names == ["a", "b", OTHER_LABEL]
    assert matrix[1].tolist() == [0.0, 0.0, 1.0]
    assert matrix[2].tolist() == [0.0, 0.0, 0.0]


def test_confusion_keeps_every_label_when_they_fit() -> None:
    names, matrix = folded_confusion(["a", "b", "b"], ["a", "a", "b"], ["b", "a"])

    assert names == ["b", "a"]
    assert matrix.tolist() == [[0.5, 0.5], [0.0, 1.0]]


def test_hashed_split_keeps_every_row_on_its_side_as_data_grows() -> None:
    rng = np.random.default_rng(0)
    merchants = np.array([f"m{rng.integers(0, 60)}" for _ in range(2000)], dtype=object)
    keys = np.array([f"t{i}" for i in range(2000)], dtype=object)
    early = split_holdout(merchants[:1200], 0.2, 0.1, seed=5, row_keys=keys[:1200])
    later = split_holdout(merchants, 0.2, 0.1, seed=5, row_keys=keys)

    early_test = set(early.test_index.tolist())
    later_test = set(later.test_index.tolist())
    assert later_test & set(range(1200)) == early_test  # no row changed sides
    assert 0.15 < len(later.test_index) / 2000 < 0.45
    assert later.unseen.any()
    assert (~later.unseen).any()


def test_hashed_split_still_holds_out_a_merchant_and_keeps_one_in_train() -> None:
    split = split_holdout(["a", "a", "b"], 0.01, 0.99, seed=0, row_keys=["1", "2", "3"])
    assert 0 < len(split.train_index) < 3
    assert split.unseen.any()
