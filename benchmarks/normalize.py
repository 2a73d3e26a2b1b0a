"""Merchant normalization: accuracy on generated rows against a trivial baseline, and speed.

A row counts as right when the normalizer's merchant id is the id of the ground-truth merchant's
canonical name (`canonical_name`, the spelling `Merchant.name` always has). The baseline is what
a user would write first: upper-case the descriptor and drop digits and punctuation.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from spendlens.catalog import load_merchant_catalog
from spendlens.generate import GeneratedTransaction, generate_transactions, sms_alerts
from spendlens.ingest.sms import parse_sms
from spendlens.ingest.types import RawTransaction
from spendlens.normalize.merchant import (
    CatalogEntry,
    MerchantCatalog,
    canonical_name,
    merchant_id,
    normalize_merchant,
)
from spendlens.normalize.transaction import Normalizer
from spendlens.settings import Settings

ACCURACY_ROWS, ACCURACY_SEED = 20_000, 3
SPEED_ROWS, SPEED_SEED = 100_000, 1
SPEED_TARGET_S = 1.5
SMS_ROWS, SMS_SEED = 5_000, 2
_NOT_LETTERS = re.compile(r"[^A-Z ]+")


def baseline_id(description: str) -> str:
    """The trivial normalizer: upper case, digits and punctuation dropped, spaces collapsed."""
    return merchant_id(" ".join(_NOT_LETTERS.sub(" ", description.upper()).split()))


def run() -> dict[str, Any]:
    """Accuracy (overall, per country) for the normalizer and the baseline; speed; SMS hints."""
    normalizer, catalog = _shipped()
    txns = generate_transactions(ACCURACY_ROWS, seed=ACCURACY_SEED)
    masked = [normalizer.mask(t.description).text for t in txns]
    normalized = _accuracy(txns, [normalize_merchant(m, catalog).merchant_id for m in masked])
    baseline = _accuracy(txns, [baseline_id(t.description) for t in txns])
    return {
        "rows": ACCURACY_ROWS,
        "seed": ACCURACY_SEED,
        "accuracy": normalized,
        "baseline_accuracy": baseline,
        "speed": _speed(),
        "sms_counterparty": _sms_counterparty(normalizer, catalog),
    }


def _accuracy(txns: Sequence[GeneratedTransaction], ids: Sequence[str]) -> dict[str, float]:
    """Share of rows whose id is the truth's, overall and per merchant country."""
    rows: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for txn, found in zip(txns, ids, strict=True):
        hit = found == _truth_id(txn.merchant)
        for key in ("overall", txn.country):
            rows[key] += 1
            right[key] += hit
    return {key: round(right[key] / rows[key], 4) for key in sorted(rows, key=_overall_first)}


def _speed() -> dict[str, Any]:
    """Seconds to normalize 100,000 masked descriptors with a fresh catalog (cold caches)."""
    normalizer, catalog = _shipped()
    masked = [
        normalizer.mask(t.description).text
        for t in generate_transactions(SPEED_ROWS, seed=SPEED_SEED)
    ]
    seconds = _timed(lambda: [normalize_merchant(m, catalog) for m in masked])
    return {
        "rows": SPEED_ROWS,
        "unique_descriptors": len(set(masked)),
        "seconds": round(seconds, 3),
        "target_s": SPEED_TARGET_S,
    }


def _sms_counterparty(normalizer: Normalizer, catalog: MerchantCatalog) -> dict[str, Any]:
    """Of the alerts for a transaction with a merchant, the share whose hint names it."""
    received = dt.date(2100, 1, 1)
    alerts = right = named = 0
    for txn, line in sms_alerts(generate_transactions(SMS_ROWS, seed=SMS_SEED)):
        if txn is None or not txn.merchant:
            continue
        alerts += 1
        parsed = parse_sms(line, alerts, received)
        if not isinstance(parsed, RawTransaction) or parsed.merchant_hint is None:
            continue
        named += 1
        hint = normalizer.mask(parsed.merchant_hint).text
        right += normalize_merchant(hint, catalog).merchant_id == _truth_id(txn.merchant)
    return {
        "alerts_with_merchant": alerts,
        "alerts_naming_a_counterparty": named,
        "hint_is_the_merchant": round(right / alerts, 4),
        "hint_is_the_merchant_when_named": round(right / named, 4),
    }


def _shipped() -> tuple[Normalizer, MerchantCatalog]:
    """A PII masker and a fresh (cold-cache) copy of the shipped catalog, as the loader builds."""
    entries = (CatalogEntry(name=e.name, aliases=e.aliases) for e in load_merchant_catalog())
    catalog = MerchantCatalog.from_entries(entries)
    return Normalizer(Settings().phone_region, catalog), catalog


def _truth_id(merchant: str) -> str:
    return merchant_id(canonical_name(merchant))


def _overall_first(key: str) -> tuple[bool, str]:
    return key != "overall", key


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
