"""Fast TF-IDF for statement text: features are built per word, and words repeat.

sklearn's `TfidfVectorizer` looks up every n-gram of every document in its vocabulary, in
Python; on 70,000 descriptors that takes seconds. Statement text is a few words drawn from a
small vocabulary ("STARBUCKS", "STORE", "0000"), so `FastTfidf` maps each distinct word to its
feature ids once and builds a document from those cached ids. The weighting is sklearn's:
smooth idf, optional sublinear tf, l2-normalized rows.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, TransformerMixin

_TOKEN = re.compile(r"\w\w+")
_CACHE_LIMIT = 1 << 17  # distinct words (or word pairs) whose ids a vectorizer keeps
_FEW_DOCS = 64  # `transform` of at most this many documents takes the numpy-only path


def char_grams_of_word(word: str, low: int = 3, high: int = 5) -> list[str]:
    """Character n-grams of a word padded with spaces, as sklearn's `char_wb` analyzer.

    A padded word no longer than n yields itself once, and no longer n-grams.
    """
    padded = f" {word} "
    size = len(padded)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(padded[i : i + n] for i in range(max(1, size - n + 1)))
        if size <= n:
            break
    return grams


# auto_wrap_output_keys=None: the output is sparse, which `set_output` cannot turn into a
# frame anyway, and its wrapper cost more than transforming a few rows. (call-arg: mypy does
# not see that sklearn's TransformerMixin.__init_subclass__ takes that keyword.)
class FastTfidf(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):  # type: ignore[misc,call-arg]
    """TF-IDF of char n-grams within words (`kind="char"`) or of words and word pairs ("word").

    Args:
        kind: "char" (n-grams of each whitespace-separated word, `char_wb`-style) or "word"
            (tokens of 2+ word characters, and adjacent pairs).
        ngram_range: n-gram sizes for "char".
        min_df: keep terms found in at least this many documents.
        max_features: keep at most this many terms, the most frequent (ties by term).
        sublinear_tf: use 1 + log(count) as term frequency.
    """

    def __init__(
        self,
        kind: str = "char",
        *,
        ngram_range: tuple[int, int] = (3, 5),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
    ) -> None:
        self.kind = kind
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf

    # - fitting -

    def fit(self, X: Iterable[str], y: Any = None) -> FastTfidf:  # noqa: N803 - sklearn API
        """Learn the vocabulary and idf of the documents `X`."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Iterable[str], y: Any = None, **_: Any) -> csr_matrix:  # noqa: N803
        """Learn vocabulary and idf, and return the documents' TF-IDF matrix."""
        if self.kind not in ("char", "word"):
            raise ValueError(f"kind must be 'char' or 'word', got {self.kind!r}")
        docs = _texts(X)
        provisional: dict[str, int] = {}
        cache: dict[str, np.ndarray] = {}

        def ids_of(unit: str) -> np.ndarray:
            found = cache.get(unit)
            if found is None:
                terms = self._terms(unit)
                found = np.array([provisional.setdefault(t, len(provisional)) for t in terms])
                cache[unit] = found
            return found

        counts = self._count(docs, ids_of, len_hint=None)
        counts.resize((len(docs), len(provisional)))
        df = np.bincount(counts.indices, minlength=len(provisional))
        terms = np.array(sorted(provisional, key=provisional.__getitem__), dtype=object)
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            # Most frequent first, ties broken by the term so the choice is deterministic.
            order = sorted(keep.tolist(), key=lambda i: (-df[i], terms[i]))
            keep = np.array(sorted(order[: self.max_features]))
        self.vocabulary_ = {str(terms[i]): n for n, i in enumerate(keep)}
        n_docs = len(docs)
        self.idf_ = np.log((1 + n_docs) / (1 + df[keep])) + 1.0
        counts = counts[:, keep] if len(keep) else csr_matrix((n_docs, 0))
        return self._weigh(csr_matrix(counts))

    # - transforming -

    def transform(self, X: Iterable[str]) -> csr_matrix:  # noqa: N803 - sklearn API
        """TF-IDF matrix of the documents `X` over the fitted vocabulary."""
        docs = _texts(X)
        vocabulary: dict[str, int] = self.vocabulary_
        cache = self._cache()

        def ids_of(unit: str) -> np.ndarray:
            found = cache.get(unit)
            if found is None:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                ids = [vocabulary.get(t, -1) for t in self._terms(unit)]
                found = cache[unit] = np.array([i for i in ids if i >= 0], dtype=np.int64)
            return found

        if len(docs) <= _FEW_DOCS:
            return self._transform_few(docs, ids_of, len(vocabulary))
        return self._weigh(self._count(docs, ids_of, len_hint=len(vocabulary)))

    def _transform_few(self, docs: list[str], ids_of: Any, width: int) -> csr_matrix:
        """`transform` of a few documents: the same matrix, bit for bit, from numpy alone.

        The general path builds and re-sorts sparse matrices three times (count, sum
        duplicates, weigh): about ten scipy calls whose fixed cost was most of the time of a
        single request and its occluded copies (~0.4 ms per vectorizer, four per model call).
        Here one `np.unique` over (row, term) keys counts the terms in CSR order, the weighting
        is `_weigh`'s arithmetic in the same order, and one CSR is built at the end.
        """
        parts: list[np.ndarray] = []
        lengths: list[int] = []
        for doc in docs:
            total = 0
            for unit in self._units(doc):
                ids = ids_of(unit)
                if len(ids):
                    parts.append(ids)
                    total += len(ids)
            lengths.append(total)
        n_docs = len(docs)
        if not parts:
            return csr_matrix((n_docs, width), dtype=np.float32)
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        keys, counts = np.unique(rows * width + np.concatenate(parts), return_counts=True)
        rows, columns = np.divmod(keys, width)
        data = counts.astype(np.float32)
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self._idf32()[columns]
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n_docs))
        norms[norms == 0.0] = 1.0
        data /= norms[rows].astype(np.float32)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
        return csr_matrix((data, columns, indptr), shape=(n_docs, width))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The terms, in column order."""
        names = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        return np.array([f"{self.kind}:{n}" for n in names], dtype=object)

    # - helpers -

    def _units(self, doc: str) -> list[str]:
        """What a document is made of: its words ("char"), or tokens and token pairs ("word")."""
        if self.kind == "char":
            return doc.split()
        tokens = _TOKEN.findall(doc)
        return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]

    def _terms(self, unit: str) -> list[str]:
        if self.kind == "char":
            low, high = self.ngram_range
            return char_grams_of_word(unit, low, high)
        return [unit]

    def _count(self, docs: list[str], ids_of: Any, len_hint: int | None) -> csr_matrix:
        """Term counts per document (rows of repeated documents are built once)."""
        unique, inverse = np.unique(np.array(docs, dtype=object), return_inverse=True)
        if len(unique) < len(docs):
            counts = self._count_unique(unique.tolist(), ids_of, len_hint)
            return csr_matrix(counts[inverse.ravel()])
        return self._count_unique(docs, ids_of, len_hint)

    def _count_unique(self, docs: list[str], ids_of: Any, len_hint: int | None) -> csr_matrix:
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        chunks: list[np.ndarray] = []
        total = 0
        for row, doc in enumerate(docs):
            for unit in self._units(doc):
                ids = ids_of(unit)
                if len(ids):
                    chunks.append(ids)
                    total += len(ids)
            indptr[row + 1] = total
        indices = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        width = len_hint if len_hint is not None else (int(indices.max()) + 1 if total else 0)
        matrix = csr_matrix(
            (np.ones(total, dtype=np.float32), indices, indptr), shape=(len(docs), width)
        )
        matrix.sum_duplicates()
        return matrix

    def _weigh(self, counts: csr_matrix) -> csr_matrix:
        """Tf (sublinear if asked) times idf, rows scaled to unit l2 norm (as sklearn's)."""
        counts.sort_indices()
        data = counts.data.astype(np.float32)
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self._idf32()[counts.indices]
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=counts.shape[0]))
        norms[norms == 0.0] = 1.0
        data /= norms[rows].astype(np.float32)
        return csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)

    def _idf32(self) -> np.ndarray:
        idf: np.ndarray | None = self.__dict__.get("_idf32_cache")
        if idf is None or len(idf) != len(self.idf_):
            idf = self.__dict__["_idf32_cache"] = self.idf_.astype(np.float32)
        return idf

    def clear_memos(self) -> None:
        """Drop the per-word ids cache (it refills on use)."""
        self.__dict__.pop("_ids_cache", None)

    def _cache(self) -> dict[str, np.ndarray]:
        cache: dict[str, np.ndarray] | None = self.__dict__.get("_ids_cache")
        if cache is None:
            cache = self.__dict__["_ids_cache"] = {}
        return cache

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the per-word cache (it is rebuilt on use)."""
        state = dict(super().__getstate__())
        state.pop("_ids_cache", None)
        state.pop("_idf32_cache", None)
        return state


def _texts(X: Any) -> list[str]:  # noqa: N803 - sklearn naming
    """Documents as a list of str: a 1-D array, a Series, or a one-column frame."""
    if hasattr(X, "ndim") and getattr(X, "ndim", 1) == 2:
        X = np.asarray(X)[:, 0]  # noqa: N806
    return ["" if x is None else str(x) for x in X]
