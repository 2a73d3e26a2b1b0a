"""The platform prior: what the platform knows about transactions before a tenant labels any.

A fast text model trained on generated transactions (plus the shipped merchant catalog) in the
default taxonomy. It predicts the default PRIMARY label and, within it, the DETAILED label;
its probabilities, together with the primary category of the starter rule that matches a row,
are input features of every tenant model (`PriorFeatures`), whatever the tenant's taxonomy.
A tenant with a few hundred labels then only has to learn how the default categories map onto
its own, instead of learning what "SHELL OIL" or "MERCURY CAFE" is from scratch.

The model is hierarchical (P(detailed) = P(primary) * P(detailed | primary)): one-vs-rest
linear models over 16 primaries and then over the few children of each, which costs a quarter
of a flat 104-class model and keeps the primary probabilities consistent with the detailed ones.
Fitting takes seconds, so the fitted prior is cached on disk per version, rows and seed
(`load_or_fit_prior`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from training.scoring import block_product

if TYPE_CHECKING:
    import pandas as pd
    from scipy.sparse import csr_matrix

    from rules.engine import CompiledRules
    from training.columns import Columns

# Bump when the prior's data, features or model change: cached priors of other versions are
# then ignored (they stay on disk until someone deletes them).
PRIOR_VERSION = "2"
_DIGITS = re.compile(r"[0-9]")
_SPACES = re.compile(r"\s+")
# Vocabulary caps: they bound the size of every tenant model, which embeds the prior.
CHAR_FEATURES = 1 << 15
WORD_FEATURES = 1 << 14
SGD_ALPHA = 1e-5  # L2 strength of the prior's SGD (1e-5 beat 3e-6 and 3e-5 on held-out rows)
MCC_DROPOUT = 0.5  # share of generated rows the prior sees without their MCC description
_MEMO_SIZE = 4  # sets of texts whose prior probabilities are kept in memory


def prior_text(frame: pd.DataFrame | Columns) -> np.ndarray:
    """The text the prior reads: description, merchant name and MCC description of each row.

    Lower case, every digit turned into "0" (store and reference numbers differ per row but
    say little), missing columns and values read as empty.
    """
    parts = [_column(frame, name) for name in ("description", "merchant_name", "mcc_description")]
    joined = parts[0] + " | " + parts[1] + " | " + parts[2]
    # Each distinct text cleaned once: statements repeat descriptions (subscriptions, stores).
    cleaned: dict[str, str] = {}
    return np.array(
        [cleaned[t] if t in cleaned else cleaned.setdefault(t, _clean(t)) for t in joined],
        dtype=object,
    )


def _column(frame: pd.DataFrame | Columns, name: str) -> Any:
    if name not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values = np.asarray(frame[name], dtype=object)
    if all(type(value) is str for value in values):  # the usual case: no pandas round trip
        return values
    import pandas as pd  # noqa: PLC0415

    # What `fillna("").astype(str)` gives, without building a Series (a request's MCC
    # columns hold None more often than not).
    missing = pd.isna(values)
    texts = ["" if absent else str(value) for value, absent in zip(values, missing, strict=True)]
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _DIGITS.sub("0", text.lower())).strip()


@dataclass(frozen=True)
class LinearOvR:
    """A fitted one-vs-rest linear model, stored compactly (float16 weights)."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, n_features), float16: it is only a feature extractor
    intercept: np.ndarray  # (n_classes,)

    def proba(self, features: csr_matrix) -> np.ndarray:
        """Per-class logistic scores normalized to sum to one (as sklearn's OvR log loss does)."""
        if len(self.classes) == 1:
            return np.ones((features.shape[0], 1))
        scores = np.asarray(features @ self.weights(), dtype=np.float64) + self.intercept
        return self.proba_of_scores(scores, features.shape[0])

    def proba_of_scores(self, scores: np.ndarray, rows: int) -> np.ndarray:
        """`proba` from the linear scores (features @ weights + intercept) of `rows` rows."""
        if len(self.classes) == 1:
            return np.ones((rows, 1))
        odds = 1.0 / (1.0 + np.exp(-np.clip(scores, -30.0, 30.0)))
        total = odds.sum(axis=1, keepdims=True)
        return np.asarray(odds / np.where(total > 0, total, 1.0))

    def weights(self) -> np.ndarray:
        """`coef` as a C-ordered float32 (n_features, n_classes) array, converted once.

        Converting the float16 weights on every call cost more than the product itself, and a
        transposed view would be copied by scipy's sparse-dense product each time. Created
        lazily (not in `__init__`) so that priors pickled before it existed load unchanged.
        """
        weights: np.ndarray | None = self.__dict__.get("_weights_f32")
        if weights is None:
            weights = np.ascontiguousarray(self.coef.astype(np.float32).T)
            object.__setattr__(self, "_weights_f32", weights)  # frozen: a cache, not state
        return weights

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the float32 copy of the weights (it is rebuilt on first use)."""
        state = dict(self.__dict__)
        state.pop("_weights_f32", None)
        return state


def fit_linear(
    features: csr_matrix, labels: np.ndarray, weights: np.ndarray, seed: int, epochs: int = 5
) -> LinearOvR:
    """Fit a one-vs-rest logistic model with SGD (a few epochs suffice on sparse text)."""
    from sklearn.linear_model import SGDClassifier  # noqa: PLC0415

    classes = tuple(sorted(set(labels.tolist())))
    if len(classes) == 1:
        return LinearOvR(classes, np.zeros((1, features.shape[1]), np.float16), np.zeros(1))
    model = SGDClassifier(
        loss="log_loss",
        alpha=SGD_ALPHA,
        max_iter=epochs,
        tol=None,
        random_state=seed,
        average=False,
    )
    model.fit(features, labels, sample_weight=weights)
    coef = np.asarray(model.coef_, dtype=np.float16)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:  # sklearn keeps one column for two classes: the second one's score
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    return LinearOvR(tuple(str(c) for c in model.classes_), coef, intercept)


@dataclass(repr=False)
class PriorModel:
    """The fitted prior: text vectorizers and the hierarchical primary/detailed model."""

    version: str
    rows: int
    seed: int
    primaries: tuple[str, ...]  # output column order of the primary probabilities
    detailed: tuple[str, ...]  # output column order of the detailed probabilities
    vectorizers: list[Any]  # fitted FastTfidf (char, word)
    primary_model: LinearOvR
    child_models: dict[str, LinearOvR] = field(default_factory=dict)

    def features(self, texts: np.ndarray) -> csr_matrix:
        """The sparse text features of `prior_text` strings."""
        from scipy.sparse import hstack  # noqa: PLC0415

        return hstack([v.transform(texts) for v in self.vectorizers], format="csr")

    def probabilities(self, frame: pd.DataFrame | Columns) -> tuple[np.ndarray, np.ndarray]:
        """(primary, detailed) probabilities of each row, in `primaries` / `detailed` order.

        The last few results are memoized per set of texts: candidates fitted one after the
        other on the same rows ask for the same probabilities.
        """
        texts = prior_text(frame)
        unique, inverse = np.unique(texts, return_inverse=True)  # descriptors repeat a lot
        key = hashlib.sha256("\x1f".join(unique.tolist()).encode()).hexdigest()
        memo = self._memo()
        found = memo.pop(key, None)
        if found is None:
            found = self._unique_probabilities(unique)
        memo[key] = found  # most recent last
        while len(memo) > _MEMO_SIZE:
            memo.pop(next(iter(memo)))
        primary, detailed = found
        return primary[inverse], detailed[inverse]

    def clear_memos(self) -> None:
        """Drop the memo of recent probabilities and the vectorizers' caches."""
        self.__dict__.pop("_memo_store", None)
        for vectorizer in self.vectorizers:
            clear = getattr(vectorizer, "clear_memos", None)
            if clear is not None:
                clear()

    def _memo(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        memo: dict[str, tuple[np.ndarray, np.ndarray]] | None = self.__dict__.get("_memo_store")
        if memo is None:
            memo = self.__dict__["_memo_store"] = {}
        return memo

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the memo of recent probabilities, child weights as float16."""
        state = dict(self.__dict__)
        state.pop("_memo_store", None)
        state.pop("_children_store", None)
        state["child_models"] = {
            name: replace(model, coef=np.asarray(model.coef, dtype=np.float16))
            for name, model in self.child_models.items()
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled prior."""
        self.__dict__.update(state)

    def __deepcopy__(self, memo: dict[int, Any]) -> PriorModel:
        """The prior itself: it is read-only once fitted, and sklearn's `clone` would copy it.

        Sharing keeps one copy in memory and the memo of recent probabilities warm.
        """
        return self

    def __repr__(self) -> str:
        """Short: a prior holds large arrays."""
        return f"PriorModel(version={self.version!r}, rows={self.rows}, seed={self.seed})"

    def _unique_probabilities(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        primary = np.zeros((n, len(self.primaries)))
        detailed = np.zeros((n, len(self.detailed)))
        if n == 0:
            return primary, detailed
        # The vectorizers' blocks are multiplied one by one (`block_product`): stacking them
        # cost more than the products for the few texts of a request.
        blocks = [v.transform(texts) for v in self.vectorizers]
        primary_model = self.primary_model
        if len(primary_model.classes) == 1:
            scores = np.ones((n, 1))
        else:
            linear = block_product(blocks, primary_model.weights()) + primary_model.intercept
            scores = primary_model.proba_of_scores(linear, n)
        p_index = {label: i for i, label in enumerate(self.primaries)}
        primary[:, [p_index[label] for label in self.primary_model.classes]] = scores
        if not self.child_models:
            return primary, detailed
        weights, intercepts, layout = self._children()
        # One product and one pass of array math for every child model together: a loop over
        # the parents cost more than the arithmetic (see `LinearOvR.proba_of_scores`).
        logits = block_product(blocks, weights) + intercepts
        odds = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        totals = np.add.reduceat(odds, layout.starts, axis=1)
        totals = np.where(totals > 0, totals, 1.0)
        child = odds / totals[:, layout.child_of]
        detailed[:, layout.detailed] = primary[:, layout.parent] * child
        return primary, detailed

    def _children(self) -> tuple[np.ndarray, np.ndarray, _ChildLayout]:
        """Every child model's weights side by side, with where each column goes; built once."""
        found = self.__dict__.get("_children_store")
        if found is None:
            p_index = {label: i for i, label in enumerate(self.primaries)}
            d_index = {label: i for i, label in enumerate(self.detailed)}
            blocks, intercepts, starts = [], [], []
            parent: list[int] = []
            detailed: list[int] = []
            child_of: list[int] = []
            for number, (name, model) in enumerate(self.child_models.items()):
                starts.append(len(parent))
                # From `coef`, not `weights()`: that would keep a second float32 copy per child.
                blocks.append(model.coef.astype(np.float32).T)
                intercepts.append(np.asarray(model.intercept, dtype=np.float64))
                for label in model.classes:
                    parent.append(p_index[name])
                    detailed.append(d_index[label])
                    child_of.append(number)
            layout = _ChildLayout(
                *(np.asarray(v, dtype=np.intp) for v in (starts, parent, detailed, child_of))
            )
            weights = np.ascontiguousarray(np.hstack(blocks))
            # Each child now reads its weights from the store (a transposed view): the float16
            # originals were a second copy (9.8 MB of the demo prior). `__getstate__` pickles
            # them as float16 again, exactly (they were float16 values).
            for name, start in zip(self.child_models, starts, strict=True):
                model = self.child_models[name]
                view = weights[:, start : start + len(model.classes)].T
                self.child_models[name] = replace(model, coef=view)
            found = self.__dict__["_children_store"] = (weights, np.concatenate(intercepts), layout)
        return found


@dataclass(frozen=True)
class _ChildLayout:
    """Where the side-by-side child columns go: one entry per child class column."""

    starts: np.ndarray  # first column of each child model
    parent: np.ndarray  # its parent's primary column
    detailed: np.ndarray  # its detailed column
    child_of: np.ndarray  # which child model it belongs to


def _vectorizers() -> list[Any]:
    from training.text import FastTfidf  # noqa: PLC0415

    return [
        FastTfidf("char", ngram_range=(3, 5), min_df=2, max_features=CHAR_FEATURES),
        FastTfidf("word", min_df=2, max_features=WORD_FEATURES),
    ]


def prior_training_frame(rows: int, seed: int) -> pd.DataFrame:
    """Generated transactions plus one row per alias of every catalog merchant, labeled.

    The catalog rows teach the prior every shipped brand, not only the ones a `rows`-sized
    sample happens to draw; each alias appears once with and once without the MCC description,
    as many statements carry no MCC (for the same reason, `MCC_DROPOUT` of the generated rows
    lose theirs).
    """
    import pandas as pd  # noqa: PLC0415

    from spendlens.catalog import load_merchant_catalog  # noqa: PLC0415
    from spendlens.normalize.mcc import describe_mcc  # noqa: PLC0415
    from training.synthetic import generated_frame  # noqa: PLC0415

    generated = generated_frame(rows, seed)[
        ["description", "merchant_name", "mcc_description", "label"]
    ].copy()
    # Many statements carry no MCC: drop it from some rows so that the text alone must carry
    # them, rather than the MCC's words doing the work wherever there is one.
    drop = np.random.default_rng(seed).random(len(generated)) < MCC_DROPOUT
    generated.loc[drop, "mcc_description"] = None
    records: list[tuple[str, str, str | None, str]] = []
    for entry in load_merchant_catalog():
        info = describe_mcc(entry.mcc) if entry.mcc else None
        for alias in entry.aliases:
            records.append((alias, entry.name, None, entry.category))
            if info is not None:
                records.append((alias, entry.name, info.description, entry.category))
    catalog = pd.DataFrame.from_records(records, columns=list(generated.columns))
    return pd.concat([generated, catalog], ignore_index=True)


def fit_prior(rows: int, seed: int) -> PriorModel:
    """Fit the prior on `rows` generated transactions (seeded) and the merchant catalog."""
    import pandas as pd  # noqa: PLC0415
    from scipy.sparse import hstack  # noqa: PLC0415

    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    taxonomy = load_default_taxonomy()
    frame = prior_training_frame(rows, seed)
    texts = prior_text(frame)
    detailed_labels = frame["label"].to_numpy(dtype=object)
    # Identical (text, label) pairs are fitted once, weighted by how often they occur.
    pairs = pd.DataFrame({"text": texts, "label": detailed_labels})
    counted = pairs.groupby(["text", "label"], sort=True).size().reset_index(name="weight")
    texts = counted["text"].to_numpy(dtype=object)
    detailed_labels = counted["label"].to_numpy(dtype=object)
    weights = counted["weight"].to_numpy(dtype=np.float64)
    primary_labels = np.array([taxonomy.primary_of(label) for label in detailed_labels])
    vectorizers = _vectorizers()
    features = hstack([v.fit_transform(texts) for v in vectorizers], format="csr")
    model = PriorModel(
        version=PRIOR_VERSION,
        rows=rows,
        seed=seed,
        primaries=taxonomy.primaries(),
        detailed=tuple(label for label in taxonomy.leaves() if taxonomy.parent_of(label)),
        vectorizers=vectorizers,
        primary_model=LinearOvR((), np.zeros((0, 0), np.float16), np.zeros(0)),
    )
    model.primary_model = fit_linear(features, primary_labels, weights, seed)
    for parent in sorted(set(primary_labels.tolist())):
        rows_of = np.flatnonzero(primary_labels == parent)
        model.child_models[parent] = fit_linear(
            features[rows_of], detailed_labels[rows_of], weights[rows_of], seed
        )
    return model


def prior_cache_path(cache_dir: Path, rows: int, seed: int) -> Path:
    """Where the prior of this version, rows and seed is cached."""
    key = hashlib.sha256(f"{PRIOR_VERSION}|{rows}|{seed}".encode()).hexdigest()[:16]
    return cache_dir / f"prior-{key}.joblib"


def load_or_fit_prior(
    cache_dir: Path,
    rows: int,
    seed: int,
    *,
    fit: Callable[[int, int], PriorModel] = fit_prior,
) -> PriorModel:
    """The cached prior for (version, rows, seed), fitted and cached on first use.

    Args:
        cache_dir: directory of cached priors (e.g. `<state_dir>/models`); created if needed.
        rows: generated transactions to fit on.
        seed: the generator's and the model's seed.
        fit: what fits a prior when the cache has none (tests pass a counting fake).
    """
    import joblib  # noqa: PLC0415

    path = prior_cache_path(cache_dir, rows, seed)
    if path.exists():
        try:
            loaded = joblib.load(path)
        except Exception as exc:  # unpickling garbage raises anything: refit and overwrite
            _warn(f"ignoring unreadable cached prior {path}: {exc}")
        else:
            if isinstance(loaded, PriorModel) and loaded.version == PRIOR_VERSION:
                return loaded
    prior = fit(rows, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".prior-", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(prior, temporary, compress=3)
        Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return prior


def _warn(message: str) -> None:
    import warnings  # noqa: PLC0415

    warnings.warn(message, RuntimeWarning, stacklevel=3)


# The last few results of `rule_categories`, by digest of their input (the same rows are
# asked for by each candidate, and by several feature blocks of one).
_RULE_MEMO: dict[str, tuple[str | None, ...]] = {}


@cache
def _starter_rules() -> CompiledRules:
    """The starter rules, compiled once per process (compiled rules do not pickle)."""
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.io import load_starter_rules  # noqa: PLC0415

    return CompiledRules.compile(load_starter_rules())


def rule_categories(frame: pd.DataFrame | Columns) -> list[str | None]:
    """The category of the winning starter rule of each row (None: no rule matches).

    Starter rules look at description, merchant, MCC and direction only, so a row needs no
    amount, date or account here.
    """
    import datetime as dt  # noqa: PLC0415

    from rules.engine import RuleInput  # noqa: PLC0415

    compiled = _starter_rules()
    keys = list(
        zip(
            _column(frame, "description"),
            _column(frame, "merchant_name"),
            _column(frame, "mcc"),
            _column(frame, "direction"),
            strict=True,
        )
    )
    digest = hashlib.sha256(repr(keys).encode()).hexdigest()
    if digest in _RULE_MEMO:
        return list(_RULE_MEMO[digest])
    distinct = list(dict.fromkeys(keys))
    inputs = [
        RuleInput(
            description=description,
            merchant=merchant,
            memo=None,
            amount_minor=0,
            currency="USD",
            direction=direction or "debit",
            date=dt.date(2000, 1, 1),
            mcc=mcc or None,
            account=None,
            account_tail=None,
        )
        for description, merchant, mcc, direction in distinct
    ]
    # One batch: the rules engine probes a batch's texts together, much faster than one by one.
    found = {
        key: evaluation.winner.category if evaluation.winner is not None else None
        for key, evaluation in zip(distinct, compiled.evaluate_many(inputs), strict=True)
    }
    result = [found[key] for key in keys]
    _RULE_MEMO[digest] = tuple(result)
    while len(_RULE_MEMO) > _MEMO_SIZE:
        _RULE_MEMO.pop(next(iter(_RULE_MEMO)))
    return result


class PriorFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Dense prior features of a txn frame: primary and detailed probabilities, rule hit.

    Columns: P(primary) for the 16 default primaries, P(detailed) for the 104 detailed labels,
    then a one-hot of the primary category of the winning starter rule (all zero: no rule).

    Args:
        prior: the fitted prior; None fits one from `rows` generated transactions at `fit`.
        rules: include the starter-rule columns.
        rows: generated transactions to fit on when `prior` is None.
        seed: seed of that fit.
    """

    def __init__(
        self,
        prior: PriorModel | None = None,
        *,
        rules: bool = True,
        rows: int = 30_000,
        seed: int = 0,
    ) -> None:
        self.prior = prior
        self.rules = rules
        self.rows = rows
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Any = None) -> PriorFeatures:  # noqa: N803 - sklearn API
        """Keep the given prior (or fit one from generated data): tenant data is not needed."""
        self.prior_ = self.prior if self.prior is not None else fit_prior(self.rows, self.seed)
        self.n_features_out_ = len(self.get_feature_names_out())
        return self

    def transform(self, X: pd.DataFrame | Columns) -> np.ndarray:  # noqa: N803 - sklearn API
        """(n_rows, n_features_out_) float array."""
        prior: PriorModel = self.prior_
        primary, detailed = prior.probabilities(X)
        blocks = [primary, detailed]
        if self.rules:
            blocks.append(_one_hot_primary(rule_categories(X), prior.primaries))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """prior_primary=<label>, prior_detailed=<label>, rule_primary=<label>."""
        prior: PriorModel = self.prior_
        names = [f"prior_primary={p}" for p in prior.primaries]
        names += [f"prior_detailed={d}" for d in prior.detailed]
        if self.rules:
            names += [f"rule_primary={p}" for p in prior.primaries]
        return np.array(names, dtype=object)


def _one_hot_primary(categories: list[str | None], primaries: tuple[str, ...]) -> np.ndarray:
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    taxonomy = load_default_taxonomy()
    index = {label: i for i, label in enumerate(primaries)}
    out = np.zeros((len(categories), len(primaries)))
    for row, category in enumerate(categories):
        if category is not None and category in taxonomy:
            out[row, index[taxonomy.primary_of(category)]] = 1.0
    return out


_NAME_TOKEN = re.compile(r"[a-z]+")
# Words that say nothing about what a category is ("Other Services", "..._OTHER_INCOME").
_NAME_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and or of the to for in on at by with from as other others misc miscellaneous "
        "such that fit no not any all its their",
    )
)
_NAME_STEM = 5  # compare word prefixes: "payments" and "payment", "medical" and "medicine"
_NAME_SHARPNESS = 20.0  # 1 / softmax temperature over name similarity


def name_crosswalk(labels: Sequence[str], shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(tenant label | default label) guessed from names alone, for detailed and primaries.

    Tenants name their categories in words ("Gas/Automotive", "Payment/Credit"); the default
    categories have names and descriptions. Word-prefix TF-IDF similarity between the two,
    sharpened by a softmax and weighted by the labels' `shares`, says where a default category
    probably goes before any row of it is labeled. Labels with nothing in common with a
    default category get it in proportion to their shares.

    Returns:
        (detailed, primary): arrays of shape (default labels, len(labels)), rows sum to one,
        in the order of `PriorModel.detailed` and `PriorModel.primaries`.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415

    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    taxonomy = load_default_taxonomy()
    primaries = taxonomy.primaries()
    detailed = tuple(label for label in taxonomy.leaves() if taxonomy.parent_of(label))
    described = {c.label: f"{c.label} {c.description}" for c in taxonomy.categories}
    vectorizer = TfidfVectorizer(analyzer=_name_words, sublinear_tf=True)
    vectorizer.fit(list(described.values()) + list(labels))
    tenant = vectorizer.transform(list(labels))
    out = []
    for group in (detailed, primaries):
        similarity = (vectorizer.transform([described[d] for d in group]) @ tenant.T).toarray()
        weights = np.log(np.clip(shares, 1e-12, None)) + _NAME_SHARPNESS * similarity
        weights = np.exp(weights - weights.max(axis=1, keepdims=True))
        out.append(weights / weights.sum(axis=1, keepdims=True))
    return out[0], out[1]


def _name_words(text: str) -> list[str]:
    words = _NAME_TOKEN.findall(text.lower())
    return [w[:_NAME_STEM] for w in words if w not in _NAME_STOPWORDS and len(w) > 1]
