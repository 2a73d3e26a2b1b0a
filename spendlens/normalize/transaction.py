"""Turn a parsed row into a storable one: mask PII, canonicalize the merchant, describe the MCC."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from spendlens.ingest.types import Direction, RawTransaction, Source
from spendlens.normalize.mcc import describe_mcc, normalize_mcc
from spendlens.normalize.merchant import (
    UNKNOWN,
    Merchant,
    MerchantCatalog,
    clear_module_caches,
    merchant_id,
    normalize_merchant,
)
from spendlens.normalize.pii import MaskResult, mask_pii


@dataclass(frozen=True, slots=True)
class NormalizedTransaction:
    """A transaction ready for storage: no raw PII left in any text field."""

    line_no: int
    source: Source
    txn_date: dt.date
    posted_date: dt.date
    posted_at: dt.datetime | None
    description: str
    memo: str | None
    merchant: Merchant
    amount_minor: int
    currency: str
    direction: Direction
    balance_minor: int | None
    mcc: str | None
    mcc_description: str | None
    account_ref: str | None
    account_tail: str | None
    source_ref: str | None
    category: str | None

    def content_key(self, account_key: str) -> str:
        """What makes two rows the same transaction when the source gives no stable id."""
        text = " ".join(self.description.upper().split())
        return "|".join(
            (
                "sms" if self.source is Source.SMS else "statement",
                account_key,
                self.txn_date.isoformat(),
                str(self.amount_minor),
                self.currency,
                self.direction.value,
                text,
            )
        )


def fingerprint(parts: str, occurrence: int = 0) -> str:
    """Stable sha256 fingerprint; `occurrence` tells apart identical rows of one file."""
    return hashlib.sha256(f"{parts}#{occurrence}".encode()).hexdigest()


class Normalizer:
    """Normalizes rows with per-instance caches (descriptors repeat heavily in statements)."""

    def __init__(self, phone_region: str = "US", catalog: MerchantCatalog | None = None) -> None:
        self._region = phone_region
        self._catalog = catalog
        self._mask = lru_cache(maxsize=200_000)(self._mask_uncached)

    def _mask_uncached(self, text: str) -> MaskResult:
        return mask_pii(text, region=self._region)

    def mask(self, text: str) -> MaskResult:
        """Mask PII in one text (cached)."""
        return self._mask(text)

    def clear_caches(self) -> None:
        """Empty the memos behind normalization (masks, merchants); they refill on use.

        Sized for statement files (a 100,000-row file has ~80,000 distinct descriptors), they
        would otherwise grow for as long as a service sees new descriptors.
        """
        self._mask.cache_clear()
        if self._catalog is not None:
            self._catalog.clear_caches()
        clear_module_caches()

    def __call__(self, raw: RawTransaction) -> NormalizedTransaction:
        """Normalize one parsed row."""
        desc = self._mask(raw.description)
        memo = self._mask(raw.memo).text if raw.memo else None
        hint = self._mask(raw.merchant_hint).text if raw.merchant_hint else None
        if raw.source is Source.SMS and hint is None:
            # An alert names its counterparty or nothing; the rest of its text is not a merchant.
            merchant = Merchant(UNKNOWN, merchant_id(UNKNOWN), None)
        else:
            merchant = normalize_merchant(desc.text, self._catalog, hint=hint)
        mcc = normalize_mcc(raw.mcc)
        info = describe_mcc(mcc) if mcc else None
        return NormalizedTransaction(
            line_no=raw.line_no,
            source=raw.source,
            txn_date=raw.txn_date,
            posted_date=raw.posted_date or raw.txn_date,
            posted_at=raw.posted_at,
            description=desc.text,
            memo=memo,
            merchant=merchant,
            amount_minor=raw.amount_minor,
            currency=raw.currency.upper(),
            direction=raw.direction,
            balance_minor=raw.balance_minor,
            mcc=mcc,
            mcc_description=info.description if info else None,
            account_ref=raw.account_ref,
            account_tail=raw.account_tail or desc.card_tail or desc.account_tail,
            source_ref=self._safe_ref(raw.source_ref),
            category=raw.category,
        )

    def _safe_ref(self, ref: str | None) -> str | None:
        # A reference is kept for idempotency, but if it carries PII only a digest is stored.
        if not ref:
            return None
        if self._mask(ref).kinds or len(ref) > 128:
            return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()[:32]
        return ref
