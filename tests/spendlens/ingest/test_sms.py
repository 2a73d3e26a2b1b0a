"""Tests for the SMS bank-alert parser."""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

import pytest

from spendlens.ingest.sms import (
    SMS_PATTERNS,
    SmsPattern,
    parse_sms,
    parse_sms_file,
    split_messages,
)
from spendlens.ingest.types import Direction, NotAStatementError, RawTransaction, Reject, Source

RECEIVED = dt.date(2024, 11, 20)
DEBIT, CREDIT = Direction.DEBIT, Direction.CREDIT
NOV_5 = dt.date(2024, 11, 5)


class Expected(NamedTuple):
    amount_minor: int
    currency: str
    direction: Direction
    txn_date: dt.date
    merchant_hint: str | None
    account_tail: str | None
    source_ref: str | None = None
    posted_at: dt.datetime | None = None


def _fields(tx: RawTransaction) -> Expected:
    return Expected(
        tx.amount_minor,
        tx.currency,
        tx.direction,
        tx.txn_date,
        tx.merchant_hint,
        tx.account_tail,
        tx.source_ref,
        tx.posted_at,
    )


def _parse_ok(message: str, received: dt.date = RECEIVED) -> RawTransaction:
    result = parse_sms(message, 1, received)
    assert isinstance(result, RawTransaction), result
    return result


def _parse_reject(message: str, received: dt.date = RECEIVED) -> Reject:
    result = parse_sms(message, 1, received)
    assert isinstance(result, Reject), result
    return result


# (id, message, expected): one entry per supported shape, plus case/spacing variants.
SHAPES: list[tuple[str, str, Expected]] = [
    (
        "india_debit_dd_mm_yy",
        "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON. Avl bal INR 10,000",
        Expected(250000, "INR", DEBIT, NOV_5, "AMAZON", "1234"),
    ),
    (
        "india_debit_lower_case_and_extra_spaces",
        "inr  2,500.00   DEBITED from a/c xx1234 ON 05-11-24 at   amazon.  avl bal inr 10,000",
        Expected(250000, "INR", DEBIT, NOV_5, "amazon", "1234"),
    ),
    (
        "india_debit_split_over_lines",
        "INR 2,500.00 debited from\nA/c XX1234 on 05-11-24\r\nat AMAZON.",
        Expected(250000, "INR", DEBIT, NOV_5, "AMAZON", "1234"),
    ),
    (
        "india_debit_bare_amount_uses_pattern_currency",
        "500.00 debited from A/c XX991234 on 05-11-24",
        Expected(50000, "INR", DEBIT, NOV_5, None, "1234"),
    ),
    (
        "upi_debit_to_vpa_month_name_date",
        "Rs.500.00 debited from a/c **1234 on 05-Nov-24 to VPA swiggy@icici "
        "(UPI Ref No 431234567890).",
        Expected(50000, "INR", DEBIT, NOV_5, "swiggy", "1234", "431234567890"),
    ),
    (
        "upi_debit_vpa_before_date",
        "Dear Customer, Rs.2,000 has been debited from your account XX1234 for UPI txn to "
        "merchant@okaxis on 05/11/2024. UPI Ref: 431234567890",
        Expected(200000, "INR", DEBIT, NOV_5, "merchant", "1234", "431234567890"),
    ),
    (
        "upi_credit_from_phone_vpa_has_no_merchant",
        "Rs.50 credited to a/c XX1234 on 05-11-24 from VPA 9876543210@ybl "
        "(UPI Ref No 431234567891)",
        Expected(5000, "INR", CREDIT, NOV_5, None, "1234", "431234567891"),
    ),
    (
        "neft_credit_with_counterparty",
        "Your A/c XX1234 is credited with INR 50,000.00 on 01-11-24 by NEFT from ACME CORP. "
        "Avl Bal INR 60,000.00",
        Expected(5000000, "INR", CREDIT, dt.date(2024, 11, 1), "ACME CORP", "1234"),
    ),
    (
        "amount_credited_to_account",
        "Rs.5,000.00 credited to A/c XX1234 on 04-11-24 by IMPS from JANE DOE. Avl Bal Rs.9,000",
        Expected(500000, "INR", CREDIT, dt.date(2024, 11, 4), "JANE DOE", "1234"),
    ),
    (
        "imps_transfer_between_accounts",
        "Rs 1000 transferred from A/c ...1234 to A/c ...5678 via IMPS Ref 431234567890 on 05-11-24",
        Expected(100000, "INR", DEBIT, NOV_5, None, "1234", "431234567890"),
    ),
    (
        "card_spend_with_iso_timestamp",
        "Rs.1,299.00 spent on HDFC Bank Card x4821 at FLIPKART on 2024-11-05:10:12:33",
        Expected(
            129900,
            "INR",
            DEBIT,
            NOV_5,
            "FLIPKART",
            "4821",
            posted_at=dt.datetime(2024, 11, 5, 10, 12, 33),
        ),
    ),
    (
        "us_card_charged_month_first_without_year",
        "Your card ending 4821 was charged $45.20 at STARBUCKS on 11/05",
        Expected(4520, "USD", DEBIT, NOV_5, "STARBUCKS", "4821"),
    ),
    (
        "mpesa_paid_without_code",
        "Confirmed. Ksh500.00 paid to JAVA HOUSE on 5/11/24 at 1:05 PM New M-PESA balance is "
        "Ksh1,200.00.",
        Expected(
            50000,
            "KES",
            DEBIT,
            NOV_5,
            "JAVA HOUSE",
            None,
            posted_at=dt.datetime(2024, 11, 5, 13, 5),
        ),
    ),
    (
        "mpesa_paid_with_transaction_code",
        "QK12ABC3XY Confirmed. Ksh500.00 paid to JAVA HOUSE. on 5/11/24 at 1:05 PM. New M-PESA "
        "balance is Ksh1,200.00. Transaction cost, Ksh0.00.",
        Expected(
            50000,
            "KES",
            DEBIT,
            NOV_5,
            "JAVA HOUSE",
            None,
            "QK12ABC3XY",
            dt.datetime(2024, 11, 5, 13, 5),
        ),
    ),
    (
        "mpesa_received_drops_phone_number",
        "QK45DEF6GH Confirmed. You have received Ksh1,000.00 from JOHN DOE 0712345678 on "
        "5/11/24 at 9:15 AM New M-PESA balance is Ksh2,200.00.",
        Expected(
            100000,
            "KES",
            CREDIT,
            NOV_5,
            "JOHN DOE",
            None,
            "QK45DEF6GH",
            dt.datetime(2024, 11, 5, 9, 15),
        ),
    ),
    (
        "uk_card_spend_day_first",
        "You spent £12.50 at TESCO STORES on your card ending 1234 on 05/11/2024",
        Expected(1250, "GBP", DEBIT, NOV_5, "TESCO STORES", "1234"),
    ),
    (
        "us_deposit_month_first",
        "A deposit of $1,200.00 was made to your account ending 1234 on 11/01/2024",
        Expected(120000, "USD", CREDIT, dt.date(2024, 11, 1), None, "1234"),
    ),
    (
        "refund_credited_to_card",
        "Refund of Rs.499.00 from MYNTRA credited to your card ending 4821 on 06-11-24",
        Expected(49900, "INR", CREDIT, dt.date(2024, 11, 6), "MYNTRA", "4821"),
    ),
]


@pytest.mark.parametrize(
    ("message", "expected"),
    [pytest.param(message, expected, id=case_id) for case_id, message, expected in SHAPES],
)
def test_alert_shape_extracts_transaction_fields(message: str, expected: Expected) -> None:
    tx = _parse_ok(message)
    assert _fields(tx) == expected
    assert tx.source is Source.SMS


def test_every_pattern_in_the_table_is_exercised_by_a_shape_case() -> None:
    data = "\n".join(" ".join(message.split()) for _, message, _ in SHAPES).encode()
    detected = parse_sms_file(data, RECEIVED).detected
    used = {key.removeprefix("pattern.") for key in detected if key.startswith("pattern.")}
    assert used == {pattern.name for pattern in SMS_PATTERNS}


def test_upi_debit_alert_extracts_vpa_merchant_and_reference() -> None:
    tx = _parse_ok(
        "Rs.500.00 debited from a/c **1234 on 05-Nov-24 to VPA swiggy@icici "
        "(UPI Ref No 431234567890)."
    )
    assert (tx.merchant_hint, tx.source_ref, tx.account_tail) == ("swiggy", "431234567890", "1234")


def test_mpesa_counterparty_phone_number_is_kept_out_of_merchant_hint() -> None:
    tx = _parse_ok(
        "QK45DEF6GH Confirmed. You have received Ksh1,000.00 from JOHN DOE 0712345678 on "
        "5/11/24 at 9:15 AM New M-PESA balance is Ksh2,200.00."
    )
    assert tx.merchant_hint == "JOHN DOE"
    assert "0712345678" in tx.description


@pytest.mark.parametrize(
    ("message", "counterparty"),
    [
        pytest.param(
            "£2,810.42 has been credited to your account ending 4389 on 02/11/2024 "
            "from WHITE TECHNOLOGIES LIMITED.",
            "WHITE TECHNOLOGIES LIMITED",
            id="uk-credit-from-employer",
        ),
        pytest.param(
            "€3,456.79 has been credited to your account ending 6431 on 01/11/2024 "
            "from BIRKE GMBH & CO KG.",
            "BIRKE GMBH & CO KG",
            id="eu-credit-from-company",
        ),
        pytest.param(
            "£2,810.42 has been credited to your account ending 4389 on 02/11/2024.",
            None,
            id="credit-naming-nobody",
        ),
    ],
)
def test_credit_alert_keeps_who_paid_as_merchant_hint(
    message: str, counterparty: str | None
) -> None:
    tx = _parse_ok(message)
    assert (tx.direction, tx.merchant_hint) == (CREDIT, counterparty)


@pytest.mark.parametrize(
    ("message", "counterparty"),
    [
        pytest.param(
            "£50.00 has been credited to your account ending 4389 on 02/11/2024 "
            "from J. SMITH & CO. Avl bal £80.00",
            "J. SMITH & CO",
            id="initial",
        ),
        pytest.param(
            "€12.00 has been credited to your account ending 6431 on 01/11/2024 "
            "from VAN BEEK ZORG B.V.",
            "VAN BEEK ZORG B.V",
            id="dotted-legal-form",
        ),
        pytest.param(
            "INR 900.00 debited from A/c XX1234 on 05-11-24 at DR. REDDY CLINIC. Avl bal INR 10",
            "DR. REDDY CLINIC",
            id="title",
        ),
        pytest.param(
            "£20.00 has been credited to your account ending 4389 on 02/11/2024 "
            "from ST. JUDE HOSPITAL.",
            "ST. JUDE HOSPITAL",
            id="saint",
        ),
    ],
)
def test_full_stop_after_an_initial_or_title_does_not_end_the_counterparty(
    message: str, counterparty: str
) -> None:
    assert _parse_ok(message).merchant_hint == counterparty


def test_description_is_the_whole_message_with_whitespace_collapsed() -> None:
    tx = _parse_ok("INR 2,500.00 debited from\nA/c XX1234 on 05-11-24  at AMAZON. Avl bal INR 10")
    assert (
        tx.description
        == "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON. Avl bal INR 10"
    )
    assert tx.line_no == 1


def test_account_tail_keeps_only_last_four_digits() -> None:
    tx = _parse_ok("Rs.10 debited from A/c 001122334455 on 05-11-24 at SHOP")
    assert tx.account_tail == "4455"


def test_date_without_time_leaves_posted_at_empty() -> None:
    tx = _parse_ok("INR 10.00 debited from A/c XX1234 on 05-11-24 at SHOP")
    assert tx.posted_at is None


@pytest.mark.parametrize(
    ("message", "received", "expected_date"),
    [
        pytest.param(
            "Your card ending 4821 was charged $45.20 at STARBUCKS on 11/05",
            dt.date(2024, 11, 20),
            dt.date(2024, 11, 5),
            id="same_year_when_not_in_future",
        ),
        pytest.param(
            "Your card ending 4821 was charged $45.20 at STARBUCKS on 12/30",
            dt.date(2025, 1, 2),
            dt.date(2024, 12, 30),
            id="previous_year_when_it_would_be_in_future",
        ),
        pytest.param(
            "Your card ending 4821 was charged $45.20 at STARBUCKS on 01/02",
            dt.date(2025, 1, 2),
            dt.date(2025, 1, 2),
            id="received_day_itself_is_not_future",
        ),
    ],
)
def test_year_less_date_takes_year_from_received_date(
    message: str, received: dt.date, expected_date: dt.date
) -> None:
    assert _parse_ok(message, received).txn_date == expected_date


def test_received_may_be_a_datetime() -> None:
    tx = _parse_ok(
        "Your card ending 4821 was charged $45.20 at STARBUCKS on 12/30",
        dt.datetime(2025, 1, 2, 8, 30),
    )
    assert tx.txn_date == dt.date(2024, 12, 30)


def test_explicit_date_after_received_date_is_rejected() -> None:
    reject = _parse_reject("Rs.12 debited from A/c XX1234 on 05-11-25 at AMAZON")
    assert reject.reason == ("implausible date: 2025-11-05 is after the received date 2024-11-20")


def test_date_one_day_after_received_is_accepted_for_time_zones() -> None:
    tx = _parse_ok("Rs.12 debited from A/c XX1234 on 21-11-24 at AMAZON")
    assert tx.txn_date == dt.date(2024, 11, 21)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(
            "123456 is your OTP for txn of INR 2,500.00 at AMAZON. Do not share it with anyone.",
            "not a transaction: one-time password",
            id="otp_quoting_amount_and_merchant",
        ),
        pytest.param(
            "Your OTP for INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON is 123456",
            "not a transaction: one-time password",
            id="otp_checked_before_transaction_patterns",
        ),
        pytest.param(
            "Get 50% cashback on your next recharge! T&C apply",
            "not a transaction: promotional message",
            id="promotional_offer",
        ),
        pytest.param(
            "Your a/c XX1234 balance is INR 10,000.00 as on 05-11-24",
            "not a transaction: balance notice",
            id="balance_only",
        ),
        pytest.param(
            "Your credit card bill of Rs.5,000 is due on 10-11-24",
            "not a transaction: payment reminder",
            id="bill_due_reminder",
        ),
        pytest.param(
            "Txn of Rs.500 at AMAZON declined due to insufficient balance",
            "not a transaction: failed or declined transaction",
            id="declined",
        ),
        pytest.param(
            "Rs.500 debited from A/c XX1234 on 05-11-24 at AMAZON has FAILED; it will be "
            "credited back in 3 days",
            "not a transaction: failed or declined transaction",
            id="failed_with_pending_reversal",
        ),
        pytest.param(
            "Hello, call me when you get this",
            "unrecognised alert format",
            id="unrelated_text",
        ),
    ],
)
def test_non_transaction_message_is_rejected_with_reason(message: str, reason: str) -> None:
    reject = _parse_reject(message)
    assert reject.reason == reason
    assert reject.excerpt == message


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(
            "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON. Never share your OTP "
            "with anyone.",
            id="otp_warning_footer",
        ),
        pytest.param(
            "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON. Avl bal: INR 10. "
            "Get 5% cashback on bill pay, T&C apply. Card bill due on 10-11-24",
            id="balance_offer_and_due_footer",
        ),
    ],
)
def test_genuine_alert_with_warning_or_offer_footer_is_a_transaction(message: str) -> None:
    tx = _parse_ok(message)
    assert (tx.amount_minor, tx.merchant_hint) == (250000, "AMAZON")


def test_refund_for_failed_payment_is_a_credit_not_a_decline() -> None:
    tx = _parse_ok(
        "Refund of Rs.499.00 for failed payment credited to your card ending 4821 on 06-11-24"
    )
    assert (tx.direction, tx.amount_minor, tx.merchant_hint) == (CREDIT, 49900, None)


@pytest.mark.parametrize(
    ("message", "reason_start"),
    [
        pytest.param(
            "Rs.1.2.3 debited from A/c XX1234 on 05-11-24 at AMAZON",
            "unreadable amount: more than one decimal mark",
            id="two_decimal_points",
        ),
        pytest.param(
            "Rs.1.234 debited from A/c XX1234 on 05-11-24 at AMAZON",
            "unreadable amount: 1.234 has more than 2 decimals",
            id="more_decimals_than_currency_allows",
        ),
        pytest.param(
            "Your A/c XX1234 has been debited on 05-11-24 at AMAZON",
            "unreadable amount: no amount in the alert",
            id="no_amount",
        ),
        pytest.param(
            "Rs.12 debited from A/c XX1234 on 35-13-24 at AMAZON",
            "unreadable date: month must be in 1..12",
            id="impossible_date",
        ),
        pytest.param(
            "Your card ending 4821 was charged $45.20 at STARBUCKS on 13/45",
            "unreadable date:",
            id="impossible_month_first_date",
        ),
        pytest.param(
            "Rs.12 debited from A/c XX1234 yesterday at AMAZON",
            "unreadable date: no date in the alert",
            id="no_date",
        ),
    ],
)
def test_transaction_with_unreadable_amount_or_date_is_rejected(
    message: str, reason_start: str
) -> None:
    assert _parse_reject(message).reason.startswith(reason_start)


@pytest.mark.parametrize("message", ["", "   \n\t "], ids=["empty", "whitespace_only"])
def test_empty_message_is_rejected(message: str) -> None:
    assert parse_sms(message, 7, RECEIVED) == Reject(7, "empty message")


def test_message_longer_than_max_chars_is_rejected_with_truncated_excerpt() -> None:
    message = "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON " * 50
    reject = parse_sms(message, 3, RECEIVED, max_chars=2000)
    assert isinstance(reject, Reject)
    assert (reject.line_no, reject.reason) == (3, "message longer than 2000 characters")
    assert reject.excerpt == message.strip()[:200]


def test_sms_pattern_without_amount_or_date_group_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks groups"):
        SmsPattern("broken", re.compile(r"(?P<amount>\d+) paid"), DEBIT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "first alert\r\nsecond alert\n\nthird alert\n",
            [(1, "first alert\nsecond alert"), (2, "third alert")],
            id="blank_line_blocks_hold_multi_line_messages",
        ),
        pytest.param(
            "\n  first alert\r\nsecond alert\nthird alert\n\n",
            [(1, "first alert"), (2, "second alert"), (3, "third alert")],
            id="one_message_per_line",
        ),
        pytest.param(
            "one\n\n\n\ntwo\nstill two\n \t\nthree",
            [(1, "one"), (2, "two\nstill two"), (3, "three")],
            id="runs_of_blank_lines_separate_once",
        ),
        pytest.param("", [], id="empty"),
        pytest.param("\n \n", [], id="blank_only"),
    ],
)
def test_split_messages(text: str, expected: list[tuple[int, str]]) -> None:
    assert split_messages(text) == expected


MIXED_EXPORT = "\n".join(
    [
        "INR 2,500.00 debited from A/c XX1234 on 05-11-24 at AMAZON. Avl bal INR 10,000",
        "123456 is your OTP for txn of INR 2,500.00 at AMAZON. Do not share it with anyone.",
        "You spent £12.50 at TESCO STORES on your card ending 1234 on 05/11/2024",
        "Get 50% cashback on your next recharge! T&C apply",
        "Rs.12 debited from A/c XX1234 on 35-13-24 at AMAZON",
    ]
)


def test_parse_sms_file_keeps_good_messages_and_rejects_bad_ones_by_number() -> None:
    result = parse_sms_file(MIXED_EXPORT.encode(), RECEIVED)
    assert [(tx.line_no, tx.merchant_hint, tx.amount_minor) for tx in result.rows] == [
        (1, "AMAZON", 250000),
        (3, "TESCO STORES", 1250),
    ]
    assert [(r.line_no, r.reason) for r in result.rejects] == [
        (2, "not a transaction: one-time password"),
        (4, "not a transaction: promotional message"),
        (5, "unreadable date: month must be in 1..12"),
    ]
    assert result.detected == {
        "format": "sms",
        "messages": "5",
        "encoding": "utf-8",
        "layout": "lines",
        "pattern.account_debit": "2",
        "pattern.you_spent": "1",
    }
    assert result.warnings == []


def test_parse_sms_file_reads_blank_line_separated_multi_line_alerts() -> None:
    data = (
        b"INR 2,500.00 debited from\nA/c XX1234 on 05-11-24\nat AMAZON.\n\n"
        b"Your card ending 4821 was charged $45.20\nat STARBUCKS on 11/05\n"
    )
    result = parse_sms_file(data, RECEIVED)
    assert [(tx.line_no, tx.merchant_hint) for tx in result.rows] == [
        (1, "AMAZON"),
        (2, "STARBUCKS"),
    ]
    assert (result.detected["layout"], result.detected["messages"]) == ("blocks", "2")


def test_parse_sms_file_strips_utf8_byte_order_mark() -> None:
    result = parse_sms_file("\ufeff".encode() + MIXED_EXPORT.encode(), RECEIVED)
    assert result.detected["encoding"] == "utf-8-sig"
    assert result.rows[0].description.startswith("INR 2,500.00")


def test_parse_sms_file_falls_back_to_cp1252_with_warning() -> None:
    data = "You spent £12.50 at TESCO STORES on your card ending 1234 on 05/11/2024".encode(
        "cp1252"
    )
    result = parse_sms_file(data, RECEIVED)
    assert [(tx.amount_minor, tx.currency) for tx in result.rows] == [(1250, "GBP")]
    assert result.detected["encoding"] == "cp1252"
    assert result.warnings == ["not valid UTF-8; decoded as cp1252"]


def test_parse_sms_file_passes_max_chars_to_each_message() -> None:
    result = parse_sms_file(MIXED_EXPORT.encode(), RECEIVED, max_chars=70)
    assert [r.line_no for r in result.rejects if r.reason.startswith("message longer")] == [
        1,
        2,
        3,
    ]


@pytest.mark.parametrize(
    "data", [b"", b"\n\n  \n", b"PK\x03\x04\x00\x00binary"], ids=["empty", "blank", "binary"]
)
def test_parse_sms_file_refuses_input_without_messages(data: bytes) -> None:
    with pytest.raises(NotAStatementError):
        parse_sms_file(data, RECEIVED)


def test_a_stray_blank_line_in_a_one_per_line_export_keeps_every_alert() -> None:
    alerts = [f"Your card ending 4821 was charged ${i}.00 at SHOP{i} on 11/05" for i in range(10)]
    text = "\n".join(alerts[:3]) + "\n\n" + "\n".join(alerts[3:])
    assert [m for _, m in split_messages(text)] == alerts
