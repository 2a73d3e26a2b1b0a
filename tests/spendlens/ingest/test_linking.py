"""Pairing SMS alerts with statement rows (pure matching, no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from spendlens.ingest.linking import LinkKey, match_links

DAY = dt.date(2024, 11, 5)


def _key(id_: str, days: int = 0, **kw: object) -> LinkKey:
    values: dict[str, object] = {
        "id": id_,
        "txn_date": DAY + dt.timedelta(days=days),
        "amount_minor": 2500,
        "currency": "INR",
        "direction": "debit",
        "account_tail": "1234",
        "merchant": "AMAZON",
    }
    values.update(kw)
    return LinkKey(**values)  # type: ignore[arg-type]


def test_alert_links_to_the_statement_row_of_the_same_purchase() -> None:
    pairs = match_links([_key("sms")], [_key("row", days=1, merchant="AMAZON MARKETPLACE")])
    assert pairs == [("sms", "row")]


@pytest.mark.parametrize(
    "other",
    [
        {"amount_minor": 2501},
        {"currency": "USD"},
        {"direction": "credit"},
        {"account_tail": "9999"},
        {"account_tail": None},
        {"merchant": "ZOMATO"},
        {"days": 3},
    ],
    ids=["amount", "currency", "direction", "tail", "no-tail", "merchant", "three-days"],
)
def test_any_disagreement_prevents_a_link(other: dict[str, object]) -> None:
    days = int(str(other.pop("days", 0)))
    assert match_links([_key("sms")], [_key("row", days, **other)]) == []


def test_each_statement_row_takes_at_most_one_alert_and_the_nearest_date_wins() -> None:
    alerts = [_key("sms-a"), _key("sms-b")]
    rows = [_key("far", days=2), _key("near", days=0)]
    assert match_links(alerts, rows) == [("sms-a", "near"), ("sms-b", "far")]


def test_window_and_similarity_are_settings() -> None:
    far = [_key("row", days=4)]
    assert match_links([_key("sms")], far, max_days=2) == []
    assert match_links([_key("sms")], far, max_days=5) == [("sms", "row")]
    near_name = [_key("row", merchant="STARBUCK")]
    alert = [_key("sms", merchant="STARBUCKS")]
    assert match_links(alert, near_name, min_similarity=70) == [("sms", "row")]
    assert match_links(alert, near_name, min_similarity=99) == []


def test_an_alert_without_a_merchant_links_on_account_amount_and_date() -> None:
    assert match_links([_key("sms", merchant="UNKNOWN")], [_key("row")]) == [("sms", "row")]
    named = [_key("named", merchant="AMAZON"), _key("unnamed", merchant="UNKNOWN")]
    # A real name match beats a match on everything but the name.
    assert match_links([_key("sms")], named[::-1]) == [("sms", "named")]
