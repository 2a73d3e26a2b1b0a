"""The synthetic data generator: determinism, coverage, realism and the three output formats."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml

from spendlens.generate import (
    CSV_HEADER,
    GeneratedTransaction,
    _parse_vocab,
    generate_transactions,
    sms_alerts,
    write_csv,
    write_json,
    write_sms,
)
from spendlens.ingest.csv_statement import parse_csv
from spendlens.ingest.sms import parse_sms
from spendlens.ingest.types import Direction, RawTransaction, Reject
from spendlens.money import to_minor
from spendlens.normalize.mcc import describe_mcc
from spendlens.taxonomy import load_default_taxonomy

DEBIT, CREDIT = Direction.DEBIT, Direction.CREDIT
CURRENCIES = {"USD", "GBP", "EUR", "INR", "KES"}
# Loans are traits of a whole account (a car loan, student debt, a BNPL plan): the nine
# accounts of a 20k sample may happen to have none of one kind. Every other label shows up.
MAY_BE_ABSENT_IN_20K = {
    "LOAN_PAYMENTS_CAR_PAYMENT",
    "LOAN_PAYMENTS_PERSONAL_LOAN_PAYMENT",
    "LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT",
    "LOAN_PAYMENTS_OTHER_PAYMENT",
}
# Primary categories whose rows are card purchases (bills and subscriptions aside).
CARD_PRIMARIES = ("FOOD_AND_DRINK_", "GENERAL_MERCHANDISE_", "TRANSPORTATION_")
PII_RE = re.compile(r"@example\.com|\+\d{1,3} [\d ]{7,}|\b(?:\d{4} ?){3}\d{4}\b|\bACCT \d{9,12}\b")


@pytest.fixture(scope="module")
def sample() -> list[GeneratedTransaction]:
    return generate_transactions(20_000, seed=11)


@functools.cache
def _big_run() -> tuple[list[GeneratedTransaction], float]:
    """100k rows plus their CSV, and how long both took (shared by the tests that need it)."""
    began = time.perf_counter()
    txns = generate_transactions(100_000, seed=1)
    write_csv(txns, io.StringIO())
    return txns, time.perf_counter() - began


def _csv_text(txns: list[GeneratedTransaction]) -> str:
    out = io.StringIO()
    write_csv(txns, out)
    return out.getvalue()


# --- determinism and shape ---------------------------------------------------------------


def test_the_same_seed_gives_identical_output() -> None:
    first, second = generate_transactions(1500, seed=5), generate_transactions(1500, seed=5)
    assert first == second
    assert _csv_text(first) == _csv_text(second)


def test_a_different_seed_gives_different_output() -> None:
    first, second = generate_transactions(500, seed=5), generate_transactions(500, seed=6)
    assert [t.description for t in first] != [t.description for t in second]
    assert {t.id for t in first}.isdisjoint(t.id for t in second)


def test_output_does_not_depend_on_the_hash_seed() -> None:
    # Iterating a set or dict of strings would make the output vary between interpreter runs.
    script = (
        "import hashlib, io; from spendlens.generate import generate_transactions, write_csv;"
        "o = io.StringIO(); write_csv(generate_transactions(300, seed=4), o);"
        "print(hashlib.sha256(o.getvalue().encode()).hexdigest())"
    )
    digests = {
        subprocess.run(  # noqa: S603 -- runs this interpreter on a constant script
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


@pytest.mark.parametrize(
    ("rows", "start"),
    [
        (1, dt.date(2024, 1, 1)),
        (7, dt.date(2024, 1, 1)),
        (999, dt.date(2023, 1, 31)),
        (3001, dt.date(2025, 6, 15)),
    ],
)
def test_exactly_the_requested_rows_sorted_by_date_from_start(rows: int, start: dt.date) -> None:
    txns = generate_transactions(rows, seed=2, start=start)
    assert len(txns) == rows
    dates = [t.date for t in txns]
    assert dates == sorted(dates)
    assert dates[0] >= start
    assert len({t.id for t in txns}) == rows


def test_zero_rows_is_empty_and_negative_rows_are_refused() -> None:
    assert generate_transactions(0, seed=1) == []
    with pytest.raises(ValueError, match="negative"):
        generate_transactions(-1, seed=1)


# --- labels and coverage -----------------------------------------------------------------


def test_every_category_is_a_detailed_default_label(sample: list[GeneratedTransaction]) -> None:
    leaves = set(load_default_taxonomy().leaves())
    assert {t.category for t in sample} <= leaves


def test_a_20k_sample_covers_nearly_every_label(sample: list[GeneratedTransaction]) -> None:
    leaves = set(load_default_taxonomy().leaves())
    absent = leaves - {t.category for t in sample}
    assert absent <= MAY_BE_ABSENT_IN_20K, sorted(absent)


def test_a_100k_sample_covers_every_label() -> None:
    txns, _ = _big_run()
    assert set(load_default_taxonomy().leaves()) == {t.category for t in txns}


@pytest.mark.parametrize(
    ("category", "at_least"),
    [
        # About 10% under what seed 1 gives: 667, 891, 643, 541, 422, 354, 315.
        ("FOOD_AND_DRINK_GROCERIES", 600),
        ("FOOD_AND_DRINK_RESTAURANT", 800),
        ("FOOD_AND_DRINK_FAST_FOOD", 580),
        ("FOOD_AND_DRINK_COFFEE", 490),
        ("GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES", 380),
        ("GENERAL_MERCHANDISE_CONVENIENCE_STORES", 320),
        ("TRANSPORTATION_GAS", 285),
    ],
)
def test_big_categories_have_hundreds_of_distinct_merchants(category: str, at_least: int) -> None:
    txns, _ = _big_run()
    merchants = {t.merchant for t in txns if t.category == category}
    assert len(merchants) >= at_least


def test_100k_rows_and_their_csv_take_seconds_not_minutes() -> None:
    _, seconds = _big_run()
    # About 2.5 s on a laptop; the bound leaves room for slow CI machines.
    assert seconds < 15


def test_income_and_outgoing_transfers_have_the_right_direction(
    sample: list[GeneratedTransaction],
) -> None:
    directions: defaultdict[str, set[Direction]] = defaultdict(set)
    for t in sample:
        directions[t.category].add(t.direction)
    for category, seen in directions.items():
        if category.startswith(("INCOME_", "TRANSFER_IN_")):
            assert seen == {CREDIT}, category
        if category.startswith(("TRANSFER_OUT_", "BANK_FEES_", "LOAN_PAYMENTS_")):
            assert seen == {DEBIT}, category


def test_refunds_are_credits_in_the_category_of_an_earlier_purchase(
    sample: list[GeneratedTransaction],
) -> None:
    first_bought: dict[tuple[str, str, str], dt.date] = {}
    for t in sample:  # sorted by date, so the first purchase seen is the earliest
        if t.direction is DEBIT:
            first_bought.setdefault((t.account, t.merchant, t.category), t.date)
    refunds = [
        t
        for t in sample
        if t.direction is CREDIT and t.category.startswith(("FOOD_", "GENERAL_MERCHANDISE_"))
    ]
    assert len(refunds) > 20
    for refund in refunds:
        bought = first_bought.get((refund.account, refund.merchant, refund.category))
        assert bought is not None, refund
        assert bought <= refund.date, refund


# --- accounts, amounts, codes ------------------------------------------------------------


def test_a_data_set_spans_several_countries_and_currencies(
    sample: list[GeneratedTransaction],
) -> None:
    assert {t.currency for t in sample} == CURRENCIES
    assert len({t.country for t in sample}) >= 5
    currency_of: dict[str, set[str]] = defaultdict(set)
    for t in sample:
        currency_of[t.account].add(t.currency)
        assert re.fullmatch(r"\d{4}", t.account_tail)
        assert t.account.endswith(t.account_tail)
    assert 3 <= len(currency_of) <= 40
    assert all(len(currencies) == 1 for currencies in currency_of.values())
    assert len({t.account_tail for t in sample}) == len(currency_of)


def test_salary_arrives_every_month_and_rent_is_a_fixed_amount(
    sample: list[GeneratedTransaction],
) -> None:
    # Whole months after the first three, when one holder is out of work.
    months = sorted({(t.date.year, t.date.month) for t in sample})[3:-1]
    wages: defaultdict[str, set[tuple[int, int]]] = defaultdict(set)
    rents: defaultdict[str, set[int]] = defaultdict(set)
    for t in sample:
        if t.category == "INCOME_WAGES":
            wages[t.account].add((t.date.year, t.date.month))
        if t.category == "RENT_AND_UTILITIES_RENT":
            rents[t.account].add(t.amount_minor)
    assert wages
    assert all(set(months) <= paid for paid in wages.values())
    assert rents
    assert all(len(amounts) == 1 for amounts in rents.values())


def test_amounts_are_positive_and_sized_by_category(sample: list[GeneratedTransaction]) -> None:
    assert all(t.amount_minor > 0 for t in sample)

    def median_usd(category: str) -> float:
        return statistics.median(
            t.amount_minor / 100 for t in sample if t.category == category and t.currency == "USD"
        )

    assert 20 < median_usd("FOOD_AND_DRINK_GROCERIES") < 120
    assert 3 < median_usd("FOOD_AND_DRINK_COFFEE") < 10
    assert median_usd("TRAVEL_LODGING") > median_usd("FOOD_AND_DRINK_RESTAURANT")
    assert median_usd("INCOME_WAGES") > 20 * median_usd("FOOD_AND_DRINK_GROCERIES")
    rupees = [t.amount_minor for t in sample if t.currency == "INR"]
    assert sum(minor % 100 == 0 for minor in rupees) / len(rupees) > 0.5  # mostly whole rupees


def test_about_70_percent_of_card_purchases_carry_a_known_mcc(
    sample: list[GeneratedTransaction],
) -> None:
    card = [
        t
        for t in sample
        if t.direction is DEBIT and t.category.startswith(CARD_PRIMARIES) and t.currency != "KES"
    ]
    share = sum(t.mcc is not None for t in card) / len(card)
    assert 0.6 < share < 0.8
    assert all(t.mcc is None for t in sample if t.currency == "KES")  # M-PESA prints none
    assert all(describe_mcc(code) for code in {t.mcc for t in sample if t.mcc})


# --- descriptor noise --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "at_least"),
    [
        pytest.param(r"^(?:.* )?SQ \*", 20, id="square-prefix"),
        pytest.param(r"^(?:.* )?TST\* ", 10, id="toast-prefix"),  # US restaurants only
        pytest.param(r"PAYPAL \*", 20, id="paypal-prefix"),
        pytest.param(r"AMZN Mktp [A-Z]{2}\*[A-Z0-9]{9}", 20, id="amazon-order-id"),
        pytest.param(r" #\d{3,4}\b", 100, id="store-number"),
        pytest.param(r" [A-Z]{2}$", 100, id="city-and-state"),
        pytest.param(r"\S {2,}\S", 100, id="fixed-width-columns"),
        pytest.param(
            r"^(?:POS PURCHASE|CARD PAYMENT TO|KARTENZAHLUNG|CB \d\d/\d\d) ", 50, id="bank-prefix"
        ),
        pytest.param(r"^[A-Z][a-z]+\b", 500, id="title-case"),
        pytest.param(r" \d{6,}$", 100, id="reference-id"),
        pytest.param(r"^MERCHANT PAYMENT TO \d{6} - ", 100, id="m-pesa-till"),
    ],
)
def test_descriptors_carry_bank_statement_noise(
    sample: list[GeneratedTransaction], pattern: str, at_least: int
) -> None:
    regex = re.compile(pattern)
    assert sum(bool(regex.search(t.description)) for t in sample) >= at_least


def test_long_names_are_truncated_to_the_card_network_field(
    sample: list[GeneratedTransaction],
) -> None:
    long_names = [t for t in sample if len(t.merchant) > 26 and t.category.startswith("FOOD_")]
    cut = [t for t in long_names if t.merchant not in t.description.upper().replace("'", "")]
    assert len(cut) > len(long_names) / 5


def test_about_one_percent_of_descriptors_carry_pii(sample: list[GeneratedTransaction]) -> None:
    found = [t.description for t in sample if PII_RE.search(t.description)]
    assert 0.005 < len(found) / len(sample) < 0.02
    text = "\n".join(found)
    assert "@example.com" in text
    assert re.search(r"\b4111 ?1111 ?1111 ?1111\b", text)
    assert re.search(r"\+1 415 555 01\d\d|\+44 7700 900\d{3}", text)
    assert re.search(r"TRANSFER (?:TO|FROM) [A-Z ]+ ACCT \d{9,12}", text)


# --- CSV and JSON ------------------------------------------------------------------------


def test_csv_round_trips_through_dict_reader(sample: list[GeneratedTransaction]) -> None:
    reader = csv.DictReader(io.StringIO(_csv_text(sample)))
    assert tuple(reader.fieldnames or ()) == CSV_HEADER
    rows = list(reader)
    assert len(rows) == len(sample)
    for row, t in zip(rows, sample, strict=True):
        signed = to_minor(Decimal(row["Amount"]), row["Currency"])
        assert signed == (-t.amount_minor if t.direction is DEBIT else t.amount_minor)
        assert re.fullmatch(r"-?\d+\.\d\d", row["Amount"])  # plain decimal, 2 places
        assert dt.date.fromisoformat(row["Date"]) == t.date
        assert (row["Description"], row["Account"], row["Category"]) == (
            t.description,
            t.account_tail,
            t.category,
        )
        assert row["MCC"] == (t.mcc or "")


def test_csv_amount_uses_the_currency_exponent() -> None:
    base = generate_transactions(1, seed=1)[0]
    yen = dataclasses.replace(base, amount_minor=1500, currency="JPY")
    dinar = dataclasses.replace(base, amount_minor=1500, currency="KWD")
    rows = list(csv.reader(io.StringIO(_csv_text([yen, dinar]))))
    sign = "-" if base.direction is DEBIT else ""
    assert [r[2] for r in rows[1:]] == [f"{sign}1500", f"{sign}1.500"]


def test_the_project_csv_parser_reads_generated_statements_exactly() -> None:
    txns = generate_transactions(2000, seed=8)
    result = parse_csv(_csv_text(txns).encode())
    assert result.rejects == []
    got = [
        (r.txn_date, r.amount_minor, r.currency, r.direction, r.account_tail, r.category)
        for r in result.rows
    ]
    expected = [
        (t.date, t.amount_minor, t.currency, t.direction, t.account_tail, t.category) for t in txns
    ]
    assert got == expected


def test_json_has_the_feed_keys_and_merchant_names_on_about_half() -> None:
    txns = generate_transactions(2000, seed=9)
    out = io.StringIO()
    write_json(txns, out)
    items = json.loads(out.getvalue())["transactions"]
    assert len(items) == len(txns)
    required = {"id", "account", "date", "amount", "currency", "description", "mcc", "category"}
    for item, t in zip(items, txns, strict=True):
        assert required <= set(item) <= required | {"merchant_name"}
        assert (item["id"], item["account"]) == (t.id, t.account)
        signed = to_minor(Decimal(item["amount"]), item["currency"])
        assert signed == (-t.amount_minor if t.direction is DEBIT else t.amount_minor)
        assert item.get("merchant_name", t.merchant) == t.merchant
    named = sum("merchant_name" in item for item in items) / len(items)
    assert 0.4 < named < 0.6


# --- SMS alerts --------------------------------------------------------------------------


def test_sms_alerts_parse_to_their_transactions(sample: list[GeneratedTransaction]) -> None:
    received = max(t.date for t in sample) + dt.timedelta(days=1)
    pairs = [(t, line) for t, line in sms_alerts(sample[::40]) if t is not None]
    assert len(pairs) > 300
    for number, (txn, line) in enumerate(pairs, start=1):
        parsed = parse_sms(line, number, received)
        assert isinstance(parsed, RawTransaction), (line, parsed)
        assert (parsed.amount_minor, parsed.currency, parsed.direction, parsed.txn_date) == (
            txn.amount_minor,
            txn.currency,
            txn.direction,
            txn.date,
        ), line
        # M-PESA confirmations name no account; every bank alert names the card or account.
        expected_tail = None if txn.currency == "KES" else txn.account_tail
        assert parsed.account_tail == expected_tail, line
    assert {t.currency for t, _ in pairs} == CURRENCIES


def test_sms_alerts_name_the_canonical_merchant_not_the_descriptor(
    sample: list[GeneratedTransaction],
) -> None:
    pairs = [(t, line) for t, line in sms_alerts(sample[:3000]) if t is not None]
    card = [
        (t, line)
        for t, line in pairs
        if t.category.startswith("FOOD_AND_DRINK_") and t.direction is DEBIT
    ]
    assert len(card) > 500
    assert all(t.merchant in line for t, line in card)


def test_otp_and_promo_noise_is_about_3_percent_and_rejected(
    sample: list[GeneratedTransaction],
) -> None:
    pairs = list(sms_alerts(sample[:6000]))
    noise = [line for t, line in pairs if t is None]
    assert 0.015 < len(noise) / len(pairs) < 0.05
    received = sample[-1].date
    for line in noise:
        assert isinstance(parse_sms(line, 1, received), Reject), line


def test_write_sms_writes_the_alert_lines_deterministically_per_transaction(
    sample: list[GeneratedTransaction],
) -> None:
    out = io.StringIO()
    write_sms(sample[:500], out)
    lines = out.getvalue().splitlines()
    assert lines == [line for _, line in sms_alerts(sample[:500])]
    # An alert depends only on its transaction, so a slice yields a prefix of the whole.
    head = io.StringIO()
    write_sms(sample[:200], head)
    assert lines[: len(head.getvalue().splitlines())] == head.getvalue().splitlines()
    assert Counter(lines).most_common(1)[0][1] < 5  # no template stamped out verbatim


# --- the vocabulary file -----------------------------------------------------------------


def _vocab_data() -> Any:
    text = resources.files("spendlens").joinpath("data", "generator_vocab.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _unknown_field(data: Any) -> None:
    data["formats"]["salary"]["GB"][1] = "BGC {name} {employee_no}"


def _unknown_category(data: Any) -> None:
    data["spend"]["FOOD_AND_DRINK_GROCERY"] = data["spend"].pop("FOOD_AND_DRINK_GROCERIES")


def _unquoted_mcc(data: Any) -> None:
    data["spend"]["MEDICAL_VETERINARY_SERVICES"]["mccs"] = [742]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_unknown_field, r"formats\.salary\.GB\[1\]: unknown field \{employee_no\}"),
        (_unknown_category, r"spend\.FOOD_AND_DRINK_GROCERY: not a detailed default-taxonomy"),
        (_unquoted_mcc, r"spend\.MEDICAL_VETERINARY_SERVICES\.mccs\[0\]: expected a non-empty str"),
    ],
)
def test_a_malformed_vocabulary_is_refused_naming_the_bad_key(
    break_it: Callable[[Any], None], message: str
) -> None:
    data = _vocab_data()
    assert _parse_vocab(data).countries  # the packaged file itself is valid
    break_it(data)
    with pytest.raises(ValueError, match=message):
        _parse_vocab(data)
