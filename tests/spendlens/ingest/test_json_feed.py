"""Behaviour of the JSON bank-feed parser: shapes, per-item validation, refusal of non-JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from spendlens.ingest.json_feed import feed_json_schema, parse_json_feed
from spendlens.ingest.types import Direction, NotAStatementError, RawTransaction, Source

ITEM: dict[str, Any] = {
    "id": "txn_8842",
    "account": "acct-00012345",
    "date": "2024-11-05",
    "amount": "-12.50",
    "currency": "USD",
    "description": "STARBUCKS STORE 1234",
}


def item(**changes: Any) -> dict[str, Any]:
    """The valid ITEM with some keys changed; a value of ... removes the key."""
    merged = {**ITEM, **changes}
    return {k: v for k, v in merged.items() if v is not ...}


def feed(*items: Any) -> bytes:
    return json.dumps(list(items)).encode()


def only_row(data: bytes) -> RawTransaction:
    result = parse_json_feed(data)
    assert result.rejects == []
    assert len(result.rows) == 1
    return result.rows[0]


def test_a_valid_item_maps_every_field() -> None:
    data = feed(
        item(
            merchant_name="Starbucks",
            mcc="5814",
            memo="mobile order",
            category="Coffee",
            posted_date="2024-11-06",
            currency=" usd ",
            description="  STARBUCKS STORE 1234  ",
        )
    )

    row = only_row(data)

    assert row == RawTransaction(
        line_no=1,
        source=Source.JSON,
        txn_date=dt.date(2024, 11, 5),
        description="STARBUCKS STORE 1234",
        amount_minor=1250,
        currency="USD",
        direction=Direction.DEBIT,
        posted_date=dt.date(2024, 11, 6),
        memo="mobile order",
        merchant_hint="Starbucks",
        mcc="5814",
        account_ref="acct-00012345",
        account_tail="2345",
        source_ref="txn_8842",
        category="Coffee",
    )


@pytest.mark.parametrize(
    ("data", "shape"),
    [
        pytest.param(feed(ITEM, item(id="t2")), "list", id="top-level-list"),
        pytest.param(
            json.dumps({"bank": "ACME", "transactions": [ITEM, item(id="t2")]}).encode(),
            "object",
            id="object-with-transactions",
        ),
        pytest.param(
            (json.dumps(ITEM) + "\n" + json.dumps(item(id="t2")) + "\n").encode(),
            "jsonl",
            id="json-lines",
        ),
        pytest.param(b"\xef\xbb\xbf" + feed(ITEM, item(id="t2")), "list", id="utf-8-bom"),
    ],
)
def test_all_top_level_shapes_are_accepted(data: bytes, shape: str) -> None:
    result = parse_json_feed(data)

    assert [r.source_ref for r in result.rows] == ["txn_8842", "t2"]
    assert result.detected == {"shape": shape, "rows": "2", "rejected": "0"}


def test_json_lines_items_are_numbered_by_physical_line() -> None:
    data = (
        json.dumps(ITEM) + "\n\n" + "{not json\n" + json.dumps(item(id="t3", amount="x")) + "\n"
    ).encode()

    result = parse_json_feed(data)

    assert [r.line_no for r in result.rows] == [1]
    assert [(r.line_no, r.reason.split(":")[0]) for r in result.rejects] == [
        (3, "not valid JSON"),
        (4, "amount"),
    ]
    assert result.rejects[0].excerpt == "{not json"


@pytest.mark.parametrize(
    ("changes", "direction", "amount_minor"),
    [
        ({"amount": "-12.50"}, Direction.DEBIT, 1250),
        ({"amount": 12.5}, Direction.CREDIT, 1250),
        ({"amount": 0}, Direction.CREDIT, 0),
        ({"amount": "-12.50", "direction": "credit"}, Direction.CREDIT, 1250),
        ({"amount": "12.50", "direction": "debit"}, Direction.DEBIT, 1250),
        ({"amount": 1500, "currency": "JPY"}, Direction.CREDIT, 1500),
        ({"amount": "0.125", "currency": "KWD"}, Direction.CREDIT, 125),
    ],
)
def test_direction_comes_from_the_field_else_the_sign(
    changes: dict[str, Any], direction: Direction, amount_minor: int
) -> None:
    row = only_row(feed(item(**changes)))

    assert (row.direction, row.amount_minor) == (direction, amount_minor)


def test_json_number_amounts_are_read_exactly_not_through_float() -> None:
    # 18 significant digits: a binary float would round this to ...456.8
    data = feed(item()).replace(b'"-12.50"', b"1234567890123456.78")

    assert only_row(data).amount_minor == 123456789012345678


def test_a_date_time_keeps_the_wall_clock_date_and_becomes_posted_at() -> None:
    row = only_row(feed(item(date="2024-11-05T23:30:00-05:00")))

    assert row.txn_date == dt.date(2024, 11, 5)
    assert row.posted_at == dt.datetime(2024, 11, 5, 23, 30)


@pytest.mark.parametrize(
    ("changes", "tail", "mcc"),
    [
        ({"account": "1234", "mcc": 5814}, "1234", "5814"),
        ({"account": "acct-12", "mcc": 742}, None, "0742"),
        ({"account": "ABCD-١٢٣٤"}, None, None),  # non-ASCII digits are not a card tail
    ],
)
def test_account_tail_and_integer_mcc_are_normalized(
    changes: dict[str, Any], tail: str | None, mcc: str | None
) -> None:
    row = only_row(feed(item(**changes)))

    assert (row.account_tail, row.mcc) == (tail, mcc)


def test_unknown_keys_are_ignored_and_empty_optional_text_is_absent() -> None:
    row = only_row(feed(item(extra={"nested": True}, memo="  ", merchant_name="")))

    assert (row.memo, row.merchant_hint) == (None, None)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"id": ...}, "id: Field required", id="missing-id"),
        pytest.param(
            {"id": "x" * 129}, "id: String should have at most 128 characters", id="long-id"
        ),
        pytest.param(
            {"account": ""}, "account: String should have at least 1 character", id="empty-account"
        ),
        pytest.param(
            {"date": "05/11/2024"}, "date: must be an ISO 8601 date or date-time", id="non-iso-date"
        ),
        pytest.param(
            {"date": 1730764800}, "date: must be an ISO 8601 date string", id="epoch-date"
        ),
        pytest.param({"amount": "abc"}, "amount: Input should be a valid decimal", id="bad-amount"),
        pytest.param(
            {"amount": "1.005"},
            "amount: 1.005 has more than 2 decimals for USD",
            id="too-many-decimals",
        ),
        pytest.param(
            {"currency": "EURO"}, "currency: must be a 3-letter ISO 4217 code", id="bad-currency"
        ),
        pytest.param(
            {"description": " "},
            "description: String should have at least 1",
            id="blank-description",
        ),
        pytest.param(
            {"description": "x" * 2001},
            "description: too long (2001 chars > 2000)",
            id="long-description",
        ),
        pytest.param({"mcc": "58a4"}, "mcc: String should match pattern", id="bad-mcc"),
        pytest.param(
            {"direction": "out"},
            "direction: Input should be 'debit' or 'credit'",
            id="bad-direction",
        ),
        pytest.param(
            {"posted_date": "2024-11-31"},
            "posted_date: Input should be a valid date",
            id="impossible-posted-date",
        ),
    ],
)
def test_invalid_items_are_rejected_with_field_and_message(
    changes: dict[str, Any], reason: str
) -> None:
    result = parse_json_feed(feed(ITEM, item(**changes)))

    assert len(result.rows) == 1
    assert [r.line_no for r in result.rejects] == [2]
    assert result.rejects[0].reason.startswith(reason)


def test_several_errors_in_one_item_are_listed_together() -> None:
    result = parse_json_feed(feed(item(id=..., currency="E")))

    assert result.rejects[0].reason == (
        "id: Field required; currency: must be a 3-letter ISO 4217 code"
    )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_rejected(value: str) -> None:
    data = json.dumps([item(amount=0)]).replace('"amount": 0', f'"amount": {value}').encode()

    assert parse_json_feed(data).rejects[0].reason == "amount: Input should be a finite number"


def test_a_non_object_item_is_rejected_on_its_own() -> None:
    result = parse_json_feed(feed(ITEM, 42, "text"))

    assert [(r.line_no, r.reason.split(":")[0], r.excerpt) for r in result.rejects] == [
        (2, "item", "42"),
        (3, "item", '"text"'),
    ]


def test_valid_items_still_load_in_a_mixed_feed() -> None:
    items = [item(id=f"t{i}") for i in range(1, 11)]
    items[2]["amount"] = "abc"
    items[5]["currency"] = "??"
    items[8] = item(date=...)

    result = parse_json_feed(feed(*items))

    assert [r.line_no for r in result.rows] == [1, 2, 4, 5, 7, 8, 10]
    assert [r.line_no for r in result.rejects] == [3, 6, 9]
    assert (result.detected["rows"], result.detected["rejected"]) == ("7", "3")


def test_field_length_limit_is_configurable() -> None:
    result = parse_json_feed(feed(item(description="SHOP", memo="x" * 11)), max_field_chars=10)

    assert result.rejects[0].reason == "memo: too long (11 chars > 10)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"Date,Description,Amount\n2024-11-05,A,1\n", "not valid JSON", id="csv-text"),
        pytest.param(b'[{"id": "a",', "not valid JSON: .* at line 1", id="truncated"),
        pytest.param(b'{"id": "a"}', "not a transaction feed", id="single-object"),
        pytest.param(
            b'{"transactions": {"id": "a"}}', "not a transaction feed", id="transactions-not-a-list"
        ),
        pytest.param(b"42", "not a transaction feed", id="scalar"),
        pytest.param(b'["caf\xe9"]', "not UTF-8", id="latin-1-bytes"),
    ],
)
def test_input_that_is_not_a_feed_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(NotAStatementError, match=message):
        parse_json_feed(data)


def test_oversized_input_is_refused() -> None:
    with pytest.raises(NotAStatementError, match="over the 5-byte limit"):
        parse_json_feed(feed(ITEM), max_file_bytes=5)


def test_the_schema_documents_required_and_optional_fields() -> None:
    schema = feed_json_schema()

    assert set(schema["required"]) == {"id", "account", "date", "amount", "currency", "description"}
    assert {"merchant_name", "mcc", "direction", "memo", "category", "posted_date"} <= set(
        schema["properties"]
    )
    assert all("description" in prop for prop in schema["properties"].values())
