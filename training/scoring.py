"""Scoring without sklearn's per-call overhead: the same numbers, in a fraction of the time.

Serving scores one transaction (plus its occluded copies) per request. For a handful of rows
sklearn's generic machinery costs far more than the arithmetic: `ColumnTransformer.transform`
dispatches its blocks through joblib and validates every input and output, `OneHotEncoder`
and `LogisticRegression` re-check their arrays, `LGBMClassifier` wraps its booster. These
functions walk the fitted objects and do only the arithmetic, for the block types the
candidates are built from; anything else falls back to the sklearn call, so the result is
always what sklearn computes (tests compare both on random inputs).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_matrix, hstack

from training.columns import Columns
from training.sparse import csr_from_dense, csr_from_entries

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PriorReuse",
    "block_product",
    "column_blocks",
    "feature_blocks",
    "linear_proba",
    "one_hot",
    "raw_scores",
]


class PriorReuse:
    """Dense prior features already computed for the frame, by the transformer that made them.

    A candidate that needs the prior twice (as a block of its feature matrix and for its own
    pairs) computes it once: a `PriorFeatures` step with the same prior and rule setting
    reads it from here instead.
    """

    def __init__(self, transformer: Any, features: np.ndarray) -> None:
        self.transformer = transformer
        self.features = features

    def serves(self, step: Any) -> bool:
        """Whether `step` would compute exactly these features."""
        mine = self.transformer
        return (
            type(step) is type(mine)
            and getattr(step, "prior_", None) is getattr(mine, "prior_", object())
            and step.rules == mine.rules
        )


def column_blocks(
    transformer: Any, frame: pd.DataFrame | Columns, *, prior: PriorReuse | None = None
) -> csr_matrix:
    """`transformer.transform(frame).tocsr()` of a fitted sparse-output ColumnTransformer.

    Args:
        transformer: a fitted `ColumnTransformer` whose output is sparse.
        frame: its input (the columns it was fitted on), a DataFrame or `Columns`.
        prior: prior features to reuse for a matching `PriorFeatures` step.
    """
    blocks = feature_blocks(transformer, frame, prior=prior)
    if isinstance(blocks, csr_matrix):
        return blocks
    return csr_matrix(hstack(blocks, format="csr"))


def feature_blocks(
    transformer: Any, frame: pd.DataFrame | Columns, *, prior: PriorReuse | None = None
) -> list[Any] | csr_matrix:
    """`column_blocks` before the blocks are stacked: each block's matrix, in column order.

    A product with the whole matrix is the sum of each block's product with its rows of
    the weights (`linear_proba` takes the list): stacking the blocks cost more than the
    products for the few rows of a request. Transformers the fast path does not know give
    their stacked matrix instead.
    """
    if not getattr(transformer, "sparse_output_", False):
        return csr_matrix(transformer.transform(_frame(frame)))
    blocks: list[Any] = []
    for _, block, columns in transformer.transformers_:
        if isinstance(block, str):
            if block == "drop" or _empty(columns):
                continue
            if block != "passthrough":  # pragma: no cover - sklearn knows no other string
                return csr_matrix(transformer.transform(_frame(frame)))
            selected = frame[columns] if isinstance(columns, list) else _frame(frame)[columns]
            blocks.append(csr_from_dense(_dense(selected)))
            continue
        blocks.append(_block(block, _Selection(frame, columns), prior))
    return blocks


def block_product(blocks: Sequence[Any], weights: np.ndarray) -> np.ndarray:
    """`hstack(blocks) @ weights` as float64, one product per block with its weight rows.

    Sparse blocks are multiplied in the weights' precision (float32 once compacted): scipy
    would otherwise copy the whole weight matrix up to float64 on every call.
    """
    scores = np.zeros((blocks[0].shape[0], weights.shape[1]))
    start = 0
    for block in blocks:
        stop = start + block.shape[1]
        if block.shape[1]:
            part = weights[start:stop]
            if hasattr(block, "tocsr"):
                scores += block.tocsr().astype(part.dtype, copy=False) @ part
            else:  # a dense block (a step outside the fast path)
                scores += np.asarray(block, dtype=part.dtype) @ part
        start = stop
    return scores


def _frame(values: Any) -> Any:
    """A DataFrame for sklearn's own steps, which do not read `Columns`."""
    return values.to_frame() if isinstance(values, Columns) else values


def _dense(values: Any) -> np.ndarray:
    """Selected columns as a float64 matrix (a single column: one column wide)."""
    if isinstance(values, Columns) or hasattr(values, "to_numpy"):
        matrix = np.asarray(values.to_numpy(dtype=np.float64))
    else:
        matrix = np.asarray(values, dtype=np.float64)
    return matrix.reshape(len(matrix), -1)


class _Selection:
    """A block's input columns, selected only if a step needs them (a reused prior does not).

    Selecting a list of columns from a frame costs more than most blocks' arithmetic, so
    steps that work column by column read single columns instead.
    """

    def __init__(self, frame: pd.DataFrame | Columns, columns: Any) -> None:
        self.frame = frame
        self.columns = columns

    def named(self) -> list[str] | None:
        """The column names, when the selection is a plain list of names."""
        columns = self.columns
        if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
            return columns
        return None

    def frame_view(self) -> Any:
        """What the ColumnTransformer would pass: `frame[columns]` (of `Columns`: the same
        names, as an array for one name, as `Columns` for a list)."""
        columns = self.columns
        if isinstance(self.frame, Columns) and not isinstance(columns, (str, list)):
            return _frame(self.frame)[columns]  # a slice, a mask, positions: pandas knows them
        return self.frame[columns]


def _empty(columns: Any) -> bool:
    return hasattr(columns, "__len__") and not isinstance(columns, str) and len(columns) == 0


def _block(block: Any, values: Any, prior: PriorReuse | None) -> Any:
    """One fitted block's output; a Pipeline runs its steps, each through the fast path.

    Args:
        values: the block's input: a `_Selection` for a ColumnTransformer block, else the
            previous step's output.
    """
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder  # noqa: PLC0415

    if isinstance(block, Pipeline):
        for _, step in block.steps:
            if step is None or step == "passthrough":
                continue
            values = _block(step, values, prior)
        return values
    if prior is not None and prior.serves(block):
        return prior.features
    if isinstance(values, _Selection):
        names = values.named()
        if names and isinstance(block, OneHotEncoder) and _plain(block):
            return _one_hot_columns(block, [values.frame[name] for name in names])
        if names and _identity(block):  # a fitted ColumnTransformer's passthrough
            return csr_from_dense(np.column_stack([np.asarray(values.frame[n]) for n in names]))
        values = values.frame_view()
    if isinstance(block, OneHotEncoder):
        return one_hot(block, _frame(values))
    if _identity(block):
        return csr_from_dense(_dense(values) if isinstance(values, Columns) else np.asarray(values))
    return block.transform(values if _reads_columns(block) else _frame(values))


def _reads_columns(block: Any) -> bool:
    """Whether a step takes `Columns` as it takes a frame (the candidates' own steps do)."""
    from training.prior import PriorFeatures  # noqa: PLC0415
    from training.text import FastTfidf  # noqa: PLC0415

    return isinstance(block, (PriorFeatures, FastTfidf))


def _identity(block: Any) -> bool:
    from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415

    return type(block) is FunctionTransformer and block.func is None


def one_hot(encoder: Any, values: pd.DataFrame) -> Any:
    """`encoder.transform(values)` of a plain fitted OneHotEncoder (unknown values ignored).

    Encoders with dropped or infrequent categories, or that raise on unknown values, go
    through sklearn.
    """
    if not _plain(encoder):
        return encoder.transform(values)
    return _one_hot_columns(encoder, [values.iloc[:, j] for j in range(values.shape[1])])


def _plain(encoder: Any) -> bool:
    return bool(
        encoder.drop is None
        and encoder.min_frequency is None
        and encoder.max_categories is None
        and encoder.handle_unknown == "ignore"
        and encoder.sparse_output
    )


def _one_hot_columns(encoder: Any, columns: Sequence[Any]) -> csr_matrix:
    """A plain encoder's one-hot matrix of `columns` (one sequence of values per input column)."""
    index = _category_index(encoder)
    rows: list[int] = []
    cols: list[int] = []
    offset = 0
    for j, categories in enumerate(encoder.categories_):
        lookup = index[j]
        for row, value in enumerate(list(columns[j])):
            col = lookup.get(value)
            if col is not None:
                rows.append(row)
                cols.append(offset + col)
        offset += len(categories)
    n_rows = len(columns[0])
    # Entries were found column by column; a stable sort by row puts them in CSR order with
    # each row's columns ascending (later input columns have higher offsets).
    row_ids = np.asarray(rows, dtype=np.int64)
    order = np.argsort(row_ids, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_ids, minlength=n_rows), out=indptr[1:])
    indices = np.asarray(cols, dtype=np.int32)[order]
    data = np.ones(len(rows), dtype=encoder.dtype)
    return csr_from_entries(data, indices, indptr, (n_rows, offset))


def _category_index(encoder: Any) -> list[dict[Any, int]]:
    """Per input column, category -> position; built once per encoder."""
    index: list[dict[Any, int]] | None = encoder.__dict__.get("_spendlens_index")
    if index is None:
        index = [{c: i for i, c in enumerate(cats.tolist())} for cats in encoder.categories_]
        encoder.__dict__["_spendlens_index"] = index
    return index


def linear_proba(model: Any, matrix: csr_matrix | list[Any]) -> np.ndarray:
    """`model.predict_proba(matrix)` of a fitted LogisticRegression (softmax; binary: logistic).

    Args:
        matrix: the feature matrix, or its column blocks in order (`feature_blocks`).
    """
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    if isinstance(matrix, list) and type(model) is not LogisticRegression:
        matrix = csr_matrix(hstack(matrix, format="csr"))
    if type(model) is not LogisticRegression:
        return np.asarray(model.predict_proba(matrix))
    weights = _weights(model)
    if isinstance(matrix, list):
        scores = block_product(matrix, weights)
    else:
        # In the weights' precision (float32 once compacted): scipy would otherwise copy the
        # whole weight matrix up to float64 on every call, which cost more than the product.
        scores = np.asarray(matrix.astype(weights.dtype, copy=False) @ weights, dtype=np.float64)
    scores += model.intercept_
    if len(model.classes_) <= 2:
        positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.column_stack([1.0 - positive, positive])
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def _weights(model: Any) -> np.ndarray:
    """The coefficients as a C-ordered (n_features, n_classes) array, one copy in memory.

    The model's `coef_` becomes the transposed view of that array, so the two share their
    memory (9.5 MB for the text model of the demo champion). The cache lives outside the model:
    in its `__dict__` it was pickled into every registered model, and loaded as a second copy.
    """
    cached = _WEIGHTS.get(model)
    if cached is None or cached[0] is not model.coef_:
        # Keyed by the coef_ object: a refit (warm start) replaces it.
        model.__dict__.pop("_spendlens_weights", None)  # the old in-model cache, if pickled
        weights = np.ascontiguousarray(np.asarray(model.coef_).T)  # a view if coef_ is F-ordered
        model.coef_ = weights.T
        cached = _WEIGHTS[model] = (model.coef_, weights)
    return cached[1]


# Per fitted LogisticRegression: (its coef_ when cached, the weights `_weights` returns).
_WEIGHTS: weakref.WeakKeyDictionary[Any, tuple[Any, np.ndarray]] = weakref.WeakKeyDictionary()


def raw_scores(classifier: Any, features: np.ndarray) -> np.ndarray:
    """`classifier.predict(features, raw_score=True)` of a fitted LGBMClassifier, unwrapped.

    The booster itself applies the early-stopped best iteration; the wrapper's only other
    contribution is its thread count, passed along here (other settings go through it).
    """
    booster = getattr(classifier, "booster_", None)
    threads = getattr(classifier, "n_jobs", None)
    if booster is None or not isinstance(threads, int) or threads < 1:
        return np.asarray(classifier.predict(features, raw_score=True), dtype=np.float64)
    return np.asarray(booster.predict(features, raw_score=True, num_threads=threads), np.float64)
