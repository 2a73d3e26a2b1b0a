"""The "lightgbm" candidate: gradient-boosted trees that rerank a shortlist of classes per row.

A plain multiclass LightGBM grows one tree per class per round: with the 104 classes of the
default taxonomy and 70,000 rows that is minutes of training. This candidate asks the trees a
class-agnostic question instead, "is class c the label of row i?", over a shortlist of likely
classes per row (about 8), so one tree per round serves every class and taxonomy. Each
(row, class) pair is described by:

* the out-of-fold probability of c from a linear text model (stacking) and its rank;
* the platform prior mapped onto the tenant's classes: a crosswalk learned from the training
  rows, P(c | default detailed label), P(c | default primary), P(c | starter-rule primary),
  weighted by the row's prior probabilities (leave-one-out on training rows);
* the Feast features relative to c (is c the merchant's confirmed top category, the account's
  last category) and of the row (counts, shares);
* amount, direction and date of the row, and how they compare with c's training rows.

The trees' scores are turned into probabilities by a softmax over the shortlist, with a
temperature fitted on held-out rows (which also early-stop the boosting), then averaged with
the stacked linear model's probabilities and scaled by a second held-out temperature: on a few
hundred rows the trees alone swing by several points of accuracy from seed to seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from training.candidates import (
    CATEGORY_FEATURES,
    NUMERIC_FEATURES,
    ConstantClassifier,
    Labels,
    category_features,
    columns_of,
    compact_weights,
    epochs_for,
    fit_temperature,
    fold_ids,
    holdout_split,
    model_columns,
    model_input,
    prior_block,
    prior_columns,
    quiet_convergence,
    saga_logistic,
    single_threaded_blas,
    temper,
    text_features,
    use_char,
)
from training.prior import PriorFeatures, PriorModel, name_crosswalk
from training.scoring import PriorReuse, feature_blocks, linear_proba, raw_scores

if TYPE_CHECKING:
    import pandas as pd
    from scipy.sparse import csr_matrix

    from training.columns import Columns

PAIR_FEATURES = (
    "text_proba",
    "text_rank",
    "text_top",
    "crosswalk_detailed",
    "crosswalk_primary",
    "crosswalk_rule",
    "crosswalk_rank",
    "class_log_share",
    "is_confirmed_top",
    "m_confirmed_top_share",
    "log_m_confirmed_count",
    "has_confirmed_top",
    "is_am_last_category",
    "log_am_last_category_count",
    "log_m_txn_count",
    "m_recurring_share",
    "m_weekend_share",
    "credit",
    "class_credit_share",
    "log_amount",
    "amount_gap",
    "day_of_week",
    "day_of_month",
    "has_mcc",
    "rule_hit",
)
_MIX = 1e-3  # probability mass left to classes off the shortlist (by the text model)


class BoostedCandidate(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """LightGBM reranking a per-row shortlist of classes (see the module docstring).

    Args:
        prior: the platform prior (None: fitted from generated data, slow; pass one).
        seed: seeds folds, holdout, the text model and LightGBM.
        folds: folds of the out-of-fold text probabilities.
        text_c: inverse regularization of the stacked text model.
        text_epochs: its least saga passes (small data sets get more, see `epochs_for`).
        char: character n-grams in the text model (None: when there are at most 20,000 rows).
        shortlist: classes per row taken by text probability (half as many again by the
            crosswalk, plus the confirmed categories); every class when there are few.
        rounds: most boosting rounds (early stopping on the holdout picks fewer).
        learning_rate: LightGBM's.
        num_leaves: LightGBM's.
        holdout: share of rows held out for early stopping and the temperature.
        smoothing: pseudo-rows per default label that the class names vouch for in the
            crosswalk (`training.prior.name_crosswalk`).
        blend: weight of the stacked linear model's probabilities averaged into the
            reranker's (the trees alone vary more from seed to seed on small data).
        n_jobs: LightGBM threads. One by default: OpenMP threads spin at every barrier, and on
            a busy 2-core machine two of them made boosting 40x slower than one.
    """

    reads_columns = True  # predict_proba takes `Columns` as well as frames (serving's input)

    def __init__(
        self,
        prior: PriorModel | None = None,
        *,
        seed: int = 0,
        folds: int = 3,
        text_c: float = 10.0,
        text_epochs: int = 4,
        char: bool | None = None,
        shortlist: int = 6,
        rounds: int = 200,
        learning_rate: float = 0.15,
        num_leaves: int = 15,
        holdout: float = 0.15,
        smoothing: float = 1.0,
        blend: float = 0.5,
        n_jobs: int = 1,
    ) -> None:
        self.prior = prior
        self.seed = seed
        self.folds = folds
        self.text_c = text_c
        self.text_epochs = text_epochs
        self.char = char
        self.shortlist = shortlist
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.holdout = holdout
        self.smoothing = smoothing
        self.blend = blend
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: Labels) -> BoostedCandidate:  # noqa: N803
        """Stack text and prior features, then fit the early-stopped, calibrated reranker."""
        with single_threaded_blas():
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y: Labels) -> BoostedCandidate:  # noqa: N803
        from sklearn.compose import ColumnTransformer  # noqa: PLC0415

        frame = model_input(X)
        labels = np.asarray(y, dtype=object).astype(str)
        self.classes_ = np.unique(labels)
        self.temperature_ = 1.0
        self.blend_temperature_ = 1.0
        self.prior_ = PriorFeatures(self.prior, seed=self.seed).fit(frame)
        self.text_ = ColumnTransformer(
            [
                *text_features(char=use_char(self.char, len(frame))),
                ("prior", prior_block(self.prior, self.seed), prior_columns()),
                ("numeric", "passthrough", list(NUMERIC_FEATURES)),
                category_features(),
            ],
            sparse_threshold=1.0,
        )
        matrix = self.text_.fit_transform(frame).tocsr()
        if len(self.classes_) < 2:
            self.text_model_: Any = ConstantClassifier().fit(matrix, labels)
            self.booster_: Any = None
            return self
        truth = np.searchsorted(self.classes_, labels)
        text_proba = self._out_of_fold(matrix, labels)
        with quiet_convergence():
            epochs = epochs_for(len(labels), self.text_epochs)
            self.text_model_ = saga_logistic(self.text_c, epochs, self.seed)
            self.text_model_.fit(matrix, labels)
        compact_weights(self.text_model_)
        prior = self.prior_.transform(frame)
        self._fit_class_stats(frame, prior, truth)
        rows, classes, features = self._pairs(frame, prior, text_proba, truth)
        target = (classes == truth[rows]).astype(np.int64)
        _, hold = holdout_split(labels, self.holdout, self.seed)
        in_hold = np.zeros(len(labels), dtype=bool)
        in_hold[hold] = True
        fit_pairs = ~in_hold[rows]
        self.booster_ = self._booster()
        fit_args: dict[str, Any] = {}
        if len(hold):
            import lightgbm  # noqa: PLC0415

            fit_args["eval_X"] = (features[~fit_pairs],)
            fit_args["eval_y"] = (target[~fit_pairs],)
            fit_args["callbacks"] = [lightgbm.early_stopping(20, verbose=False)]
        self.booster_.fit(features[fit_pairs], target[fit_pairs], **fit_args)
        if len(hold):
            pairs = ~fit_pairs
            scores = self._scores(features[pairs])
            self.temperature_ = _fit_shortlist_temperature(
                rows[pairs], classes[pairs], scores, text_proba, truth
            )
            reranked = _shortlist_softmax(
                rows[pairs], classes[pairs], scores, len(labels), self.temperature_
            )
            blended = self._blend(_mix(reranked, text_proba), text_proba)
            self.blend_temperature_ = fit_temperature(blended[hold], truth[hold])
        return self

    def predict_proba(self, X: pd.DataFrame | Columns) -> np.ndarray:  # noqa: N803 - sklearn API
        """Calibrated probabilities, columns in `classes_` order."""
        frame = model_columns(X)
        if self.booster_ is None:
            return np.ones((len(frame), len(self.classes_)))
        # The prior is both a block of the text model's matrix and an input of the pairs.
        prior = self.prior_.transform(frame)
        matrix = feature_blocks(self.text_, frame, prior=PriorReuse(self.prior_, prior))
        text_proba = columns_of(
            linear_proba(self.text_model_, matrix), self.text_model_.classes_, self.classes_
        )
        rows, classes, features = self._pairs(frame, prior, text_proba)
        scores = self._scores(features)
        proba = _shortlist_softmax(rows, classes, scores, len(frame), self.temperature_)
        blended = self._blend(_mix(proba, text_proba), text_proba)
        return temper(blended, self.blend_temperature_)

    def predict(self, X: pd.DataFrame | Columns) -> np.ndarray:  # noqa: N803 - sklearn API
        """The most probable label of each row."""
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])

    # - stacking and class statistics -

    def _out_of_fold(self, matrix: csr_matrix, labels: np.ndarray) -> np.ndarray:
        """Text-model probabilities of each row from a model that did not see it."""
        out = np.zeros((len(labels), len(self.classes_)))
        fold = fold_ids(labels, self.folds, self.seed)
        for k in range(self.folds):
            fit_rows, predict_rows = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            if len(predict_rows) == 0:
                continue
            if len(np.unique(labels[fit_rows])) < 2:  # nothing to tell apart: class shares
                out[predict_rows] = np.bincount(
                    np.searchsorted(self.classes_, labels[fit_rows]), minlength=len(self.classes_)
                ) / max(1, len(fit_rows))
                continue
            epochs = epochs_for(len(fit_rows), self.text_epochs)
            model = saga_logistic(self.text_c, epochs, self.seed)
            with quiet_convergence():
                model.fit(matrix[fit_rows], labels[fit_rows])
            proba = model.predict_proba(matrix[predict_rows])
            out[predict_rows] = columns_of(proba, model.classes_, self.classes_)
        return out

    def _prior_blocks(self, prior: np.ndarray) -> list[np.ndarray]:
        """The prior's primary, detailed and rule-primary columns."""
        fitted: PriorModel = self.prior_.prior_
        n_primary, n_detailed = len(fitted.primaries), len(fitted.detailed)
        blocks = [prior[:, n_primary : n_primary + n_detailed], prior[:, :n_primary]]
        rule = prior[:, n_primary + n_detailed :]
        blocks.append(rule if rule.shape[1] else np.zeros((len(prior), n_primary)))
        return blocks

    def _fit_class_stats(self, frame: pd.DataFrame, prior: np.ndarray, truth: np.ndarray) -> None:
        """Class shares, credit shares, typical amounts and the prior-to-class crosswalks."""
        from scipy.sparse import csr_matrix  # noqa: PLC0415

        n_classes = len(self.classes_)
        counts = np.bincount(truth, minlength=n_classes).astype(np.float64)
        share = counts / counts.sum()
        self.class_log_share_ = np.log(share)
        credit = frame["credit"].to_numpy(dtype=np.float64)
        self.class_credit_share_ = np.bincount(truth, credit, n_classes) / counts
        amounts = np.log1p(frame["amount"].to_numpy(dtype=np.float64))
        self.class_log_amount_ = np.array(
            [np.median(amounts[truth == c]) for c in range(n_classes)]
        )
        onehot = csr_matrix(
            (np.ones(len(truth)), truth, np.arange(len(truth) + 1)), shape=(len(truth), n_classes)
        )
        by_name, by_name_primary = name_crosswalk(self.classes_.tolist(), share)
        self.crosswalks_ = []
        blocks = self._prior_blocks(prior)
        for block, named in zip(blocks, (by_name, by_name_primary, by_name_primary), strict=True):
            # Co-occurrence of each default label with each class, smoothed towards what the
            # class names suggest: the crosswalk P(class | default label) = mass / totals.
            mass = np.asarray((onehot.T @ block).T) + self.smoothing * named
            totals = block.sum(axis=0) + self.smoothing
            self.crosswalks_.append((mass, totals))

    def _crosswalk(self, prior: np.ndarray, truth: np.ndarray | None) -> list[np.ndarray]:
        """Each row's class affinities through each crosswalk, leaving the row itself out."""
        out = []
        for block, (mass, totals) in zip(self._prior_blocks(prior), self.crosswalks_, strict=True):
            if truth is None:
                out.append((block / totals) @ mass)
                continue
            # Leave-one-out: the row's own mass leaves the counts of its default labels and
            # of its class, so a class seen once does not vouch for itself.
            denominator = np.maximum(totals - block, 1e-9)  # > 0 anyway when smoothing > 0
            weights = block / denominator
            affinity = weights @ mass
            rows = np.arange(len(truth))
            affinity[rows, truth] -= (block * weights).sum(axis=1)
            out.append(np.clip(affinity, 0.0, None))
        return out

    # - the (row, class) pairs -

    def _pairs(
        self,
        frame: pd.DataFrame | Columns,
        prior: np.ndarray,
        text_proba: np.ndarray,
        truth: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, class, features) of every shortlisted pair, grouped by row."""
        n_rows, n_classes = text_proba.shape
        detailed, primary, rule = self._crosswalk(prior, truth)
        confirmed = self._codes(frame[CATEGORY_FEATURES[0]])
        last = self._codes(frame[CATEGORY_FEATURES[1]])
        text_rank = _ranks(text_proba)
        walk_rank = _ranks(detailed)
        wide = self.shortlist + self.shortlist // 2 + 2
        if n_classes <= wide:
            chosen = np.ones((n_rows, n_classes), dtype=bool)
        else:
            chosen = (text_rank < self.shortlist) | (walk_rank < self.shortlist // 2)
            for codes in (confirmed, last):
                known = np.flatnonzero(codes >= 0)
                chosen[known, codes[known]] = True
        rows, classes = np.nonzero(chosen)

        def row(column: str) -> np.ndarray:
            return np.asarray(frame[column], dtype=np.float64)[rows]

        amounts = np.log1p(np.asarray(frame["amount"], dtype=np.float64))[rows]
        has_rule = (rule.sum(axis=1) > 0).astype(np.float64)
        columns = {
            "text_proba": text_proba[rows, classes],
            "text_rank": text_rank[rows, classes],
            "text_top": text_proba.max(axis=1)[rows],
            "crosswalk_detailed": detailed[rows, classes],
            "crosswalk_primary": primary[rows, classes],
            "crosswalk_rule": rule[rows, classes],
            "crosswalk_rank": walk_rank[rows, classes],
            "class_log_share": self.class_log_share_[classes],
            "is_confirmed_top": (confirmed[rows] == classes).astype(np.float64),
            "m_confirmed_top_share": row("m_confirmed_top_share"),
            "log_m_confirmed_count": row("log_m_confirmed_count"),
            "has_confirmed_top": (confirmed[rows] >= 0).astype(np.float64),
            "is_am_last_category": (last[rows] == classes).astype(np.float64),
            "log_am_last_category_count": row("log_am_last_category_count"),
            "log_m_txn_count": row("log_m_txn_count"),
            "m_recurring_share": row("m_recurring_share"),
            "m_weekend_share": row("m_weekend_share"),
            "credit": row("credit"),
            "class_credit_share": self.class_credit_share_[classes],
            "log_amount": amounts,
            "amount_gap": np.abs(amounts - self.class_log_amount_[classes]),
            "day_of_week": row("day_of_week"),
            "day_of_month": row("day_of_month"),
            "has_mcc": row("has_mcc"),
            "rule_hit": has_rule[rows],
        }
        features = np.column_stack([columns[name] for name in PAIR_FEATURES])
        return rows, classes, np.asarray(features, dtype=np.float32)

    def _codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Index of each value among `classes_` (-1: none, or not one of the classes)."""
        strings = np.asarray(values, dtype=object).astype(str)
        index = np.clip(np.searchsorted(self.classes_, strings), 0, len(self.classes_) - 1)
        return np.where(self.classes_[index] == strings, index, -1)

    # - the booster -

    def _booster(self) -> Any:
        from lightgbm import LGBMClassifier  # noqa: PLC0415

        return LGBMClassifier(
            n_estimators=self.rounds,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=20,
            reg_lambda=1.0,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=self.n_jobs,
            verbose=-1,
        )

    def _blend(self, reranked: np.ndarray, text_proba: np.ndarray) -> np.ndarray:
        """Average the reranker with the stacked linear model: steadier on few rows."""
        return np.asarray((1.0 - self.blend) * reranked + self.blend * text_proba)

    def _scores(self, features: np.ndarray) -> np.ndarray:
        """The booster's log-odds that a pair's class is the row's label."""
        return raw_scores(self.booster_, features)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each class within its row, 0 for the highest score (ties by class order)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(scores.shape[1])[None, :]
    return ranks


def _shortlist_softmax(
    rows: np.ndarray, classes: np.ndarray, scores: np.ndarray, n_rows: int, temperature: float
) -> np.ndarray:
    """Softmax of each row's pair scores over its shortlist; zero off the shortlist.

    The result has `n_rows` rows and as many columns as the largest class index + 1 would
    need; callers pass every class through `_mix`, which fixes the width.
    """
    scaled = scores / temperature
    top = np.full(n_rows, -np.inf)
    np.maximum.at(top, rows, scaled)
    weights = np.exp(scaled - top[rows])
    totals = np.bincount(rows, weights, minlength=n_rows)
    out = np.zeros((n_rows, int(classes.max()) + 1 if len(classes) else 0))
    out[rows, classes] = weights / totals[rows]
    return out


def _mix(shortlist: np.ndarray, text_proba: np.ndarray) -> np.ndarray:
    """Keep a little mass for classes off the shortlist, by the text model's probabilities."""
    full = np.zeros_like(text_proba)
    full[:, : shortlist.shape[1]] = shortlist
    covered = full.sum(axis=1, keepdims=True)
    # Rows without scored pairs (in `fit`, the rows not held out) read as the text model.
    full = np.where(covered > 0, full, text_proba)
    return np.asarray((1.0 - _MIX) * full + _MIX * text_proba)


def _fit_shortlist_temperature(
    rows: np.ndarray,
    classes: np.ndarray,
    scores: np.ndarray,
    text_proba: np.ndarray,
    truth: np.ndarray,
) -> float:
    """The temperature in [0.05, 20] minimizing the log loss of the held-out rows' pairs."""
    import math  # noqa: PLC0415

    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    held = np.unique(rows)

    def loss(log_t: float) -> float:
        proba = _shortlist_softmax(rows, classes, scores, len(text_proba), math.exp(log_t))
        mixed = _mix(proba, text_proba)[held]
        return float(-np.log(np.clip(mixed[np.arange(len(held)), truth[held]], 1e-12, 1)).mean())

    found = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(found.x))
