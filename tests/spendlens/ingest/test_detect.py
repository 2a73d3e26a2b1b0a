"""Behaviour of format detection: extension first, then content sniffing."""

from __future__ import annotations

import pytest

from spendlens.ingest.detect import detect_format
from spendlens.ingest.types import NotAStatementError, Source

CSV = b"Date,Description,Amount\n2024-11-05,COFFEE,-4.50\n2024-11-06,TEA,-3.00\n"
GERMAN_CSV = (
    "Konto;DE12 5001\n\nBuchungstag;Verwendungszweck;Betrag;Währung\n05.11.2024;REWE;-1,00;EUR\n"
).encode()
JSON = b'[{"id": "a", "amount": "-1.00"}]'
JSONL = b'{"id": "a"}\n{"id": "b"}\n'
SMS_LINES = (
    b"INR 25.00 debited from A/c XX1234 on 06-11-24 at AMAZON. Avl bal INR 10,000.00\n"
    b"Rs.500.00 credited to A/c XX1234 on 07-11-24 by NEFT. Avl bal Rs.10,500.00\n"
)
SMS_BLOCKS = (
    b"Dear Customer,\nYour card ending 1234 was used for USD 45.20 at WALMART.\nThanks\n\n"
    b"QK45DEF6GH Confirmed. You have received Ksh1,000.00 from JOHN DOE on 5/11/24.\n"
)
HEADERLESS_CSV = b"2024-11-05,COFFEE,-4.50,x\n2024-11-06,TEA,-3.00,y\n2024-11-07,BUN,-2.00,z\n"


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        pytest.param(b"whatever", "statement.csv", Source.CSV, id="csv-extension"),
        pytest.param(b"whatever", "EXPORT.CSV", Source.CSV, id="extension-case-insensitive"),
        pytest.param(b"whatever", "export.tsv", Source.CSV, id="tsv-extension"),
        pytest.param(b"whatever", "dir.v2/feed.json", Source.JSON, id="json-extension-in-path"),
        pytest.param(b"whatever", "feed.jsonl", Source.JSON, id="jsonl-extension"),
        pytest.param(b"whatever", "feed.ndjson", Source.JSON, id="ndjson-extension"),
    ],
)
def test_a_known_extension_decides_without_looking_at_the_content(
    data: bytes, filename: str, expected: Source
) -> None:
    assert detect_format(data, filename) is expected


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        pytest.param(CSV, "statement.txt", Source.CSV, id="csv-in-txt"),
        pytest.param(CSV, None, Source.CSV, id="csv-without-name"),
        pytest.param(GERMAN_CSV, "umsaetze.txt", Source.CSV, id="semicolon-csv-with-preamble"),
        pytest.param(CSV.replace(b",", b"\t"), "export.xls", Source.CSV, id="tsv-named-xls"),
        pytest.param(HEADERLESS_CSV, None, Source.CSV, id="headerless-csv"),
        pytest.param(JSON, None, Source.JSON, id="json-list"),
        pytest.param(b'  \n{"transactions": []}', "feed.txt", Source.JSON, id="json-object"),
        pytest.param(JSONL, "feed.txt", Source.JSON, id="json-lines"),
        pytest.param(SMS_LINES, "sms.txt", Source.SMS, id="sms-one-per-line"),
        pytest.param(SMS_BLOCKS, None, Source.SMS, id="sms-blank-line-blocks"),
    ],
)
def test_other_names_are_decided_by_content(
    data: bytes, filename: str | None, expected: Source
) -> None:
    assert detect_format(data, filename) is expected


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        pytest.param(b"", "notes.txt", "empty", id="empty"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "scan.png", "binary", id="png"),
        pytest.param(
            b"Meeting notes\nWe agreed to review the budget next week.\nAction: Ada.\n",
            "notes.txt",
            "could not tell what 'notes.txt' is",
            id="prose",
        ),
    ],
)
def test_unrecognisable_input_is_refused(data: bytes, filename: str, message: str) -> None:
    with pytest.raises(NotAStatementError, match=message):
        detect_format(data, filename)
