"""Normalizing one parsed row: masking, merchant, MCC, fingerprint parts and safe references."""

from __future__ import annotations

import datetime as dt

from spendlens.ingest.types import Direction, RawTransaction, Source
from spendlens.normalize.transaction import Normalizer, fingerprint


def _raw(**kw: object) -> RawTransaction:
    values: dict[str, object] = {
        "line_no": 2,
        "source": Source.CSV,
        "txn_date": dt.date(2024, 11, 5),
        "description": "SQ *BLUE BOTTLE COFFEE 4111 1111 1111 1111",
        "amount_minor": 450,
        "currency": "usd",
        "direction": Direction.DEBIT,
        "mcc": "5814",
    }
    values.update(kw)
    return RawTransaction(**values)  # type: ignore[arg-type]


def test_row_is_masked_and_enriched_before_storage() -> None:
    row = Normalizer()(_raw())
    assert "4111" not in row.description
    assert "<CARD>" in row.description
    assert row.account_tail == "1111"  # the card's last four digits survive as a field
    assert row.merchant.processor == "SQUARE"
    assert row.merchant.name.startswith("BLUE BOTTLE")
    assert row.currency == "USD"
    assert row.mcc_description  # described via iso18245
    assert row.posted_date == row.txn_date


def test_a_reference_that_carries_pii_is_stored_only_as_a_digest() -> None:
    normalize = Normalizer()
    assert normalize(_raw(source_ref="TXN-123")).source_ref == "TXN-123"
    hidden = normalize(_raw(source_ref="jane.doe@example.com")).source_ref
    assert hidden is not None
    assert hidden.startswith("sha256:")
    assert "jane" not in hidden


def test_content_key_ignores_case_and_spacing_but_not_amount_or_account() -> None:
    normalize = Normalizer()
    a = normalize(_raw(description="KING SOOPERS #0412"))
    b = normalize(_raw(description="king  soopers #0412"))
    c = normalize(_raw(description="KING SOOPERS #0412", amount_minor=451))
    assert a.content_key("acct") == b.content_key("acct")
    assert a.content_key("acct") != c.content_key("acct")
    assert a.content_key("acct") != a.content_key("other")


def test_identical_rows_get_distinct_fingerprints_by_occurrence() -> None:
    assert fingerprint("k", 0) != fingerprint("k", 1)
    assert fingerprint("k", 0) == fingerprint("k", 0)


def test_an_alert_that_names_no_merchant_gets_the_unknown_merchant() -> None:
    alert = _raw(source=Source.SMS, description="A deposit of $1,200.00 was made to your account")
    assert Normalizer()(alert).merchant.name == "UNKNOWN"
    named = _raw(source=Source.SMS, description="x", merchant_hint="STARBUCKS")
    assert Normalizer()(named).merchant.name == "STARBUCKS"
