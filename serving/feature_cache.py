"""Online features kept in the serving process for a short while, in front of Feast.

Online features change only when a training or backfill flow materializes them, so serving a
value up to `feature_cache_seconds` old changes nothing between materializations and delays
a new one by at most that long. A cached (account, merchant) pair skips Feast, which costs
about 90 us per distinct pair it returns (it decodes every value in Python; measured on a
batch of 1,000 transactions naming 487 merchants: 45 ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from serving.runtime import FeatureReader
from training.columns import as_columns

Key = tuple[str, str, str, str]  # tenant, taxonomy, account, merchant
_Entry = tuple[float, tuple[Any, ...]]  # (expires at, one value per column)


class CachedFeatures:
    """A FeatureReader that asks `read` only for rows it has no fresh values of."""

    def __init__(
        self,
        read: FeatureReader,
        ttl_seconds: float,
        *,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args:
        read: the reader behind the cache (Feast's).
        ttl_seconds: how long a value read is served again.
        max_entries: the bound of the cache; when full it starts over (memory stays flat).
        clock: seconds, monotonic (tests pass a fake).
        """
        self._read = read
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._names: tuple[str, ...] = ()
        self._dtypes: dict[str, np.dtype[Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, rows: list[dict[str, Any]]) -> pd.DataFrame | Mapping[str, np.ndarray]:
        """The features of `rows`, in order, as the reader's columns."""
        if not rows:
            return self._read(rows)
        now = self._clock()
        keys = [_key(row) for row in rows]
        values: list[tuple[Any, ...]] = []
        missing: list[int] = []
        for i, key in enumerate(keys):
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                values.append(entry[1])
            else:
                values.append(())
                missing.append(i)
        if missing:
            fetched = self._fetch([rows[i] for i in missing], [keys[i] for i in missing], now)
            for i, found in zip(missing, fetched, strict=True):
                values[i] = found
        return {
            name: np.array([value[j] for value in values], dtype=self._dtypes[name])
            for j, name in enumerate(self._names)
        }

    def clear(self) -> None:
        """Forget every cached value (the next read of each pair asks the reader)."""
        with self._lock:
            self._entries = {}

    def _fetch(
        self, rows: list[dict[str, Any]], keys: list[Key], now: float
    ) -> list[tuple[Any, ...]]:
        """Read `rows` through the reader and keep their values until `now` + the TTL."""
        columns = as_columns(self._read(rows))
        with self._lock:
            if not self._names:
                self._names = tuple(columns.columns)
                self._dtypes = {name: columns[name].dtype for name in self._names}
            if len(self._entries) + len(keys) > self._max:
                self._entries.clear()
            found = list(zip(*(columns[name].tolist() for name in self._names), strict=True))
            expires = now + self._ttl
            for key, value in zip(keys, found, strict=True):
                self._entries[key] = (expires, value)
        return found


def cached(read: FeatureReader, ttl_seconds: float) -> FeatureReader:
    """`read` behind a CachedFeatures, or `read` itself when the TTL is 0 (no caching)."""
    return CachedFeatures(read, ttl_seconds) if ttl_seconds > 0 else read


def _key(row: Mapping[str, Any]) -> Key:
    tenant = row["tenant"] if "tenant" in row else row["tenant_id"]
    return (str(tenant), str(row["taxonomy"]), str(row["account_id"]), str(row["merchant_id"]))
