"""PII masking: what is masked, what survives, tails kept, idempotence and the card guarantee."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlens.normalize.pii import MaskResult, iban_valid, luhn_valid, mask_pii

# (text, masked text, card_tail, account_tail, kinds)
MASKED = [
    pytest.param(
        "PAID WITH 4111111111111111 AT SHOP",
        "PAID WITH <CARD> AT SHOP",
        "1111",
        None,
        ("CARD",),
        id="pan-contiguous",
    ),
    pytest.param(
        "card 4111 1111 1111 1111 used",
        "card <CARD> used",
        "1111",
        None,
        ("CARD",),
        id="pan-spaces",
    ),
    pytest.param(
        "5500-0000-0000-0004 declined",
        "<CARD> declined",
        "0004",
        None,
        ("CARD",),
        id="pan-dashes",
    ),
    pytest.param(
        "AMEX 3782 822463 10005", "AMEX <CARD>", "0005", None, ("CARD",), id="pan-amex-4-6-5"
    ),
    pytest.param(
        "12 4111-1111-1111-1111",
        "12 <CARD>",
        "1111",
        None,
        ("CARD",),
        id="pan-after-unrelated-number",
    ),
    pytest.param(
        "Your card XXXX XXXX XXXX 1234 was charged",
        "Your card <CARD> was charged",
        "1234",
        None,
        ("CARD",),
        id="masked-pan-grouped",
    ),
    pytest.param(
        "4111********1111 charged",
        "<CARD> charged",
        "1111",
        None,
        ("CARD",),
        id="masked-pan-bin-and-tail",
    ),
    pytest.param("************1234", "<CARD>", "1234", None, ("CARD",), id="masked-pan-stars"),
    pytest.param("XXXX1234 PURCHASE", "<CARD> PURCHASE", "1234", None, ("CARD",), id="xxxx-tail"),
    pytest.param(
        "Credit card no. XX5678 debited",
        "Credit card no. <CARD> debited",
        "5678",
        None,
        ("CARD",),
        id="card-context-short-mask",
    ),
    pytest.param(
        "Card ending 1234 used at STARBUCKS",
        "Card ending 1234 used at STARBUCKS",
        "1234",
        None,
        (),
        id="card-ending-keeps-digits",
    ),
    pytest.param(
        "IBAN DE89 3704 0044 0532 0130 00 paid",
        "IBAN <IBAN> paid",
        None,
        None,
        ("IBAN",),
        id="iban-spaced",
    ),
    pytest.param(
        "SEPA GB82WEST12345698765432 rent",
        "SEPA <IBAN> rent",
        None,
        None,
        ("IBAN",),
        id="iban-compact",
    ),
    pytest.param(
        "ES91 2100 0418 4502 0005 1332 PAGO",
        "<IBAN> PAGO",
        None,
        None,
        ("IBAN",),
        id="iban-does-not-swallow-next-word",
    ),
    pytest.param(
        "Your A/c XX1234 debited by Rs 500",
        "Your A/c <ACCT> debited by Rs 500",
        None,
        "1234",
        ("ACCT",),
        id="acct-a/c-xx",
    ),
    pytest.param(
        "a/c **1234 credited", "a/c <ACCT> credited", None, "1234", ("ACCT",), id="acct-stars"
    ),
    pytest.param(
        "account no 123456789 balance",
        "account no <ACCT> balance",
        None,
        "6789",
        ("ACCT",),
        id="acct-account-no",
    ),
    pytest.param(
        "acct ending 9876", "acct ending <ACCT>", None, "9876", ("ACCT",), id="acct-ending"
    ),
    pytest.param(
        "Acc: 12345678 1,234.56",
        "Acc: <ACCT> 1,234.56",
        None,
        "5678",
        ("ACCT",),
        id="acct-colon-keeps-amount",
    ),
    pytest.param(
        "ONLINE TRANSFER TO SAV XXXXXX1234 ON 11/05/24",
        "ONLINE TRANSFER TO SAV <ACCT> ON 11/05/24",
        None,
        "1234",
        ("ACCT",),
        id="acct-savings-masked",
    ),
    pytest.param(
        "refund to john.doe@example.com",
        "refund to <EMAIL>",
        None,
        None,
        ("EMAIL",),
        id="email",
    ),
    pytest.param("UPI john@okaxis paid", "UPI <VPA> paid", None, None, ("VPA",), id="vpa-name"),
    pytest.param("9876543210@ybl sent", "<VPA> sent", None, None, ("VPA",), id="vpa-mobile"),
    pytest.param("call 303-555-0123", "call <PHONE>", None, None, ("PHONE",), id="phone-us"),
    pytest.param(
        "ring +44 20 7946 0958 now",
        "ring <PHONE> now",
        None,
        None,
        ("PHONE",),
        id="phone-international-plus",
    ),
    pytest.param(
        "+33 6 12 34 56 78", "<PHONE>", None, None, ("PHONE",), id="phone-written-in-pairs"
    ),
    pytest.param(
        "sent to 9876543210 ok",
        "sent to <PHONE> ok",
        None,
        None,
        ("PHONE",),
        id="phone-indian-mobile",
    ),
    pytest.param(
        "M-PESA 0712345678 received",
        "M-PESA <PHONE> received",
        None,
        None,
        ("PHONE",),
        id="phone-kenyan-mobile",
    ),
    pytest.param(
        "UPI/412345678901/REF", "UPI/<REF>/REF", None, None, ("REF",), id="ref-long-digits"
    ),
    pytest.param(
        "SHELL OIL 83920175631", "SHELL OIL <REF>", None, None, ("REF",), id="ref-in-descriptor"
    ),
    pytest.param("1234 5678 9012 3456", "<REF>", None, None, ("REF",), id="ref-grouped-not-luhn"),
    pytest.param(
        "Rs 500 from A/c XX9999 to 9876543210@ybl card 4111111111111111",
        "Rs 500 from A/c <ACCT> to <VPA> card <CARD>",
        "1111",
        "9999",
        ("ACCT", "VPA", "CARD"),
        id="several-kinds-in-text-order",
    ),
]

SURVIVES = [
    pytest.param("KING SOOPERS #0412", id="store-number-hash"),
    pytest.param("CAFE RIO 0417 GREELEY", id="store-number-plain"),
    pytest.param("TARGET        00001352", id="eight-digit-store-id"),
    pytest.param("PETCO 2917    81726354", id="store-and-terminal-ids"),
    pytest.param("PAID 1,234.56 ON 05/11/2024 AT 12:30", id="amount-date-time"),
    pytest.param("2024-11-05 STORE 0050", id="iso-date"),
    pytest.param("2024-11-05 12345678", id="iso-date-then-number"),
    pytest.param("AMOUNT 1234567890.00", id="large-amount-with-decimals"),
    pytest.param("LYFT   1 RIDE 03-14", id="short-date"),
    pytest.param("GIFT CARD 2024", id="card-word-with-year"),
    pytest.param("AC HOTEL 1234 DENVER", id="ac-as-a-name"),
    pytest.param("CHK 1234 DEPOSIT", id="cheque-number"),
    pytest.param("call 555-1234", id="seven-digit-local-number"),
    pytest.param("STARBUCKS @ DENVER", id="at-sign-not-a-handle"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize(("text", "masked", "card_tail", "account_tail", "kinds"), MASKED)
def test_mask_pii_replaces_pii_with_typed_tokens(
    text: str, masked: str, card_tail: str | None, account_tail: str | None, kinds: tuple[str]
) -> None:
    assert mask_pii(text) == MaskResult(masked, card_tail, account_tail, kinds)


@pytest.mark.parametrize("text", SURVIVES)
def test_mask_pii_leaves_non_pii_untouched(text: str) -> None:
    assert mask_pii(text) == MaskResult(text, None, None, ())


@pytest.mark.parametrize(
    ("text", "region", "masked"),
    [
        pytest.param("tel 020 7946 0958", "GB", "tel <PHONE>", id="national-format-in-region"),
        pytest.param("tel 020 7946 0958", "US", "tel 020 7946 0958", id="foreign-national"),
        pytest.param("tel 303-555-0123", "ZZ", "tel 303-555-0123", id="unknown-region"),
        pytest.param("tel +1 303-555-0123", "ZZ", "tel <PHONE>", id="plus-in-any-region"),
    ],
)
def test_mask_pii_recognises_national_numbers_of_the_region(
    text: str, region: str, masked: str
) -> None:
    assert mask_pii(text, region=region).text == masked


@pytest.mark.parametrize("text", [pytest.param(p.values[0], id=p.id) for p in MASKED + SURVIVES])
def test_mask_pii_is_idempotent(text: str) -> None:
    once = mask_pii(text).text
    again = mask_pii(once)
    assert (again.text, again.kinds) == (once, ())


def test_store_ids_do_not_reach_the_phone_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    phonenumbers = pytest.importorskip("phonenumbers")

    def fail(*_: object, **__: object) -> None:
        raise AssertionError("PhoneNumberMatcher called")

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", fail)
    for text in ("KING SOOPERS #0412", "TARGET        00001352", "ARBY'S 7102386"):
        mask_pii(text)
    with pytest.raises(AssertionError, match="PhoneNumberMatcher"):
        mask_pii("call 303-555-0123")


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        pytest.param("4111111111111111", True, id="visa-test"),
        pytest.param("378282246310005", True, id="amex-test"),
        pytest.param("6011111111111117", True, id="discover-test"),
        pytest.param("4111111111111112", False, id="check-digit-off-by-one"),
        pytest.param("4111111111111121", False, id="swapped-digits"),
    ],
)
def test_luhn_valid(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        pytest.param("DE89 3704 0044 0532 0130 00", True, id="de-spaced"),
        pytest.param("GB82WEST12345698765432", True, id="gb-compact"),
        pytest.param("DE89 3704 0044 0532 0130 01", False, id="bad-checksum"),
        pytest.param("DE89 3704", False, id="too-short"),
    ],
)
def test_iban_valid(candidate: str, valid: bool) -> None:
    assert iban_valid(candidate) is valid


# --- properties ------------------------------------------------------------------------------


def _reference_luhn_ok(digits: str) -> bool:
    # Independent of the implementation under test: double every second digit from the right.
    checksum = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        checksum += n // 10 + n % 10
    return checksum % 10 == 0


@st.composite
def formatted_pans(draw: st.DrawFn) -> str:
    """A Luhn-valid 13-19 digit PAN, contiguous or in groups of four (space or dash)."""
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    pan = next(body + d for d in "0123456789" if _reference_luhn_ok(body + d))
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4)) if sep else pan


# Printable ASCII, digits included: neighbours may be numbers glued to the card number.
_SURROUNDING = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")


def _luhn_runs(text: str) -> list[str]:
    """Every 13-19 digit Luhn-valid window of the digit runs in `text`."""
    found = []
    for run in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", run.group())
        for size in range(13, 20):
            for start in range(len(digits) - size + 1):
                window = digits[start : start + size]
                if _reference_luhn_ok(window):
                    found.append(window)
    return found


@settings(max_examples=300, deadline=None)
@given(before=_SURROUNDING, pan=formatted_pans(), after=_SURROUNDING)
def test_no_luhn_valid_card_number_survives_masking(before: str, pan: str, after: str) -> None:
    result = mask_pii(f"{before} {pan} {after}")
    assert _luhn_runs(result.text) == []
    assert result.kinds


# Words and punctuation that cannot form another PII context (no "A/C", "XXXX", "+", "@").
_PLAIN_WORDS = st.text(alphabet="BCDEFGHIJKLMNOPQRSTUVWYZ .,;:!?()", max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=_PLAIN_WORDS, pan=formatted_pans(), after=_PLAIN_WORDS)
def test_card_number_in_plain_text_is_masked_as_card(before: str, pan: str, after: str) -> None:
    result = mask_pii(f"{before} {pan} {after}")
    tail = re.sub(r"\D", "", pan)[-4:]
    assert result == MaskResult(f"{before} <CARD> {after}", tail, None, ("CARD",))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_masking_masked_text_changes_nothing(text: str) -> None:
    once = mask_pii(text).text
    assert mask_pii(once).text == once
