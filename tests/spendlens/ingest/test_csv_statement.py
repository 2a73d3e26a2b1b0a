"""Behaviour of the CSV statement parser on real-world export shapes and broken input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendlens.ingest.csv_statement import CsvOptions, parse_csv
from spendlens.ingest.types import Direction, NotAStatementError, ParseResult, RawTransaction

D, C = Direction.DEBIT, Direction.CREDIT


def parse(text: str | bytes, **options: Any) -> ParseResult:
    data = text.encode() if isinstance(text, str) else text
    return parse_csv(data, CsvOptions(**options))


def summary(row: RawTransaction) -> tuple[dt.date, str, int, str, Direction]:
    return row.txn_date, row.description, row.amount_minor, row.currency, row.direction


def only_row(text: str | bytes, **options: Any) -> RawTransaction:
    result = parse(text, **options)
    assert result.rejects == []
    assert len(result.rows) == 1
    return result.rows[0]


# --- real-world export shapes ----------------------------------------------------------------

CAPITAL_ONE = """\
transaction_date,posted_date,description,category,debit,credit
2021-11-03,2021-11-04,CAFE RIO 0417 GREELEY,Dining,11.71,
2021-12-29,2021-12-29,CARD SERVICES MOBILE PYMT,Payment/Credit,,500.00
"""
MINT = """\
Date,Description,Amount,Transaction Type,Category,Account Name
01/01/2018,Amazon,11.11,debit,Shopping,Platinum Card
01/02/2018,Paycheck,2500.00,credit,Income,Checking
"""
GERMAN = """\
Kontonummer:;DE12 5001 0517 0648 4898 90
Zeitraum:;01.11.2024 - 30.11.2024

Buchungstag;Verwendungszweck;Betrag;Währung
05.11.2024;REWE SAGT DANKE;-1.234,56;EUR
06.11.2024;GEHALT NOVEMBER;2.500,00;EUR
"""
UK = """\
Date,Description,Money Out,Money In,Balance
03/11/2024,TESCO STORES 3297,£23.45,,"£1,176.55"
25/11/2024,SALARY ACME LTD,,£2000.00,"£3,176.55"
"""
INDIA = """\
Date,Narration,Chq./Ref.No.,Value Dt,Withdrawal Amt.,Deposit Amt.,Closing Balance
01/04/24,UPI-SWIGGY-swiggy@icici,0000412345678901,01/04/24,450.00,,"1,00,000.00"
15/04/24,NEFT CR-ACME SALARY,N123456789,15/04/24,,"1,00,000.00","1,99,550.00"
"""
# Chase: "Details" (DEBIT/CREDIT) comes before the real "Description"; rows end with a comma.
CHASE = """\
Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #
DEBIT,11/04/2024,"STARBUCKS STORE 1234 SEATTLE WA",-4.50,DEBIT_CARD,1234.56,,
CREDIT,11/15/2024,"ACME PAYROLL PPD ID: 123",2000.00,ACH_CREDIT,3234.56,,
"""
TABS = "Date\tDescription\tAmount\n2024-11-05\tCOFFEE, BEANS & CO\t-4.50\n"


@pytest.mark.parametrize(
    ("data", "options", "expected_rows", "expected_detected"),
    [
        pytest.param(
            CAPITAL_ONE,
            {},
            [
                (dt.date(2021, 11, 3), "CAFE RIO 0417 GREELEY", 1171, "USD", D),
                (dt.date(2021, 12, 29), "CARD SERVICES MOBILE PYMT", 50000, "USD", C),
            ],
            {
                "mapping": "date=transaction_date, posted_date=posted_date, "
                "description=description, debit=debit, credit=credit, category=category"
            },
            id="capital-one-debit-credit-columns",
        ),
        pytest.param(
            MINT,
            {},
            [
                (dt.date(2018, 1, 1), "Amazon", 1111, "USD", D),
                (dt.date(2018, 1, 2), "Paycheck", 250000, "USD", C),
            ],
            {
                "mapping": "date=Date, description=Description, amount=Amount, "
                "direction=Transaction Type, category=Category"
            },
            id="mint-positive-amounts-with-type-column",
        ),
        pytest.param(
            GERMAN.encode("cp1252"),
            {},
            [
                (dt.date(2024, 11, 5), "REWE SAGT DANKE", 123456, "EUR", D),
                (dt.date(2024, 11, 6), "GEHALT NOVEMBER", 250000, "EUR", C),
            ],
            {"delimiter": ";", "header_line": "4", "decimal_mark": ",", "encoding": "cp1252"},
            id="german-semicolon-decimal-comma-with-preamble",
        ),
        pytest.param(
            UK,
            {},
            [
                (dt.date(2024, 11, 3), "TESCO STORES 3297", 2345, "GBP", D),
                (dt.date(2024, 11, 25), "SALARY ACME LTD", 200000, "GBP", C),
            ],
            {
                "date_order": "dmy (detected)",
                "mapping": "date=Date, description=Description, "
                "debit=Money Out, credit=Money In, balance=Balance",
            },
            id="uk-money-in-money-out-day-first",
        ),
        pytest.param(
            INDIA,
            {"default_currency": "INR"},
            [
                (dt.date(2024, 4, 1), "UPI-SWIGGY-swiggy@icici", 45000, "INR", D),
                (dt.date(2024, 4, 15), "NEFT CR-ACME SALARY", 10000000, "INR", C),
            ],
            {"date_order": "dmy (detected)", "decimal_mark": "."},
            id="india-withdrawal-deposit-lakh-grouping",
        ),
        pytest.param(
            CHASE,
            {},
            [
                (dt.date(2024, 11, 4), "STARBUCKS STORE 1234 SEATTLE WA", 450, "USD", D),
                (dt.date(2024, 11, 15), "ACME PAYROLL PPD ID: 123", 200000, "USD", C),
            ],
            {
                "date_order": "mdy (detected)",
                "mapping": "posted_date=Posting Date, "
                "description=Description, amount=Amount, direction=Type, balance=Balance",
            },
            id="chase-details-column-and-trailing-comma",
        ),
        pytest.param(
            TABS,
            {},
            [(dt.date(2024, 11, 5), "COFFEE, BEANS & CO", 450, "USD", D)],
            {"delimiter": "\t"},
            id="tab-delimited",
        ),
        pytest.param(
            "Date|Description|Amount\n2024-11-05|KIOSK|-1.00\n",
            {},
            [(dt.date(2024, 11, 5), "KIOSK", 100, "USD", D)],
            {"delimiter": "|"},
            id="pipe-delimited",
        ),
    ],
)
def test_real_world_exports_parse_to_the_same_transactions(
    data: str | bytes,
    options: dict[str, Any],
    expected_rows: list[tuple[dt.date, str, int, str, Direction]],
    expected_detected: dict[str, str],
) -> None:
    result = parse(data, **options)

    assert result.rejects == []
    assert [summary(r) for r in result.rows] == expected_rows
    assert expected_detected.items() <= result.detected.items()


def test_extra_columns_are_carried_over() -> None:
    uk = parse(UK).rows
    india = parse(INDIA, default_currency="INR").rows
    capital_one = parse(CAPITAL_ONE).rows

    assert [r.balance_minor for r in uk] == [117655, 317655]
    assert [r.balance_minor for r in india] == [10000000, 19955000]
    assert [r.source_ref for r in india] == ["0000412345678901", "N123456789"]
    assert [r.category for r in capital_one] == ["Dining", "Payment/Credit"]
    assert capital_one[0].posted_date == dt.date(2021, 11, 4)
    assert {r.line_no for r in uk} == {2, 3}


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(
            "Date,Description,Amount\n2024-11-05,CAFÉ,-3.00\n".encode("latin-1"),
            "cp1252",
            id="latin-1",
        ),
        pytest.param(
            b"\xef\xbb\xbf" + "Date,Description,Amount\n2024-11-05,CAFÉ,-3.00\n".encode(),
            "utf-8-sig",
            id="utf-8-bom",
        ),
        pytest.param(
            "Date,Description,Amount\n2024-11-05,CAFÉ,-3.00\n".encode(), "utf-8", id="utf-8"
        ),
        pytest.param(
            "Date\tDescription\tAmount\n2024-11-05\tCAFÉ\t-3.00\n".encode("utf-16"),
            "utf-16",
            id="utf-16-with-bom",
        ),
    ],
)
def test_text_encodings_are_detected_and_decoded(data: bytes, encoding: str) -> None:
    result = parse(data)

    assert [r.description for r in result.rows] == ["CAFÉ"]
    assert result.detected["encoding"] == encoding
    assert result.detected["header_line"] == "1"  # a BOM does not hide the header


def test_semicolon_wins_over_comma_even_when_every_amount_has_a_decimal_comma() -> None:
    # Split on ',' every line has exactly two fields too: consistency alone cannot decide.
    data = "Datum;Buchungstext;Betrag\n01.11.2024;MIETE;-850,00\n02.11.2024;BAECKER;-3,20\n"

    result = parse(data)

    assert result.detected["delimiter"] == ";"
    assert [r.amount_minor for r in result.rows] == [85000, 320]


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "amount_minor", "direction", "currency"),
    [
        ("-12.34", 1234, D, "USD"),
        ("12.34", 1234, C, "USD"),
        ("(45.00)", 4500, D, "USD"),
        ("45.00-", 4500, D, "USD"),
        ("45.00 CR", 4500, C, "USD"),
        ("45.00 DR", 4500, D, "USD"),
        ("45.00DR", 4500, D, "USD"),
        ("1'234.50", 123450, C, "USD"),
        ("-$1,234.50", 123450, D, "USD"),
        ("£7.99", 799, C, "GBP"),
        ("Rs.500", 50000, C, "INR"),
        ("0.00", 0, C, "USD"),
    ],
)
def test_amount_notations_set_value_direction_and_currency(
    cell: str, amount_minor: int, direction: Direction, currency: str
) -> None:
    row = only_row(f'Date,Description,Amount\n2024-11-05,SHOP,"{cell}"\n')

    assert (row.amount_minor, row.direction, row.currency) == (amount_minor, direction, currency)


def test_positive_is_debit_inverts_the_sign_convention() -> None:
    data = "Date,Description,Amount\n2024-11-05,PURCHASE,25.00\n2024-11-06,PAYMENT,-100.00\n"

    rows = parse(data, amount_sign="positive_is_debit").rows

    assert [r.direction for r in rows] == [D, C]


@pytest.mark.parametrize(
    ("type_cell", "amount", "direction"),
    [
        ("debit", "11.11", D),
        ("credit", "-11.11", C),
        ("DR", "5", D),
        ("Cr", "5", C),
        ("Withdrawal", "5", D),
        ("deposit", "-5", C),
        ("Sale", "-5", D),
        ("", "5", C),
    ],
)
def test_a_direction_column_wins_over_the_sign_and_unknown_types_fall_back_to_it(
    type_cell: str, amount: str, direction: Direction
) -> None:
    row = only_row(f"Date,Description,Amount,Type\n2024-11-05,X,{amount},{type_cell}\n")

    assert row.direction == direction


def test_decimal_comma_is_used_when_told_even_if_values_look_ambiguous() -> None:
    data = "Date;Description;Amount\n2024-11-05;A;1.234\n"

    assert only_row(data, decimal_mark=",").amount_minor == 123400
    assert parse(data).rejects[0].reason.startswith("too many decimals")


@pytest.mark.parametrize(
    ("header", "row", "currency", "options"),
    [
        ("Date,Description,Amount,Currency", "2024-11-05,A,-1.00,eur", "EUR", {}),
        ("Date,Description,Amount,Currency", "2024-11-05,A,-£1.00,", "GBP", {}),
        ("Date,Description,Amount (CHF)", "2024-11-05,A,-1.00", "CHF", {}),
        ("Date,Description,Amount", "2024-11-05,A,-1.00", "NZD", {"default_currency": "NZD"}),
    ],
    ids=["currency-column", "symbol-when-column-empty", "header-suffix", "default"],
)
def test_currency_comes_from_column_then_symbol_then_header_then_default(
    header: str, row: str, currency: str, options: dict[str, Any]
) -> None:
    assert only_row(f"{header}\n{row}\n", **options).currency == currency


def test_zero_decimal_currencies_are_converted_to_their_own_minor_units() -> None:
    row = only_row("Date,Description,Amount,Currency\n2024-11-05,RAMEN,-1200,JPY\n")

    assert (row.amount_minor, row.currency) == (1200, "JPY")


@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    mark=st.sampled_from([".", ","]),
    grouped=st.booleans(),
)
def test_any_formatted_amount_round_trips_to_its_minor_units(
    cents: int, mark: str, grouped: bool
) -> None:
    value = Decimal(cents).scaleb(-2)
    text = f"{abs(value):,.2f}" if grouped else f"{abs(value):.2f}"
    if mark == ",":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    sign = "-" if cents < 0 else ""
    delimiter = ";" if mark == "," else ","
    data = f"Date{delimiter}Description{delimiter}Amount\n2024-11-05{delimiter}X{delimiter}"
    data += f'"{sign}{text}"\n'

    row = only_row(data, decimal_mark=mark)

    assert row.amount_minor == abs(cents)
    assert row.direction == (D if cents < 0 else C)


# --- dates -----------------------------------------------------------------------------------


def test_ambiguous_dates_use_the_configured_order_and_warn_how_to_override() -> None:
    data = "Date,Description,Amount\n05/11/2024,A,-1.00\n06/11/2024,B,-1.00\n"

    result = parse(data)
    day_first = parse(data, ambiguous_date_order="dmy")

    assert [r.txn_date for r in result.rows] == [dt.date(2024, 5, 11), dt.date(2024, 6, 11)]
    assert len(result.warnings) == 1
    assert "'05/11/2024'" in result.warnings[0]
    assert "--date-order dmy" in result.warnings[0]
    assert day_first.rows[0].txn_date == dt.date(2024, 11, 5)
    assert "--date-order mdy" in day_first.warnings[0]


@pytest.mark.parametrize(
    ("dates", "options", "expected", "how"),
    [
        (["05/11/2024", "13/11/2024"], {}, dt.date(2024, 11, 5), "dmy (detected)"),
        (["05/11/2024", "05/13/2024"], {}, dt.date(2024, 5, 11), "mdy (detected)"),
        (["05/11/2024"], {"date_order": "dmy"}, dt.date(2024, 11, 5), "dmy (given)"),
        (["2024-11-05"], {}, dt.date(2024, 11, 5), "mdy (not needed)"),
        (["05-Nov-24"], {}, dt.date(2024, 11, 5), "mdy (not needed)"),
        (["Nov 5, 2024"], {}, dt.date(2024, 11, 5), "mdy (not needed)"),
        (["05.11.2024"], {}, dt.date(2024, 11, 5), "dmy (dotted dates are day-first)"),
    ],
)
def test_date_order_is_detected_from_all_dates_or_given_without_warning(
    dates: list[str], options: dict[str, Any], expected: dt.date, how: str
) -> None:
    body = "".join(f'"{d}",X,-1.00\n' for d in dates)

    result = parse("Date,Description,Amount\n" + body, **options)

    assert result.rows[0].txn_date == expected
    assert result.detected["date_order"] == how
    assert result.warnings == []


def test_a_time_of_day_becomes_posted_at() -> None:
    row = only_row("Date,Description,Amount\n2024-11-05 13:05,A,-1.00\n")

    assert row.posted_at == dt.datetime(2024, 11, 5, 13, 5)
    assert row.txn_date == dt.date(2024, 11, 5)


def test_a_posting_date_alone_is_also_the_transaction_date() -> None:
    row = only_row("Posting Date,Description,Amount\n2024-11-05,A,-1.00\n")

    assert (row.txn_date, row.posted_date) == (dt.date(2024, 11, 5), dt.date(2024, 11, 5))


# --- other columns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "tail"),
    [("XXXX-XXXX-XXXX-1234", "1234"), ("4111 1111 1111 5678", "5678"), ("*99", None), ("", None)],
)
def test_card_numbers_keep_only_the_last_four_digits(card: str, tail: str | None) -> None:
    row = only_row(f'Date,Description,Amount,Card No.\n2024-11-05,A,-1.00,"{card}"\n')

    assert row.account_tail == tail


def test_memo_mcc_reference_and_negative_balance_are_read() -> None:
    data = (
        "Date,Description,Memo,Amount,MCC,Transaction ID,Running Balance\n"
        "2024-11-05,STARBUCKS,morning coffee,-4.50,5814,TX-1,-20.00\n"
        "2024-11-06,SHELL,,-40.00,,,120.00 DR\n"
    )

    first, second = parse(data).rows

    assert (first.memo, first.mcc, first.source_ref, first.balance_minor) == (
        "morning coffee",
        "5814",
        "TX-1",
        -2000,
    )
    assert (second.memo, second.mcc, second.source_ref, second.balance_minor) == (
        None,
        None,
        None,
        -12000,
    )


def test_a_memo_column_alone_is_the_description() -> None:
    result = parse("Date,Notes,Amount\n2024-11-05,GYM MEMBERSHIP,-30.00\n")

    assert [(r.description, r.memo) for r in result.rows] == [("GYM MEMBERSHIP", None)]
    assert result.detected["mapping"] == "date=Date, description=Notes, amount=Amount"


def test_an_empty_description_falls_back_to_the_memo() -> None:
    row = only_row("Date,Description,Memo,Amount\n2024-11-05,,ATM FEE,-2.50\n")

    assert (row.description, row.memo) == ("ATM FEE", None)


# --- column map overrides and headerless files -----------------------------------------------


def test_column_map_names_headers_case_insensitively() -> None:
    data = "When,Narrative,Sum\n2024-11-05,BOOKSHOP,-12.00\n"

    result = parse(data, column_map={"date": "when", "description": "NARRATIVE", "amount": "Sum"})

    assert [summary(r) for r in result.rows] == [(dt.date(2024, 11, 5), "BOOKSHOP", 1200, "USD", D)]
    assert result.detected["mapping"] == "date=When, description=Narrative, amount=Sum"


def test_column_map_wins_over_aliases() -> None:
    data = "Date,Description,Memo,Amount\n2024-11-05,POS 1234 ACME,Acme Hardware,-9.99\n"

    row = only_row(data, column_map={"description": "Memo", "memo": "Description"})

    assert (row.description, row.memo) == ("Acme Hardware", "POS 1234 ACME")


def test_column_map_naming_a_missing_header_is_refused_with_the_headers_seen() -> None:
    with pytest.raises(NotAStatementError, match=r"'Narration'.*Headers seen: 'Date'"):
        parse("Date,Description,Amount\n2024-11-05,A,1\n", column_map={"description": "Narration"})


def test_headerless_files_load_with_an_index_column_map() -> None:
    # "debit" and "Card" read like header names, but a row whose date cell is a date is data.
    data = "2024-11-05,-4.50,debit,Card,COFFEE\n2024-11-06,-5.00,debit,Card,TEA\n"

    result = parse(data, column_map={"date": "0", "amount": "1", "description": "4"})

    assert [(r.description, r.amount_minor, r.line_no) for r in result.rows] == [
        ("COFFEE", 450, 1),
        ("TEA", 500, 2),
    ]
    assert result.detected["header_line"] == "none"
    assert result.detected["mapping"] == "date=column 0, description=column 4, amount=column 1"


def test_an_index_column_map_still_skips_a_header_row() -> None:
    data = "Date,Amount,Type,Extra,Text\n2024-11-05,-4.50,debit,y,COFFEE\n"

    result = parse(data, column_map={"date": "0", "amount": "1", "description": "4"})

    assert [(r.description, r.line_no) for r in result.rows] == [("COFFEE", 2)]
    assert result.detected["header_line"] == "1"


def test_unknown_fields_in_the_column_map_are_a_usage_error() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        CsvOptions(column_map={"payee": "Name"})


# --- rejects ---------------------------------------------------------------------------------

REJECT_HEADER = "Date,Description,Amount,Currency"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param("31/02/2024,A,-1.00,USD", "bad date '31/02/2024'", id="bad-date"),
        pytest.param(",A,-1.00,USD", "missing date", id="missing-date"),
        pytest.param("05/11/2024,A,abc,USD", "unparseable amount 'abc'", id="bad-amount"),
        pytest.param("05/11/2024,A,,USD", "no amount", id="no-amount"),
        pytest.param("05/11/2024,  ,-1.00,USD", "missing description", id="no-description"),
        pytest.param("05/11/2024,A,-1.00,EURO", "bad currency 'EURO'", id="bad-currency"),
        pytest.param(
            "05/11/2024,A,-1.005,USD",
            "too many decimals: 1.005 has more than 2 decimals for USD",
            id="too-many-decimals",
        ),
        pytest.param(
            "05/11/2024,A,-1.00,USD,extra,more",
            "wrong number of columns (expected 4, got 6)",
            id="too-many-columns",
        ),
        pytest.param(
            "05/11/2024,A", "wrong number of columns (expected 4, got 2)", id="too-few-columns"
        ),
        pytest.param(
            "05/11/2024," + "A" * 2001 + ",-1.00,USD",
            "field too long (2001 chars > 2000)",
            id="field-too-long",
        ),
    ],
)
def test_malformed_rows_are_rejected_with_line_and_reason(row: str, reason: str) -> None:
    data = f"{REJECT_HEADER}\n05/11/2024,GOOD,-1.00,USD\n{row}\n"

    result = parse(data, date_order="dmy")

    assert [(r.line_no, r.reason) for r in result.rejects] == [(3, reason)]
    assert len(result.rows) == 1
    assert result.rejects[0].excerpt == row[:200]
    assert result.detected["rejected"] == "1"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-11-05,2024-11-99,A,-1.00,5.00", "bad posted date '2024-11-99'"),
        ("2024-11-05,,A,-1.00,five", "unparseable balance 'five'"),
        ("2024-11-05,,A,-1.00,5.001", "too many decimals in balance: 5.001 has more than 2"),
    ],
)
def test_optional_columns_that_are_filled_must_parse(row: str, reason: str) -> None:
    result = parse(f"Date,Posted Date,Description,Amount,Balance\n{row}\n")

    assert result.rows == []
    assert result.rejects[0].reason.startswith(reason)


def test_both_debit_and_credit_filled_is_rejected_but_a_zero_partner_is_fine() -> None:
    data = (
        "Date,Description,Debit,Credit\n"
        "2024-11-05,BOTH,5.00,6.00\n"
        "2024-11-06,ZERO CREDIT,5.00,0.00\n"
        "2024-11-07,NONE,,\n"
        "2024-11-08,BAD,x,\n"
    )

    result = parse(data)

    assert [(r.description, r.amount_minor, r.direction) for r in result.rows] == [
        ("ZERO CREDIT", 500, D)
    ]
    assert [(r.line_no, r.reason) for r in result.rejects] == [
        (2, "both debit and credit given"),
        (4, "no amount"),
        (5, "unparseable debit 'x'"),
    ]


def test_valid_rows_still_load_around_bad_ones_with_physical_line_numbers() -> None:
    data = (
        "Account: 0000123456\n"  # line 1: preamble
        "Statement period: November 2024\n"  # line 2
        "Date,Description,Amount\n"  # line 3: header
        "2024-11-01,ONE,-1.00\n"  # 4
        '2024-11-02,"TWO\nSPANS TWO LINES",-2.00\n'  # 5-6: quoted newline
        "2024-11-03,THREE,abc\n"  # 7: bad amount
        "2024-11-04,FOUR,-4.00\n"  # 8
        "2024-13-45,FIVE,-5.00\n"  # 9: bad date
        "2024-11-06,SIX,-6.00\n"  # 10
        "\n"  # 11: blank, skipped
        "2024-11-07,,-7.00\n"  # 12: no description
        "2024-11-08,EIGHT,-8.00\n"  # 13
        "2024-11-09,NINE,-9.00\n"  # 14
        "2024-11-10,TEN,-10.00\n"  # 15
    )

    result = parse(data)

    assert len(result.rows) == 7
    assert [r.line_no for r in result.rows] == [4, 5, 8, 10, 13, 14, 15]
    assert result.rows[1].description == "TWO\nSPANS TWO LINES"
    assert [(r.line_no, r.reason.split(" ")[0]) for r in result.rejects] == [
        (7, "unparseable"),
        (9, "bad"),
        (12, "missing"),
    ]
    assert result.detected["header_line"] == "3"
    assert (result.detected["rows"], result.detected["rejected"]) == ("7", "3")


def test_an_unbalanced_quote_is_one_reject_that_points_at_its_line() -> None:
    data = 'Date,Description,Amount\n2024-11-05,"BROKEN,-1.00\n2024-11-06,OK,-2.00\n'

    result = parse(data)

    assert result.rows == []
    assert result.rejects[0].line_no == 2
    assert "record spans lines 2-3: unbalanced quote?" in result.rejects[0].reason


def test_reject_excerpts_are_truncated_to_200_chars() -> None:
    data = "Date,Description,Amount\n2024-11-05," + "X" * 300 + ",abc\n"

    excerpt = parse(data).rejects[0].excerpt

    assert len(excerpt) == 200
    assert excerpt.startswith("2024-11-05,XXX")


def test_field_limit_is_configurable() -> None:
    data = "Date,Description,Amount\n2024-11-05,ABCDEFGHIJK,-1.00\n"

    assert parse(data, max_field_chars=10).rejects[0].reason == "field too long (11 chars > 10)"


# --- rows that are skipped on purpose --------------------------------------------------------


def test_footer_totals_blank_lines_and_repeated_headers_are_skipped_not_rejected() -> None:
    data = (
        "Date,Description,Amount\n"
        "2024-11-05,TOTAL WINE & MORE,-30.00\n"  # a shop called Total is a transaction
        "\n"
        "Date,Description,Amount\n"  # header repeated on page two
        "2024-11-06,CAFE,-4.00\n"
        ",,\n"
        "Total,,-34.00\n"
        "2024-11-30,Closing balance,\n"
    )

    result = parse(data)

    assert [r.description for r in result.rows] == ["TOTAL WINE & MORE", "CAFE"]
    assert result.rejects == []
    assert result.detected["skipped"] == "3"


def test_short_rows_are_fine_when_the_needed_columns_are_present() -> None:
    data = "Date,Description,Amount,Category,Balance\n2024-11-05,CAFE,-4.00\n"

    assert only_row(data).category is None


def test_trailing_empty_cells_beyond_the_header_are_tolerated() -> None:
    assert only_row("Date,Description,Amount\n2024-11-05,CAFE,-4.00,,\n").amount_minor == 400


# --- not a statement -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b" \r\n\n", "empty", id="whitespace-only"),
        pytest.param(b"\xef\xbb\xbf", "empty", id="bom-only"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary", id="png"
        ),
        pytest.param(bytes(range(1, 256)) * 40, "binary", id="control-bytes-without-nul"),
        pytest.param(
            b"Dear customer,\nThank you for banking with us. We value you.\nRegards\n",
            "missing date, amount \\(or debit/credit\\), description",
            id="prose",
        ),
        pytest.param(
            b"name,age,city\nAda,36,London\nAlan,41,Wilmslow\n",
            "missing date, amount \\(or debit/credit\\)\\. Headers seen: 'name', 'age', 'city'",
            id="unrelated-columns",
        ),
    ],
)
def test_input_that_is_not_a_statement_is_refused_with_one_clear_error(
    data: bytes, message: str
) -> None:
    with pytest.raises(NotAStatementError, match=message):
        parse_csv(data)


def test_missing_columns_error_suggests_the_map_option() -> None:
    with pytest.raises(NotAStatementError, match='--map date="<header>"'):
        parse("When,Description,Amount\n2024-11-05,A,-1.00\n")


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(NotAStatementError, match="over the 10-byte limit"):
        parse("Date,Description,Amount\n", max_file_bytes=10)


def test_a_header_without_rows_is_an_empty_result_not_an_error() -> None:
    result = parse("Date,Description,Amount\n")

    assert (result.rows, result.rejects, result.detected["rows"]) == ([], [], "0")
