"""FastTfidf builds the same TF-IDF as sklearn's vectorizer, only faster on statement text."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from training.text import _FEW_DOCS, FastTfidf, char_grams_of_word

DOCS = [
    "starbucks store 0000 | starbucks |",
    "sq *cafe rio 0000 ft colli | cafe rio |",
    "a b starbucks",
    "shell oil 00000 | shell | service stations",
    "cafe cafe cafe",
]
NEW = ["cafe rio starbucks", "unknown words only", ""]


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
    ],
)
def test_matches_sklearn_tfidf(kind: str, reference: TfidfVectorizer) -> None:
    fast = FastTfidf(kind, ngram_range=(3, 5))

    ours = fast.fit_transform(DOCS)
    theirs = reference.fit(DOCS)

    names = [n.split(":", 1)[1] for n in fast.get_feature_names_out()]
    assert set(names) == set(theirs.vocabulary_)
    columns = [theirs.vocabulary_[n] for n in names]
    np.testing.assert_allclose(
        ours.toarray(), theirs.transform(DOCS)[:, columns].toarray(), atol=1e-6
    )
    np.testing.assert_allclose(
        fast.transform(NEW).toarray(), theirs.transform(NEW)[:, columns].toarray(), atol=1e-6
    )


def test_min_df_and_max_features_prune_the_vocabulary() -> None:
    fast = FastTfidf("word", min_df=2).fit(DOCS)
    capped = FastTfidf("word", max_features=3).fit(DOCS)

    assert set(fast.vocabulary_) == {"starbucks", "cafe", "0000"}  # in 2+ documents
    assert len(capped.vocabulary_) == 3
    assert "starbucks" in capped.vocabulary_


def test_a_word_as_short_as_n_gives_itself_once_and_no_longer_grams() -> None:
    assert char_grams_of_word("a") == [" a "]
    assert char_grams_of_word("ab") == [" ab", "ab ", " ab "]
    assert char_grams_of_word("abc") == [" ab", "abc", "bc ", " abc", "abc ", " abc "]


def test_pickles_without_its_cache() -> None:
    fast = FastTfidf("char").fit(DOCS)
    before = fast.transform(NEW).toarray()

    loaded = pickle.loads(pickle.dumps(fast))  # noqa: S301 - our own bytes

    assert "_ids_cache" not in loaded.__dict__
    np.testing.assert_array_equal(loaded.transform(NEW).toarray(), before)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        FastTfidf("bytes").fit(DOCS)


@pytest.mark.parametrize("kind", ["char", "word"])
@pytest.mark.parametrize("sublinear", [True, False])
def test_a_few_documents_get_exactly_the_rows_a_large_batch_gets(
    kind: str, sublinear: bool
) -> None:
    # Up to _FEW_DOCS documents take a numpy-only path; it must not change a single bit.
    fast = FastTfidf(kind, sublinear_tf=sublinear).fit(DOCS * 3)
    few = [*DOCS, *NEW, "cafe cafe rio rio rio", DOCS[0]]  # repeats, unknown words, empty
    few = (few * (_FEW_DOCS // len(few) + 1))[:_FEW_DOCS]
    small = fast.transform(few)
    large = fast.transform([*few, "one more document"])[: len(few)]
    assert small.dtype == large.dtype == np.float32
    small.sort_indices()
    large.sort_indices()
    np.testing.assert_array_equal(small.indptr, large.indptr)
    np.testing.assert_array_equal(small.indices, large.indices)
    np.testing.assert_array_equal(small.data, large.data)
    assert fast.transform(["", "zzzz"]).nnz == 0
    assert fast.transform(["", "zzzz"]).shape == (2, len(fast.vocabulary_))
