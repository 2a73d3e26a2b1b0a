"""The online-feature cache in front of Feast: fewer reads, the same values, bounded staleness."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.feature_cache import CachedFeatures, cached


class CountingReader:
    """A fake Feast reader: features derived from the merchant, every row it was asked for."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.version = 1  # bumped by a test to stand for a new materialization

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        self.asked.append([f"{r['account_id']}|{r['merchant_id']}" for r in rows])
        merchants = [str(r["merchant_id"]) for r in rows]
        return {
            "m_txn_count": np.array([len(m) * self.version for m in merchants], dtype=np.int64),
            "m_amount_median": np.array([len(m) / 3 for m in merchants], dtype=np.float64),
            "m_confirmed_top": np.array([m.upper() for m in merchants], dtype=object),
        }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(merchant: str, account: str = "acc1", tenant: str = "acme") -> dict[str, Any]:
    return {"tenant": tenant, "taxonomy": "default", "account_id": account, "merchant_id": merchant}


def test_a_batch_repeating_cached_pairs_asks_the_reader_only_for_new_ones() -> None:
    reader, clock = CountingReader(), Clock()
    features = CachedFeatures(reader, 60, clock=clock)

    first = features([row("cafe"), row("bakery")])
    second = features([row("bakery"), row("cafe"), row("grocer"), row("cafe", account="acc2")])

    assert reader.asked == [["acc1|cafe", "acc1|bakery"], ["acc1|grocer", "acc2|cafe"]]
    assert list(second) == ["m_txn_count", "m_amount_median", "m_confirmed_top"]
    assert second["m_confirmed_top"].tolist() == ["BAKERY", "CAFE", "GROCER", "CAFE"]
    assert second["m_txn_count"].tolist() == [6, 4, 6, 4]
    assert first["m_amount_median"].tolist() == pytest.approx([4 / 3, 2.0])
    assert [second[c].dtype for c in second] == [np.int64, np.float64, np.dtype(object)]


def test_cached_values_equal_what_the_reader_returns_row_by_row() -> None:
    reader = CountingReader()
    features = CachedFeatures(reader, 60, clock=Clock())
    rows = [row(m, account=a) for m, a in [("a", "1"), ("bb", "1"), ("a", "2"), ("a", "1")]]

    features(rows[:2])
    got = features(rows)
    direct = CountingReader()(rows)

    for column, values in direct.items():
        assert got[column].tolist() == values.tolist()
        assert got[column].dtype == values.dtype


def test_values_older_than_the_ttl_are_read_again() -> None:
    reader, clock = CountingReader(), Clock()
    features = CachedFeatures(reader, 60, clock=clock)
    assert features([row("cafe")])["m_txn_count"].tolist() == [4]

    reader.version = 2  # a flow materialized new values
    clock.now += 59
    assert features([row("cafe")])["m_txn_count"].tolist() == [4]  # still within the TTL
    clock.now += 2
    assert features([row("cafe")])["m_txn_count"].tolist() == [8]
    assert len(reader.asked) == 2


def test_tenants_and_taxonomies_never_share_an_entry() -> None:
    reader = CountingReader()
    features = CachedFeatures(reader, 60, clock=Clock())
    features([row("cafe", tenant="acme")])
    features([row("cafe", tenant="zeta"), {**row("cafe"), "taxonomy": "plaid"}])
    assert reader.asked == [["acc1|cafe"], ["acc1|cafe", "acc1|cafe"]]


def test_the_cache_stays_within_its_bound() -> None:
    reader = CountingReader()
    features = CachedFeatures(reader, 60, max_entries=10, clock=Clock())
    for start in range(0, 40, 4):
        features([row(f"m{i}") for i in range(start, start + 4)])
        assert len(features._entries) <= 10
    features([row("m39")])  # the newest entries survive a restart of the cache
    assert len(reader.asked) == 10


def test_a_zero_ttl_means_no_cache() -> None:
    reader = CountingReader()
    assert cached(reader, 0) is reader
    assert isinstance(cached(reader, 5), CachedFeatures)


def test_an_empty_batch_goes_to_the_reader() -> None:
    def read(rows: list[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame({"m_txn_count": pd.Series([], dtype=np.int64)})

    got = CachedFeatures(read, 60)([])
    assert isinstance(got, pd.DataFrame)
    assert list(got.columns) == ["m_txn_count"]
