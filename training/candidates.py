"""The model families a tenant's categorizer is chosen from: "linear" and "lightgbm".

Both read the model input frame (canonical txn columns plus the Feast feature columns, see
`MODEL_INPUT_COLUMNS` and `MODEL_FEATURE_COLUMNS`; absent columns get their defaults), predict
the tenant's label strings and give calibrated probabilities:

* linear: TF-IDF of the text (words and word pairs, and char n-grams within words when there
  are few rows), the platform prior's probabilities and rule hit (`training.prior`), amount,
  direction and the Feast features, into a multinomial logistic regression (saga) whose
  probabilities are temperature-scaled on a held-out part of the training rows.
* lightgbm (`training.boosted`): gradient-boosted trees that rerank a shortlist of classes per
  row from stacked out-of-fold linear probabilities, the prior mapped onto the tenant's classes,
  the Feast features and amount/date/direction; early-stopped and temperature-scaled on a
  held-out part, and averaged with the stacked linear model.

Every class is a picklable sklearn estimator defined in this package, so a fitted candidate
survives cloudpickle and loads natively in serving. Fitting is deterministic for a seed.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from features.transforms import FEATURE_COLUMNS
from training.columns import Columns
from training.prior import PriorFeatures, PriorModel, prior_text
from training.scoring import feature_blocks, linear_proba

if TYPE_CHECKING:
    import pandas as pd
    from scipy.sparse import csr_matrix

    from training.boosted import BoostedCandidate

CANDIDATES = ("linear", "lightgbm")
Labels = Sequence[str] | np.ndarray  # label strings, one per row

MODEL_INPUT_COLUMNS = (
    "description",
    "merchant_name",
    "amount",
    "currency",
    "direction",
    "mcc",
    "mcc_description",
    "event_timestamp",
)
# The feature service's columns (features/transforms.py), in its order.
MODEL_FEATURE_COLUMNS = tuple(FEATURE_COLUMNS)
# What a missing feature reads as: no snapshot yet for the merchant or account+merchant.
FEATURE_DEFAULTS: dict[str, Any] = {
    "m_txn_count": 0,
    "m_amount_median": math.nan,
    "m_amount_spread": math.nan,
    "m_weekend_share": 0.0,
    "m_recurring_share": 0.0,
    "m_credit_share": 0.0,
    "m_confirmed_count": 0,
    "m_confirmed_top": "",
    "m_confirmed_top_share": 0.0,
    "am_confirmed_count": 0,
    "am_last_category": "",
    "am_last_category_count": 0,
}
INPUT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "merchant_name": "",
    "amount": 0.0,
    "currency": "",
    "direction": "debit",
    "mcc": None,
    "mcc_description": None,
    "event_timestamp": None,
}
CATEGORY_FEATURES = ("m_confirmed_top", "am_last_category")
# Derived numeric columns of `model_input`, in order (see `_numeric_columns`).
NUMERIC_FEATURES = (
    "log_amount",
    "credit",
    "weekend",
    "has_mcc",
    "log_m_txn_count",
    "log_m_amount_median",
    "m_amount_spread_clipped",
    "amount_vs_median",
    "m_weekend_share",
    "m_recurring_share",
    "m_credit_share",
    "log_m_confirmed_count",
    "m_confirmed_top_share",
    "log_am_confirmed_count",
    "log_am_last_category_count",
)
CALENDAR_FEATURES = ("day_of_week", "day_of_month", "mcc_code", "mcc_group")
_TEXT = "text"
_WORD_FEATURES = 1 << 15  # vocabulary caps of the tenant's text blocks
_CHAR_FEATURES = 1 << 16
_MIN_HOLDOUT_ROWS = 30  # fewer held-out rows than this: no temperature, no early stopping
# saga row-passes a fit may spend beyond its least epochs: small data sets get more epochs
# (up to _MAX_EPOCHS) to converge, large ones keep the least (10 on 70,000 rows: seconds).
_PASS_BUDGET = 200_000
_MAX_EPOCHS = 200
# Character n-grams cost 5x the non-zeros of words; worth it only when rows are few (they
# generalize across spellings, which many rows teach anyway).
_CHAR_MAX_ROWS = 20_000


def model_input(X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - sklearn naming
    """A copy of `X` with every model column present and typed, missing values defaulted.

    Adds the derived columns the candidates read: `text` (see `training.prior.prior_text`),
    `NUMERIC_FEATURES` and `CALENDAR_FEATURES`. `model_columns` is the same without pandas.
    """
    import pandas as pd  # noqa: PLC0415

    source = pd.DataFrame(X)
    # Columns are coerced as arrays and the frame is built once at the end: assigning ~30
    # columns one by one dominated the cost of scoring one row. Existing columns keep their
    # place; added ones follow in the order below.
    return pd.DataFrame(_prepared({name: source[name].array for name in source.columns}))


def model_columns(X: pd.DataFrame | Columns) -> Columns:  # noqa: N803 - sklearn naming
    """`model_input` as `Columns`: what scoring reads (no frame is built per call).

    A DataFrame's `event_timestamp` becomes UTC datetime64 (as `model_input` reads it).
    """
    if isinstance(X, Columns):
        return Columns(_prepared({name: X[name] for name in X.columns}, len(X)), len(X))
    # Times converted once, as arrays: `to_numpy` of a tz-aware column makes Timestamp objects.
    columns = {
        str(name): utc_datetime64(X[name]) if name == "event_timestamp" else X[name].to_numpy()
        for name in X.columns
    }
    return Columns(_prepared(columns, len(X)), len(X))


def utc_datetime64(values: Any) -> np.ndarray:
    """Timestamps as naive UTC datetime64[ns] (naive input is read as UTC, bad values NaT)."""
    import pandas as pd  # noqa: PLC0415

    array = np.asarray(values) if not hasattr(values, "dtype") else values
    if isinstance(array, np.ndarray) and array.dtype.kind == "M":
        return array.astype("datetime64[ns]")
    parsed = pd.DatetimeIndex(pd.to_datetime(values, utc=True, errors="coerce"))
    return np.asarray(parsed.tz_convert(None).to_numpy(dtype="datetime64[ns]"))


def _prepared(columns: dict[str, Any], rows: int | None = None) -> dict[str, Any]:
    """The model columns from input `columns` (name -> values), as `model_input` adds them."""
    import pandas as pd  # noqa: PLC0415

    columns = dict(columns)
    if rows is None:
        rows = len(next(iter(columns.values()))) if columns else 0
    for column, default in {**INPUT_DEFAULTS, **FEATURE_DEFAULTS}.items():
        if column not in columns:
            columns[column] = np.full(rows, default, dtype=object if default is None else None)
    for column in ("description", "merchant_name", "currency", "direction", *CATEGORY_FEATURES):
        columns[column] = _strings(columns[column])
    for column in ("mcc", "mcc_description"):
        values = np.asarray(columns[column], dtype=object).copy()
        values[pd.isna(values)] = None
        columns[column] = values
    amount = _numeric(columns["amount"])
    if amount.dtype.kind == "f":
        amount = np.where(np.isnan(amount), 0.0, amount)
    columns["amount"] = np.abs(amount)
    for column, default in FEATURE_DEFAULTS.items():
        if column not in CATEGORY_FEATURES:
            value = _numeric(columns[column])
            if not isinstance(default, float) and value.dtype.kind == "f":
                value = np.where(np.isnan(value), default, value)
            columns[column] = value
    text_columns = ("description", "merchant_name", "mcc_description")
    columns[_TEXT] = prior_text(Columns({name: columns[name] for name in text_columns}, rows))
    columns.update(_numeric_columns(columns))
    return columns


def _numeric(values: Any) -> np.ndarray:
    """`pd.to_numeric(values, errors="coerce")` as an array; numeric arrays pass unchanged."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":  # what to_numeric returns for them as well
        return array
    import pandas as pd  # noqa: PLC0415

    return np.asarray(pd.to_numeric(array, errors="coerce"))


def _strings(values: Any) -> np.ndarray:
    """Values as str, missing ones as "" (as `fillna("").astype(str)` does)."""
    import pandas as pd  # noqa: PLC0415

    array = np.asarray(values, dtype=object)
    if all(type(value) is str for value in array):
        return array.copy()
    return np.asarray(pd.Series(array, dtype=object).fillna("").astype(str).to_numpy(dtype=object))


def _numeric_columns(frame: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Derived numeric columns: scaled to about [0, 1] so linear models need no scaler."""

    amount = np.asarray(frame["amount"], dtype=np.float64)
    median = np.asarray(frame["m_amount_median"], dtype=np.float64)
    weekday, day = _calendar(frame["event_timestamp"])
    mcc = np.asarray(_numeric(frame["mcc"]), dtype=np.float64)

    def log_count(column: str) -> np.ndarray:
        values = np.asarray(frame[column], dtype=np.float64)
        return np.asarray(np.log1p(np.clip(values, 0, None)) / 5.0)

    log_median = np.log1p(np.clip(np.nan_to_num(median, nan=0.0), 0, None))
    return {
        "log_amount": np.log1p(amount) / 10.0,
        "credit": (np.asarray(frame["direction"], dtype=object) == "credit").astype(np.float64),
        "weekend": np.nan_to_num(weekday >= 5).astype(np.float64),
        "has_mcc": (~np.isnan(mcc)).astype(np.float64),
        "log_m_txn_count": log_count("m_txn_count"),
        "log_m_amount_median": log_median / 10.0,
        "m_amount_spread_clipped": np.clip(
            np.nan_to_num(np.asarray(frame["m_amount_spread"], dtype=np.float64), nan=0.0), 0, 5
        )
        / 5.0,
        "amount_vs_median": np.where(
            np.isnan(median), 0.0, np.clip(np.log1p(amount) - log_median, -5, 5) / 5.0
        ),
        "m_weekend_share": _share(frame, "m_weekend_share"),
        "m_recurring_share": _share(frame, "m_recurring_share"),
        "m_credit_share": _share(frame, "m_credit_share"),
        "log_m_confirmed_count": log_count("m_confirmed_count"),
        "m_confirmed_top_share": _share(frame, "m_confirmed_top_share"),
        "log_am_confirmed_count": log_count("am_confirmed_count"),
        "log_am_last_category_count": log_count("am_last_category_count"),
        "day_of_week": weekday,
        "day_of_month": day,
        "mcc_code": mcc,
        "mcc_group": np.floor(mcc / 100.0),
    }


def _calendar(timestamps: Any) -> tuple[np.ndarray, np.ndarray]:
    """(day of week, Monday 0; day of month) of UTC timestamps as floats, NaN where missing."""
    days = utc_datetime64(timestamps).astype("datetime64[D]")
    missing = np.isnat(days)
    # 1970-01-01, day 0, was a Thursday (weekday 3).
    weekday = ((days.astype(np.int64) + 3) % 7).astype(np.float64)
    day = (days - days.astype("datetime64[M]")).astype(np.int64).astype(np.float64) + 1.0
    weekday[missing] = np.nan
    day[missing] = np.nan
    return weekday, day


def _share(frame: Mapping[str, Any], column: str) -> np.ndarray:
    values = np.asarray(frame[column], dtype=np.float64)
    return np.asarray(np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0))


class ModelInput(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Stateless first step: `model_input` (defaults, types, derived columns)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> ModelInput:  # noqa: N803 - sklearn API
        """Nothing to learn."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Stateless: always ready."""
        return True

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - sklearn API
        """See `model_input`."""
        return model_input(X)


class Sparsify(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Zero out values below `threshold` and return a sparse matrix (cheaper linear fits)."""

    def __init__(self, threshold: float = 0.01, scale: float = 1.0) -> None:
        self.threshold = threshold
        self.scale = scale

    def fit(self, X: Any, y: Any = None) -> Sparsify:  # noqa: N803 - sklearn API
        """Nothing to learn."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Stateless: always ready."""
        return True

    def transform(self, X: Any) -> csr_matrix:  # noqa: N803 - sklearn API
        """Values >= threshold, times `scale`, as CSR."""
        from training.sparse import csr_from_dense  # noqa: PLC0415

        dense = np.asarray(X, dtype=np.float64)
        return csr_from_dense(np.where(dense >= self.threshold, dense * self.scale, 0.0))


# --- calibration and splits ------------------------------------------------------------------


def temper(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their log-odds divided by `temperature`, renormalized."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return np.asarray(scaled / scaled.sum(axis=1, keepdims=True))


def fit_temperature(proba: np.ndarray, truth: np.ndarray) -> float:
    """The temperature in [0.05, 20] minimizing the log loss of `proba` on column `truth`."""
    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    rows = np.arange(len(truth))

    def loss(log_t: float) -> float:
        tempered = temper(proba, math.exp(log_t))
        return float(-np.log(np.clip(tempered[rows, truth], 1e-12, 1.0)).mean())

    found = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(found.x))


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): `fraction` of each class held out, stratified and seeded.

    A class keeps at least two rows in training (one row cannot teach it), so classes with
    fewer than three rows are never held out; a holdout under `_MIN_HOLDOUT_ROWS` rows is
    not worth calibrating on and comes back empty.
    """
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        take = min(round(len(rows) * fraction), len(rows) - 2)
        if take > 0:
            held.append(rng.permutation(rows)[:take])
    hold = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    if len(hold) < _MIN_HOLDOUT_ROWS:
        return np.arange(len(y)), np.zeros(0, dtype=np.int64)
    return np.setdiff1d(np.arange(len(y)), hold), hold


def fold_ids(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per row, stratified by class (a class with n < folds rows is in n folds)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        out[rows] = (np.arange(len(rows)) + rng.integers(folds)) % folds
    return out


def columns_of(proba: np.ndarray, have: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """`proba` over classes `have`, spread into the columns of `classes` (others zero)."""
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, have)] = proba
    return out


def single_threaded_blas() -> Any:
    """A context with BLAS and OpenMP limited to one thread.

    The matrices here are small enough that threads barely help, and threads that spin at
    barriers while other processes hold the second core made fits several times slower.
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    return threadpool_limits(limits=1)


@contextlib.contextmanager
def quiet_convergence() -> Iterator[None]:
    """Silence the convergence warnings of deliberately short (few-epoch) fits."""
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# --- feature blocks ----------------------------------------------------------------------------


def text_features(*, char: bool = True) -> list[tuple[str, Any, Any]]:
    """ColumnTransformer blocks of the text: char n-grams (optional) and words, TF-IDF."""
    from training.text import FastTfidf  # noqa: PLC0415

    # Capped so that a model trained on many rows stays a few MB (one weight per class each).
    words = FastTfidf("word", max_features=_WORD_FEATURES)
    blocks: list[tuple[str, Any, Any]] = [("words", words, _TEXT)]
    if char:
        chars = FastTfidf("char", ngram_range=(2, 5), max_features=_CHAR_FEATURES)
        blocks.insert(0, ("chars", chars, _TEXT))
    return blocks


def category_features() -> tuple[str, Any, Any]:
    """One-hot of the merchant's and account+merchant's confirmed categories ("" = none)."""
    from sklearn.preprocessing import OneHotEncoder  # noqa: PLC0415

    encoder = OneHotEncoder(handle_unknown="ignore", dtype=np.float32)
    return ("confirmed", encoder, list(CATEGORY_FEATURES))


def prior_columns() -> list[str]:
    """The input columns the prior reads."""
    return ["description", "merchant_name", "mcc", "mcc_description", "direction"]


def prior_block(prior: PriorModel | None, seed: int, weight: float = 1.0) -> Any:
    """Prior features for a linear model: probabilities under 0.01 dropped, sparse."""
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    return Pipeline(
        [("prior", PriorFeatures(prior, seed=seed)), ("sparse", Sparsify(0.01, weight))]
    )


def epochs_for(rows: int, least: int) -> int:
    """saga epochs for `rows` rows: at least `least`, more while within the pass budget."""
    return int(min(_MAX_EPOCHS, max(least, _PASS_BUDGET // max(rows, 1))))


def use_char(char: bool | None, rows: int) -> bool:
    """Whether to add character n-grams: as asked, or (None) when rows are few."""
    return rows <= _CHAR_MAX_ROWS if char is None else char


def saga_logistic(c: float, epochs: int, seed: int) -> Any:
    """A multinomial logistic regression fitted by saga for `epochs` passes (warm-startable)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    # saga costs one pass over the non-zeros per epoch, for all classes at once: a 104-class
    # problem on 70,000 rows fits in seconds, where one-vs-rest SGD or lbfgs take minutes.
    return LogisticRegression(
        C=c, solver="saga", max_iter=epochs, tol=1e-4, random_state=seed, warm_start=True
    )


def compact_weights(model: Any) -> None:
    """Store a fitted linear model's weights as float32: half the size, same predictions."""
    model.coef_ = np.asarray(model.coef_, dtype=np.float32)


class ConstantClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """What a candidate becomes when the training rows have a single label."""

    def fit(self, X: Any, y: Labels) -> ConstantClassifier:  # noqa: N803 - sklearn API
        """Remember the one label."""
        self.classes_ = np.unique(np.asarray(y, dtype=object).astype(str))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803 - sklearn API
        """Probability one for the label."""
        return np.ones((_rows(X), len(self.classes_)))

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803 - sklearn API
        """The label."""
        return np.asarray(self.classes_[np.zeros(_rows(X), dtype=np.int64)])


def _rows(X: Any) -> int:  # noqa: N803 - sklearn naming
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


# --- the candidates ----------------------------------------------------------------------------


class LinearCandidate(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Text + prior + numeric + Feast features into a temperature-scaled logistic regression.

    Args:
        prior: the platform prior (None: fitted from generated data, slow; pass one).
        seed: seeds the holdout split and the solver.
        c: inverse regularization strength.
        epochs: least saga passes of the first fit (on the rows not held out); small data
            sets get more (`epochs_for`).
        refit_epochs: least passes that continue it on all rows once calibrated.
        prior_weight: scale of the prior block against the unit-norm text blocks.
        holdout: share of rows held out to fit the temperature.
        char: include character n-grams (None: when there are at most 20,000 rows).
    """

    reads_columns = True  # predict_proba takes `Columns` as well as frames (serving's input)

    def __init__(
        self,
        prior: PriorModel | None = None,
        *,
        seed: int = 0,
        c: float = 10.0,
        epochs: int = 10,
        refit_epochs: int = 4,
        prior_weight: float = 1.0,
        holdout: float = 0.15,
        char: bool | None = None,
    ) -> None:
        self.prior = prior
        self.seed = seed
        self.c = c
        self.epochs = epochs
        self.refit_epochs = refit_epochs
        self.prior_weight = prior_weight
        self.holdout = holdout
        self.char = char

    def fit(self, X: pd.DataFrame, y: Labels) -> LinearCandidate:  # noqa: N803
        """Fit features on all rows, the model on most, the temperature on the rest, refit."""
        with single_threaded_blas():
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y: Labels) -> LinearCandidate:  # noqa: N803
        from sklearn.compose import ColumnTransformer  # noqa: PLC0415
        from sklearn.pipeline import Pipeline  # noqa: PLC0415

        frame = model_input(X)
        labels = np.asarray(y, dtype=object).astype(str)
        self.classes_ = np.unique(labels)
        features = ColumnTransformer(
            [
                *text_features(char=use_char(self.char, len(frame))),
                ("prior", prior_block(self.prior, self.seed, self.prior_weight), prior_columns()),
                ("numeric", "passthrough", list(NUMERIC_FEATURES)),
                category_features(),
            ],
            sparse_threshold=1.0,
        )
        matrix = features.fit_transform(frame).tocsr()
        self.temperature_ = 1.0
        if len(self.classes_) < 2:
            model: Any = ConstantClassifier().fit(frame, labels)
        else:
            train, hold = holdout_split(labels, self.holdout, self.seed)
            model = saga_logistic(self.c, epochs_for(len(train), self.epochs), self.seed)
            with quiet_convergence():
                model.fit(matrix[train], labels[train])
                if len(hold):
                    truth = np.searchsorted(self.classes_, labels[hold])
                    proba = model.predict_proba(matrix[hold])
                    self.temperature_ = fit_temperature(proba, truth)
                    # Continue from the fitted weights on all rows: the held-out merchants
                    # are worth learning too, and a few passes suffice from there.
                    model.max_iter = max(self.refit_epochs, epochs_for(len(labels), 1) // 3)
                    model.fit(matrix, labels)
            compact_weights(model)
        self.pipeline_ = Pipeline(
            [("input", ModelInput()), ("features", features), ("model", model)]
        )
        return self

    def predict_proba(self, X: pd.DataFrame | Columns) -> np.ndarray:  # noqa: N803 - sklearn API
        """Calibrated probabilities, columns in `classes_` order."""
        steps = dict(self.pipeline_.steps)
        # The pipeline's own steps without sklearn's per-call checks (see training.scoring).
        matrix = feature_blocks(steps["features"], model_columns(X))
        return temper(linear_proba(steps["model"], matrix), self.temperature_)

    def predict(self, X: pd.DataFrame | Columns) -> np.ndarray:  # noqa: N803 - sklearn API
        """The most probable label of each row."""
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])


def fit_candidate(
    name: str,
    X: pd.DataFrame,  # noqa: N803 - sklearn naming
    y: Labels,
    *,
    prior: PriorModel,
    seed: int,
) -> LinearCandidate | BoostedCandidate:
    """Fit the candidate `name` ("linear" or "lightgbm") on model input `X` and labels `y`.

    Args:
        name: one of `CANDIDATES`.
        X: model input (see `model_input`; absent feature columns get their defaults).
        y: the tenant's label of each row.
        prior: the platform prior (`training.prior.load_or_fit_prior`).
        seed: makes the fit deterministic.

    Raises:
        ValueError: unknown candidate name, or `X` and `y` differ in length.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    if name == "linear":
        return LinearCandidate(prior, seed=seed).fit(X, y)
    if name == "lightgbm":
        from training.boosted import BoostedCandidate  # noqa: PLC0415 - imports this module

        return BoostedCandidate(prior, seed=seed).fit(X, y)
    raise ValueError(f"unknown candidate {name!r}; known: {', '.join(CANDIDATES)}")
