"""Pair an SMS alert with the statement row of the same transaction (pure matching)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from spendlens.normalize.merchant import UNKNOWN


@dataclass(frozen=True, slots=True)
class LinkKey:
    """The fields that decide whether two records are one transaction."""

    id: str
    txn_date: dt.date
    amount_minor: int
    currency: str
    direction: str
    account_tail: str | None
    merchant: str


def merchant_similarity(a: str, b: str) -> float:
    """0-100; token-set so that 'AMAZON' matches 'AMAZON MARKETPLACE'."""
    return float(fuzz.token_set_ratio(a, b))


def match_links(
    new: Sequence[LinkKey],
    candidates: Sequence[LinkKey],
    max_days: int = 2,
    min_similarity: float = 70.0,
) -> list[tuple[str, str]]:
    """Greedy one-to-one pairing of new records with stored ones.

    Both sides must share account tail, amount, currency and direction, lie within `max_days`
    and have similar merchants. Each candidate is used at most once; the most similar merchant,
    then the nearest date, wins.

    Returns:
        (new id, candidate id) pairs.
    """
    index: dict[tuple[str, int, str, str], list[LinkKey]] = defaultdict(list)
    for cand in candidates:
        if cand.account_tail:
            key = (cand.account_tail, cand.amount_minor, cand.currency, cand.direction)
            index[key].append(cand)
    used: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for row in new:
        if not row.account_tail:
            continue
        best: tuple[float, int, str] | None = None
        for cand in index.get(
            (row.account_tail, row.amount_minor, row.currency, row.direction), []
        ):
            days = abs((cand.txn_date - row.txn_date).days)
            if cand.id in used or days > max_days:
                continue
            known = UNKNOWN not in (row.merchant, cand.merchant)
            score = merchant_similarity(row.merchant, cand.merchant) if known else min_similarity
            if score < min_similarity:
                continue
            ranked = (score, -days, cand.id)
            if best is None or ranked[:2] > best[:2]:
                best = ranked
        if best is not None:
            used.add(best[2])
            pairs.append((row.id, best[2]))
    return pairs
