"""Loading files end to end into SQLite and PostgreSQL: rejects, idempotency, linking, masking."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Session, sessionmaker

from spendlens.ingest.loader import (
    IngestOptions,
    IngestSummary,
    csv_options_from_settings,
    ingest_bytes,
)
from spendlens.ingest.types import NotAStatementError
from spendlens.settings import Settings
from spendlens.storage import repository as repo
from spendlens.storage.models import Base, IngestionReject, Label, Transaction

STATEMENT = b"""Date,Description,Amount,Currency,Account
2024-11-05,AMZN Mktp US*K73QZ2PL8,-25.00,INR,1234
2024-11-05,KING SOOPERS #0412,-53.76,USD,1234
2024-11-06,PAYROLL ACME CORP,2500.00,USD,1234
"""


def _options(settings: Settings, **kw: object) -> IngestOptions:
    values: dict[str, object] = {"csv": csv_options_from_settings(settings)}
    values.update(kw)
    return IngestOptions(**values)  # type: ignore[arg-type]


def _load(
    sessions: sessionmaker[Session], settings: Settings, data: bytes, name: str, **kw: object
) -> IngestSummary:
    return ingest_bytes(data, name, sessions, settings, _options(settings, **kw))


def test_valid_rows_load_while_bad_rows_are_reported_with_line_numbers(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    data = (
        b"Date,Description,Amount\n"
        b"2024-11-01,COFFEE ONE,-3.50\n"
        b"2024-13-45,BAD DATE SHOP,-1.00\n"
        b"2024-11-02,NOT AN AMOUNT,abc\n"
        b"2024-11-03,,-9.00\n"
        b"2024-11-04,COFFEE TWO,-4.50\n"
    )
    summary = ingest_bytes(data, "mixed.csv", sessions, settings, _options(settings))
    assert (summary.loaded, summary.rejected) == (2, 3)
    assert [r.line_no for r in summary.rejects] == [3, 4, 5]
    with sessions() as session:
        stored = repo.batch_rejects(session, "default", summary.batch_id)
        assert [r.line_no for r in stored] == [3, 4, 5]
        assert all(r.reason for r in stored)
        assert repo.count_transactions(session, "default") == 2


def test_loading_the_same_file_ten_times_stores_each_transaction_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    twice = STATEMENT + b"2024-11-05,KING SOOPERS #0412,-53.76,USD,1234\n"
    first = ingest_bytes(twice, "s.csv", sessions, settings, _options(settings))
    assert first.loaded == 4  # two identical purchases on one day are two transactions
    for _ in range(9):
        again = ingest_bytes(twice, "s.csv", sessions, settings, _options(settings))
        assert (again.loaded, again.duplicates) == (0, 4)
    with sessions() as session:
        assert repo.count_transactions(session, "default") == 4


def test_json_feed_is_idempotent_by_transaction_id_even_if_text_changes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    item = {
        "id": "tx-1",
        "account": "acc-9",
        "date": "2024-11-05",
        "amount": "-12.00",
        "currency": "EUR",
        "description": "PENDING REWE",
    }
    first = _load(sessions, settings, json.dumps([item]).encode(), "feed.json")
    item["description"] = "REWE SAGT DANKE"
    second = _load(sessions, settings, json.dumps([item]).encode(), "feed.json")
    assert (first.loaded, second.loaded, second.duplicates) == (1, 0, 1)


@pytest.mark.parametrize(
    "sms_first", [False, True], ids=["statement-then-sms", "sms-then-statement"]
)
def test_sms_alert_and_statement_row_of_one_purchase_are_linked(
    sessions: sessionmaker[Session], settings: Settings, sms_first: bool
) -> None:
    sms = b"INR 25.00 debited from A/c XX1234 on 06-11-24 at AMAZON. Avl bal INR 10,000.00\n"
    received = dt.date(2024, 11, 7)
    loads = [
        (STATEMENT, "statement.csv", {}),
        (sms, "alerts.txt", {"format": "sms", "received": received}),
    ]
    if sms_first:
        loads.reverse()
    summaries = [_load(sessions, settings, data, name, **kw) for data, name, kw in loads]
    assert summaries[1].linked == 1
    with sessions() as session:
        assert repo.count_transactions(session, "default") == 3
        every = repo.TransactionFilter(include_linked=True)
        assert repo.count_transactions(session, "default", every) == 4
        linked = session.scalars(
            select(Transaction).where(Transaction.linked_to_id.is_not(None))
        ).all()
        assert [t.source for t in linked] == ["sms"]


@pytest.mark.parametrize(
    ("alert", "why"),
    [
        (b"INR 26.00 debited from A/c XX1234 on 05-11-24 at AMAZON.\n", "different amount"),
        (b"INR 25.00 debited from A/c XX1234 on 09-11-24 at AMAZON.\n", "four days apart"),
        (b"INR 25.00 debited from A/c XX9999 on 05-11-24 at AMAZON.\n", "other account"),
        (b"INR 25.00 debited from A/c XX1234 on 05-11-24 at ZOMATO.\n", "other merchant"),
    ],
)
def test_alerts_that_differ_from_the_statement_row_are_not_linked(
    sessions: sessionmaker[Session], settings: Settings, alert: bytes, why: str
) -> None:
    _load(sessions, settings, STATEMENT, "statement.csv")
    summary = _load(
        sessions, settings, alert, "alerts.txt", format="sms", received=dt.date(2024, 11, 10)
    )
    assert (summary.loaded, summary.linked) == (1, 0), why


PAN_RE = re.compile(r"(?<![\w])(?:\d[ -]?){12,18}\d(?![\w])")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
# The phone numbers planted below, as digits; a generic phone regex would also match dates.
PLANTED_PHONES = ("4155550132", "712345678")
# Machine identifiers (hex ids, hashes) are not text a person wrote; everything else is scanned.
NOT_TEXT = {"id", "fingerprint", "merchant_id", "content_hash"}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_no_card_number_email_or_phone_survives_into_the_database(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    data = (
        b"Date,Description,Memo,Amount\n"
        b"2024-11-01,CARD 4111 1111 1111 1111 PURCHASE,,-10.00\n"
        b"2024-11-02,ZELLE TO jane.doe@example.com,ref 5500-0000-0000-0004,-20.00\n"
        b"2024-11-03,PAYMENT FROM +1 415 555 0132,,30.00\n"
        b"2024-11-04,TRANSFER IBAN DE89 3704 0044 0532 0130 00,,-40.00\n"
        b"2024-13-04,REJECTED 4111111111111111 bob@example.org,,-1.00\n"
    )
    sms = (
        b"QK45DEF6GH Confirmed. You have received Ksh1,000.00 from JOHN DOE 0712345678 "
        b"on 5/11/24 at 9:15 AM New M-PESA balance is Ksh2,200.00.\n"
    )
    _load(sessions, settings, data, "pii.csv")
    _load(sessions, settings, sms, "sms.txt", format="sms", received=dt.date(2024, 11, 6))
    texts: list[str] = []
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, String | Text)
                and c.name not in NOT_TEXT
                and not c.foreign_keys
            ]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                texts.extend(str(v) for v in row if v)
    assert texts, "the scan must see stored text"
    assert any("<CARD>" in t for t in texts)  # proves the rows were stored, masked
    for text in texts:
        assert not EMAIL_RE.search(text), text
        digits_only = re.sub(r"\D", "", text)
        assert not any(phone in digits_only for phone in PLANTED_PHONES), text
        for match in PAN_RE.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            assert not _luhn_ok(digits), text
        assert "DE89" not in text, text


def test_a_file_that_is_not_a_statement_fails_with_one_error_and_a_failed_batch(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with pytest.raises(NotAStatementError):
        ingest_bytes(png, "photo.png", sessions, settings, _options(settings))
    with sessions() as session:
        (batch,) = repo.list_batches(session, "default")
        assert batch.status == "failed"
        assert batch.error
        assert repo.count_transactions(session, "default") == 0


def test_category_column_in_default_taxonomy_is_stored_as_import_labels(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    data = (
        b"Date,Description,Amount,Category\n"
        b"2024-11-01,STARBUCKS 1234,-4.50,FOOD_AND_DRINK_COFFEE\n"
        b"2024-11-02,SHELL OIL 5678,-40.00,NOT_A_LABEL\n"
    )
    summary = ingest_bytes(data, "l.csv", sessions, settings, _options(settings))
    assert (summary.loaded, summary.labels) == (2, 1)
    assert any("NOT_A_LABEL" in w for w in summary.warnings)
    with sessions() as session:
        labels = session.scalars(select(Label)).all()
        assert [(lb.category, lb.source) for lb in labels] == [("FOOD_AND_DRINK_COFFEE", "import")]


def test_naming_a_new_taxonomy_registers_the_files_labels_as_one(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    data = (
        b"transaction_date,posted_date,description,category,debit,credit\n"
        b"2021-11-03,2021-11-04,CAFE RIO 0417 GREELEY,Dining,11.71,\n"
        b"2021-12-29,2021-12-30,KING SOOPERS #0412,Merchandise,53.76,\n"
        b"2021-12-28,2021-12-29,CARD SERVICES MOBILE PYMT,Payment/Credit,,200.00\n"
    )
    summary = _load(sessions, settings, data, "card.csv", taxonomy="issuer")
    assert summary.labels == 3
    from spendlens.storage.taxonomies import get_taxonomy  # noqa: PLC0415

    with sessions() as session:
        issuer = get_taxonomy(session, "default", "issuer")
        assert issuer is not None
        assert set(issuer.labels) == {"Dining", "Merchandise", "Payment/Credit"}


def test_tenants_load_the_same_file_independently(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    a = _load(sessions, settings, STATEMENT, "s.csv", tenant="alpha")
    b = _load(sessions, settings, STATEMENT, "s.csv", tenant="beta")
    assert (a.loaded, b.loaded) == (3, 3)
    with sessions() as session:
        assert repo.count_transactions(session, "alpha") == 3
        assert all(t.tenant_id == "beta" for t in repo.list_transactions(session, "beta"))


def test_rejected_excerpts_are_masked_before_they_are_stored(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    data = b"Date,Description,Amount\n2024-11-01,PAY 4111111111111111 mail@example.com,oops\n"
    summary = _load(sessions, settings, data, "bad.csv")
    with sessions() as session:
        (reject,) = session.scalars(select(IngestionReject)).all()
    assert summary.rejected == 1
    assert "4111111111111111" not in reject.excerpt
    assert "mail@example.com" not in reject.excerpt


def test_a_feed_account_given_as_a_full_iban_is_never_stored_as_the_account_name(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    item = {
        "id": "tx-9",
        "account": "DE89370400440532013000",
        "date": "2024-11-05",
        "amount": "-12.00",
        "currency": "EUR",
        "description": "REWE SAGT DANKE",
    }
    summary = _load(sessions, settings, json.dumps([item]).encode(), "feed.json")
    assert summary.loaded == 1
    from spendlens.storage.models import Account  # noqa: PLC0415

    with sessions() as session:
        names = [a.name for a in session.scalars(select(Account))]
    assert names
    assert not any("0532013000" in name or "DE89" in name for name in names)
