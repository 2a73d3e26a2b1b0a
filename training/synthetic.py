"""Generated transactions as the canonical txn frame (see `spendlens.frames`), with labels.

The platform prior is trained on these rows, and tests and benchmarks use them as a tenant's
data. The frame has the columns of a stored transaction after normalization: PII-masked
description, canonical merchant name and id, absolute amount in major units, MCC description
and a UTC `event_timestamp` at midnight of the transaction date.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from spendlens.catalog import load_merchant_catalog
from spendlens.frames import TXN_COLUMNS
from spendlens.generate import GeneratedTransaction, generate_transactions
from spendlens.ingest.types import RawTransaction, Source
from spendlens.money import currency_exponent
from spendlens.normalize.merchant import CatalogEntry, MerchantCatalog
from spendlens.normalize.transaction import Normalizer

if TYPE_CHECKING:
    import pandas as pd

SYNTHETIC_TENANT = "synthetic"


@cache
def shipped_catalog() -> MerchantCatalog:
    """The shipped merchant catalog, as the ingest loader builds it (built once per process)."""
    entries = (CatalogEntry(name=e.name, aliases=e.aliases) for e in load_merchant_catalog())
    return MerchantCatalog.from_entries(entries)


def default_normalizer() -> Normalizer:
    """A normalizer with the shipped catalog and the default (US) phone region."""
    return Normalizer("US", shipped_catalog())


def generated_frame(rows: int, seed: int, tenant: str = SYNTHETIC_TENANT) -> pd.DataFrame:
    """`rows` generated transactions as a canonical txn frame plus `label` (detailed category).

    Args:
        rows: how many transactions to generate.
        seed: the generator's seed; the same seed gives the same frame.
        tenant: the `tenant_id` every row gets.
    """
    return frame_of(generate_transactions(rows, seed), tenant)


def frame_of(txns: Sequence[GeneratedTransaction], tenant: str = SYNTHETIC_TENANT) -> pd.DataFrame:
    """Normalize generated transactions into the canonical txn frame plus a `label` column."""
    import pandas as pd  # noqa: PLC0415 - keep pandas off the import path of light callers

    normalize = default_normalizer()
    records = []
    for number, txn in enumerate(txns, start=1):
        row = normalize(
            RawTransaction(
                line_no=number,
                source=Source.CSV,
                txn_date=txn.date,
                description=txn.description,
                amount_minor=txn.amount_minor,
                currency=txn.currency,
                direction=txn.direction,
                mcc=txn.mcc,
                account_ref=txn.account,
            )
        )
        records.append(
            (
                txn.id,
                tenant,
                txn.account,
                txn.date,
                row.description,
                row.merchant.name,
                row.merchant.merchant_id,
                row.amount_minor / 10 ** currency_exponent(row.currency),
                row.currency,
                row.direction.value,
                row.mcc,
                row.mcc_description,
                txn.category,
            )
        )
    frame = pd.DataFrame.from_records(records, columns=[*TXN_COLUMNS, "label"])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"]).dt.tz_localize("UTC")
    frame["amount"] = frame["amount"].astype("float64")
    return frame
