"""Hold-out splits and the metrics a candidate model is judged by.

`split_holdout` keeps whole merchants out of training so the report can say how the model does
on merchants it has never seen, next to seen merchants. `evaluate_predictions` turns predicted
probabilities into an `EvalReport`: accuracy, macro F1, calibration (ECE) and how many rows could
be auto-accepted at 95% precision. The PNG functions import matplotlib lazily and draw on an Agg
canvas directly (no pyplot, so no global backend state).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import f1_score

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ECE_BINS",
    "OTHER_LABEL",
    "TARGET_PRECISION",
    "EvalReport",
    "Split",
    "confusion_png",
    "evaluate_predictions",
    "folded_confusion",
    "format_report",
    "reliability_png",
    "split_holdout",
]

ECE_BINS = 15
TARGET_PRECISION = 0.95
OTHER_LABEL = "(other)"
# Absorbs float error in `correct / accepted >= target` (e.g. 19/20 against 0.95).
_PRECISION_EPS = 1e-9

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


def _as_str_array(values: Sequence[Any] | npt.ArrayLike, name: str) -> StrArray:
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array.astype(str)


def _round_half_up(x: float) -> int:
    # Python's round() rounds half to even, which makes 0.5 * 5 hold out 2 rows, not 3.
    return math.floor(x + 0.5)


# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """Positional row indices of a hold-out split.

    `unseen` is aligned with `test_index`: True where the test row's merchant has no row in train.
    """

    train_index: IntArray
    test_index: IntArray
    unseen: BoolArray

    @property
    def n_unseen(self) -> int:
        """Test rows whose merchant is absent from train."""
        return int(self.unseen.sum())


def split_holdout(
    merchant_ids: Sequence[str] | npt.NDArray[Any],
    unseen_merchant_fraction: float,
    seen_test_fraction: float,
    seed: int,
    stratify: Sequence[str] | npt.NDArray[Any] | None = None,
    row_keys: Sequence[str] | npt.NDArray[Any] | None = None,
) -> Split:
    """Hold out all rows of a random share of merchants, plus a random share of the other rows.

    With `row_keys` (e.g. transaction ids) the draw is by hash instead: a merchant is held out
    when the hash of (seed, merchant) falls under the fraction, a row when the hash of
    (seed, key) does. The split is then stable as data grows: a row held out once stays held
    out when it is retrained with more rows, so the promotion gate never measures a champion
    on rows it was trained on.

    At least one merchant is held out and at least one merchant stays in train. With `stratify`
    (labels aligned with `merchant_ids`) the seen test rows are drawn per label, and each label
    keeps at least one of its seen rows in train; the held-out merchants are drawn without regard
    to labels. A seen-test row whose merchant ends up with no train row is flagged unseen.

    Raises:
        ValueError: fractions outside their range, misaligned `stratify`, or fewer than two
            merchants (no grouped split possible).
    """
    if not 0 < unseen_merchant_fraction < 1:
        raise ValueError(
            f"unseen_merchant_fraction must be in (0, 1), got {unseen_merchant_fraction}"
        )
    if not 0 <= seen_test_fraction < 1:
        raise ValueError(f"seen_test_fraction must be in [0, 1), got {seen_test_fraction}")
    merchants = _as_str_array(merchant_ids, "merchant_ids")
    # np.unique sorts, so the draw depends on the seed and the set of merchants, not row order.
    uniques, codes = np.unique(merchants, return_inverse=True)
    if len(uniques) < 2:
        raise ValueError(
            f"a grouped hold-out needs at least 2 distinct merchants, got {len(uniques)}"
        )
    if row_keys is not None:
        keys = _as_str_array(row_keys, "row_keys")
        if len(keys) != len(merchants):
            raise ValueError(f"row_keys has {len(keys)} keys for {len(merchants)} merchant ids")
        labels = None if stratify is None else _as_str_array(stratify, "stratify")
        return _stable_split(
            uniques, codes, keys, labels, unseen_merchant_fraction, seen_test_fraction, seed
        )
    rng = np.random.default_rng(seed)

    n_held = min(max(_round_half_up(unseen_merchant_fraction * len(uniques)), 1), len(uniques) - 1)
    held = np.zeros(len(uniques), dtype=bool)
    held[rng.permutation(len(uniques))[:n_held]] = True
    in_test = held[codes]

    remaining = np.flatnonzero(~in_test)
    if stratify is None:
        n_seen_test = min(_round_half_up(seen_test_fraction * len(remaining)), len(remaining) - 1)
        in_test[rng.permutation(remaining)[:n_seen_test]] = True
    else:
        labels = _as_str_array(stratify, "stratify")
        if len(labels) != len(merchants):
            raise ValueError(f"stratify has {len(labels)} labels for {len(merchants)} merchant ids")
        remaining_labels = labels[remaining]
        for label in np.unique(remaining_labels):
            rows = remaining[remaining_labels == label]
            n_label = min(_round_half_up(seen_test_fraction * len(rows)), len(rows) - 1)
            in_test[rng.permutation(rows)[:n_label]] = True

    train_index = np.flatnonzero(~in_test).astype(np.int64)
    test_index = np.flatnonzero(in_test).astype(np.int64)
    train_merchants = np.zeros(len(uniques), dtype=bool)
    train_merchants[codes[train_index]] = True
    unseen = ~train_merchants[codes[test_index]]
    return Split(train_index=train_index, test_index=test_index, unseen=unseen)


def _unit_hash(seed: int, values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per value, fixed by (seed, value)."""
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        digest = hashlib.blake2b(f"{seed}\x1f{value}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def _stable_split(
    uniques: npt.NDArray[Any],
    codes: npt.NDArray[Any],
    keys: npt.NDArray[Any],
    labels: npt.NDArray[Any] | None,
    unseen_fraction: float,
    seen_fraction: float,
    seed: int,
) -> Split:
    """`split_holdout` by hashing (see there); the guarantees hold as in the random draw."""
    merchant_u = _unit_hash(seed, uniques)
    held = merchant_u < unseen_fraction
    if not held.any():
        held[np.argmin(merchant_u)] = True
    if held.all():
        held[np.argmax(merchant_u)] = False
    in_test = held[codes].copy()
    row_u = _unit_hash(seed + 1, keys)
    remaining = np.flatnonzero(~in_test)
    seen_test = remaining[row_u[remaining] < seen_fraction]
    in_test[seen_test] = True
    groups = (
        [remaining]
        if labels is None
        else [remaining[labels[remaining] == label] for label in np.unique(labels[remaining])]
    )
    for rows in groups:  # every group keeps a training row
        if len(rows) and in_test[rows].all():
            in_test[rows[np.argmax(row_u[rows])]] = False
    train_index = np.flatnonzero(~in_test).astype(np.int64)
    test_index = np.flatnonzero(in_test).astype(np.int64)
    train_merchants = np.zeros(len(uniques), dtype=bool)
    train_merchants[codes[train_index]] = True
    return Split(train_index, test_index, ~train_merchants[codes[test_index]])


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalReport:
    """Metrics of one model on one test set.

    The unseen/seen fields are None when that subset is empty (or no unseen mask was given);
    `as_metrics` then omits their keys instead of reporting NaN.
    """

    n_rows: int
    n_unseen: int
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    per_class_support: dict[str, int]
    ece: float
    coverage_at_95_precision: float
    threshold_at_95_precision: float
    unseen_merchant_accuracy: float | None
    unseen_merchant_macro_f1: float | None
    seen_accuracy: float | None
    seen_macro_f1: float | None

    def as_metrics(self) -> dict[str, float]:
        """Flat scalar metrics for MLflow; keys of empty subsets are left out."""
        values: dict[str, float | None] = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "ece": self.ece,
            "coverage_at_95_precision": self.coverage_at_95_precision,
            "threshold_at_95_precision": self.threshold_at_95_precision,
            "unseen_merchant_accuracy": self.unseen_merchant_accuracy,
            "unseen_merchant_macro_f1": self.unseen_merchant_macro_f1,
            "seen_accuracy": self.seen_accuracy,
            "seen_macro_f1": self.seen_macro_f1,
            "n_rows": float(self.n_rows),
            "n_unseen": float(self.n_unseen),
        }
        return {key: float(value) for key, value in values.items() if value is not None}

    def per_class_table(self) -> list[dict[str, Any]]:
        """One row per true label: label, f1, support; lowest F1 first, then by label."""
        return [
            {"label": label, "f1": f1, "support": self.per_class_support[label]}
            for label, f1 in sorted(self.per_class_f1.items(), key=lambda item: (item[1], item[0]))
        ]

    def to_json(self) -> str:
        """The whole report as JSON (None for empty subsets)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EvalReport:
        """Inverse of `to_json`."""
        return cls(**json.loads(text))


def _macro_f1(y_true: StrArray, y_pred: StrArray) -> float:
    labels = sorted(set(y_true.tolist()))
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _calibration_bins(
    confidence: FloatArray, correct: BoolArray, n_bins: int = ECE_BINS
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per equal-width bin of top-label confidence: row count, accuracy, mean confidence.

    Bins are [i/n, (i+1)/n), the last one closed at 1.0; empty bins have accuracy and confidence 0.
    """
    index = np.clip((confidence * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    hits = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    safe = np.maximum(counts, 1)
    return counts, hits / safe, conf_sum / safe


def _expected_calibration_error(confidence: FloatArray, correct: BoolArray) -> float:
    counts, accuracy, mean_conf = _calibration_bins(confidence, correct)
    return float(np.sum(counts * np.abs(accuracy - mean_conf)) / counts.sum())


def _coverage_at_precision(
    confidence: FloatArray, correct: BoolArray, target: float = TARGET_PRECISION
) -> tuple[float, float]:
    """(coverage, threshold) of the largest confidence-ranked prefix with precision >= target.

    A prefix may only end where the confidence drops: rows with equal confidence are accepted or
    rejected together, since a threshold cannot tell them apart. With no qualifying prefix the
    result is coverage 0 at threshold 1.0.
    """
    order = np.argsort(-confidence, kind="stable")
    conf_sorted = confidence[order]
    hits = np.cumsum(correct[order])
    accepted = np.arange(1, len(order) + 1)
    ends_group = np.append(conf_sorted[1:] < conf_sorted[:-1], True)
    ok = ends_group & (hits >= target * accepted - _PRECISION_EPS)
    if not ok.any():
        return 0.0, 1.0
    last = int(np.flatnonzero(ok)[-1])
    return (last + 1) / len(order), float(conf_sorted[last])


def _top_predictions(
    proba: npt.ArrayLike, classes: Sequence[str] | npt.NDArray[Any], n_rows: int
) -> tuple[StrArray, FloatArray]:
    matrix = np.asarray(proba, dtype=np.float64)
    names = _as_str_array(classes, "classes")
    if matrix.ndim != 2 or matrix.shape != (n_rows, len(names)):
        raise ValueError(
            f"proba must have shape (n_rows, n_classes) = ({n_rows}, {len(names)}), "
            f"got {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError("proba contains NaN or infinite values")
    return names[matrix.argmax(axis=1)], matrix.max(axis=1)


def evaluate_predictions(
    y_true: Sequence[str] | npt.NDArray[Any],
    proba: npt.ArrayLike,
    classes: Sequence[str] | npt.NDArray[Any],
    unseen: Sequence[bool] | npt.NDArray[Any] | None = None,
) -> EvalReport:
    """Score predicted probabilities against true labels.

    The prediction is the top-probability class. True labels the model does not know (not in
    `classes`) count as errors. Macro F1 averages over the labels present in `y_true`.

    Args:
        y_true: true label per row.
        proba: (n_rows, n_classes) probabilities, columns in the order of `classes`.
        classes: the model's class labels (e.g. `estimator.classes_`).
        unseen: per row, whether its merchant was absent from training; None skips the
            unseen/seen breakdown.
    """
    truth = _as_str_array(y_true, "y_true")
    if len(truth) == 0:
        raise ValueError("cannot evaluate zero rows")
    y_pred, confidence = _top_predictions(proba, classes, len(truth))
    correct = y_pred == truth

    labels = sorted(set(truth.tolist()))
    f1_per_label = f1_score(truth, y_pred, labels=labels, average=None, zero_division=0)
    supports = dict(zip(*np.unique(truth, return_counts=True), strict=True))
    coverage, threshold = _coverage_at_precision(confidence, correct)

    subsets: dict[str, tuple[float, float] | None] = {"unseen": None, "seen": None}
    n_unseen = 0
    if unseen is not None:
        mask = np.asarray(unseen, dtype=bool)
        if mask.shape != truth.shape:
            raise ValueError(f"unseen has shape {mask.shape}, expected {truth.shape}")
        n_unseen = int(mask.sum())
        for name, rows in (("unseen", mask), ("seen", ~mask)):
            if rows.any():
                subsets[name] = (float(correct[rows].mean()), _macro_f1(truth[rows], y_pred[rows]))

    unseen_scores, seen_scores = subsets["unseen"], subsets["seen"]
    return EvalReport(
        n_rows=len(truth),
        n_unseen=n_unseen,
        accuracy=float(correct.mean()),
        macro_f1=float(np.mean(f1_per_label)),
        per_class_f1={label: float(f1) for label, f1 in zip(labels, f1_per_label, strict=True)},
        per_class_support={str(label): int(count) for label, count in supports.items()},
        ece=_expected_calibration_error(confidence, correct),
        coverage_at_95_precision=coverage,
        threshold_at_95_precision=threshold,
        unseen_merchant_accuracy=None if unseen_scores is None else unseen_scores[0],
        unseen_merchant_macro_f1=None if unseen_scores is None else unseen_scores[1],
        seen_accuracy=None if seen_scores is None else seen_scores[0],
        seen_macro_f1=None if seen_scores is None else seen_scores[1],
    )


def format_report(report: EvalReport, worst_classes: int = 10) -> str:
    """A plain-text metrics table, then the `worst_classes` labels with the lowest F1."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    rows = [
        ("rows", str(report.n_rows)),
        ("unseen-merchant rows", str(report.n_unseen)),
        ("accuracy", fmt(report.accuracy)),
        ("macro F1", fmt(report.macro_f1)),
        ("ECE", fmt(report.ece)),
        (f"coverage at {TARGET_PRECISION:.0%} precision", fmt(report.coverage_at_95_precision)),
        (f"threshold at {TARGET_PRECISION:.0%} precision", fmt(report.threshold_at_95_precision)),
        ("unseen-merchant accuracy", fmt(report.unseen_merchant_accuracy)),
        ("unseen-merchant macro F1", fmt(report.unseen_merchant_macro_f1)),
        ("seen accuracy", fmt(report.seen_accuracy)),
        ("seen macro F1", fmt(report.seen_macro_f1)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    table = report.per_class_table()[:worst_classes]
    if table:
        label_width = max(len("label"), *(len(row["label"]) for row in table))
        lines += [
            "",
            f"lowest F1 ({len(table)} of {len(report.per_class_f1)} labels)",
            f"{'label':<{label_width}}  {'F1':>6}  support",
        ]
        lines += [
            f"{row['label']:<{label_width}}  {row['f1']:>6.4f}  {row['support']:>7}"
            for row in table
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def folded_confusion(
    y_true: Sequence[str] | npt.NDArray[Any],
    y_pred: Sequence[str] | npt.NDArray[Any],
    labels: Sequence[str] | npt.NDArray[Any],
    max_labels: int = 30,
) -> tuple[list[str], FloatArray]:
    """Row-normalized confusion matrix (rows true, columns predicted) over at most `max_labels`.

    With more labels than that, the `max_labels - 1` most frequent true labels are kept (in
    `labels` order) and the rest fold into `OTHER_LABEL`; values not in `labels` fold there too.
    Rows without any true row stay zero.
    """
    if max_labels < 2:
        raise ValueError(f"max_labels must be at least 2, got {max_labels}")
    truth = _as_str_array(y_true, "y_true")
    pred = _as_str_array(y_pred, "y_pred")
    if truth.shape != pred.shape:
        raise ValueError(f"y_true has {len(truth)} rows but y_pred has {len(pred)}")
    names = [str(label) for label in dict.fromkeys(_as_str_array(labels, "labels").tolist())]
    known = set(names)
    outside = not known.issuperset(truth.tolist()) or not known.issuperset(pred.tolist())
    if len(names) > max_labels or outside:
        kept_count = min(len(names), max_labels - 1)
        frequency = dict(zip(*np.unique(truth, return_counts=True), strict=True))
        # sorted() is stable, so equally frequent labels keep their `labels` order.
        by_frequency = sorted(names, key=lambda label: -int(frequency.get(label, 0)))
        kept = set(by_frequency[:kept_count])
        names = [label for label in names if label in kept] + [OTHER_LABEL]
    position = {label: i for i, label in enumerate(names)}
    other = len(names) - 1
    t = np.fromiter((position.get(v, other) for v in truth.tolist()), np.int64, len(truth))
    p = np.fromiter((position.get(v, other) for v in pred.tolist()), np.int64, len(pred))
    k = len(names)
    counts = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
    row_sums = counts.sum(axis=1, keepdims=True)
    return names, counts / np.maximum(row_sums, 1.0)


def _new_figure(width: float, height: float) -> Figure:
    # Figure + Agg canvas instead of pyplot: no global backend switch, no figure registry leak.
    # Lazy: matplotlib costs import time that only the PNG writers need.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target


def reliability_png(
    path: str | Path,
    y_true: Sequence[str] | npt.NDArray[Any],
    proba: npt.ArrayLike,
    classes: Sequence[str] | npt.NDArray[Any],
) -> Path:
    """Write a reliability diagram (accuracy per confidence bin) over a confidence histogram."""
    truth = _as_str_array(y_true, "y_true")
    y_pred, confidence = _top_predictions(proba, classes, len(truth))
    correct = y_pred == truth
    counts, accuracy, mean_conf = _calibration_bins(confidence, correct)
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    width = 1.0 / ECE_BINS
    filled = counts > 0
    ece = _expected_calibration_error(confidence, correct) if len(truth) else 0.0

    figure = _new_figure(6.0, 7.0)
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    top = figure.add_subplot(grid[0])
    bottom = figure.add_subplot(grid[1], sharex=top)
    top.bar(
        edges[:-1][filled], accuracy[filled], width=width, align="edge",
        color="tab:blue", edgecolor="black", label="accuracy",
    )  # fmt: skip
    top.bar(
        edges[:-1][filled], (mean_conf - accuracy)[filled], bottom=accuracy[filled], width=width,
        align="edge", color="tab:red", alpha=0.3, edgecolor="tab:red", label="gap to confidence",
    )  # fmt: skip
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    top.set_title(f"Reliability ({ECE_BINS} bins), ECE = {ece:.4f}, n = {len(truth)}")
    top.legend(loc="upper left")
    top.tick_params(labelbottom=False)
    bottom.bar(edges[:-1], counts, width=width, align="edge", color="grey", edgecolor="black")
    bottom.set(xlabel="top-label confidence", ylabel="rows")
    return _save(figure, path)


def confusion_png(
    path: str | Path,
    y_true: Sequence[str] | npt.NDArray[Any],
    y_pred: Sequence[str] | npt.NDArray[Any],
    labels: Sequence[str] | npt.NDArray[Any],
    max_labels: int = 30,
) -> Path:
    """Write the row-normalized confusion matrix of `folded_confusion` as a heat map."""
    names, matrix = folded_confusion(y_true, y_pred, labels, max_labels)
    k = len(names)
    side = min(max(4.0, 0.3 * k + 2.5), 14.0)
    figure = _new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, vmin=0.0, vmax=1.0, cmap="Blues", interpolation="nearest")
    font = 8 if k <= 30 else 6
    axes.set_xticks(range(k), names, rotation=90, fontsize=font)
    axes.set_yticks(range(k), names, fontsize=font)
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix (rows sum to 1)")
    # Cell values stay legible only on small matrices; beyond that the colour carries them.
    if k <= 15:
        for row, col in zip(*np.nonzero(matrix), strict=True):
            value = matrix[row, col]
            colour = "white" if value > 0.5 else "black"
            axes.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    return _save(figure, path)
